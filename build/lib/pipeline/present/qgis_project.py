"""The QGIS package of an output folder: default styles for the GeoPackage and a project (.qgs XML).

Pure: builds the style rows and the project text from the layers about to be written; pipeline.files
writes them. The project refers to the GeoPackage as `./sinkzones.gpkg`, relative to itself, so the
output folder can be copied anywhere and opened.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyproj

from pipeline.core.classmaps import ClassMap
from pipeline.core.grid import padded_bounds
from pipeline.core.names import CANDIDATES, GEOMETRY_COLUMN, GPKG_NAME, ZONES
from pipeline.present import styles

_GROUPS = {"zones": "分区 / Zones", "candidates": "候选地 / Candidates", "tables": "统计表 / Tables",
           "landcover": "土地覆盖 / Land cover", "other": "其他 / Other layers"}


@dataclass(frozen=True)
class StyleRow:
    """One row of the GeoPackage's layer_styles table."""

    table: str
    geometry_column: str
    style: styles.LayerStyle


@dataclass(frozen=True)
class ProjectLayer:
    """A layer of the project: where it reads from, its style, its group, whether it is shown."""

    layer_id: str
    title: str
    source: str
    provider: str
    kind: str  # "vector" or "raster"
    geometry: str | None
    crs: pyproj.CRS | None
    style: styles.LayerStyle | None
    group: str
    visible: bool


@dataclass(frozen=True)
class QgisPackage:
    style_rows: tuple[StyleRow, ...]
    project_xml: str


def style_frame(rows: Sequence[StyleRow]) -> pd.DataFrame:
    """layer_styles rows with the columns QGIS itself creates (QgsOgrProviderMetadata::saveStyle)."""
    now = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame({
        "f_table_catalog": "", "f_table_schema": "",
        "f_table_name": [r.table for r in rows], "f_geometry_column": [r.geometry_column for r in rows],
        "styleName": [r.style.name for r in rows], "styleQML": [r.style.qml for r in rows], "styleSLD": "",
        "useAsDefault": True, "description": [r.style.title for r in rows], "owner": "", "ui": "",
        "update_time": now,
    })


def _is_spatial(frame: pd.DataFrame) -> bool:
    return isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame and len(frame.geometry) > 0


def style_rows(layers: Mapping[str, pd.DataFrame], legend: styles.ZoneLegend) -> list[StyleRow]:
    """One default style per layer; tables (no geometry) get theirs with an empty geometry column."""
    rows = []
    for name, frame in layers.items():
        spatial = _is_spatial(frame)
        style = styles.default_style(name, frame, geometry=spatial, legend=legend)
        rows.append(StyleRow(table=name, geometry_column=GEOMETRY_COLUMN if spatial else "", style=style))
    return rows


def _geometry_kind(frame: gpd.GeoDataFrame) -> str:
    kinds = {str(t) for t in frame.geom_type.dropna().unique()}
    if kinds <= {"Point", "MultiPoint"}:
        return "Point"
    if kinds <= {"LineString", "MultiLineString"}:
        return "Line"
    return "Polygon"


def _vector_layer(name: str, frame: pd.DataFrame, style: styles.LayerStyle, *, title: str, group: str,
                  visible: bool, suffix: str = "") -> ProjectLayer:
    spatial = _is_spatial(frame)
    assert not spatial or isinstance(frame, gpd.GeoDataFrame)
    return ProjectLayer(
        layer_id=layer_id(name, suffix), title=title, source=f"./{GPKG_NAME}|layername={name}", provider="ogr",
        kind="vector", geometry=_geometry_kind(frame) if spatial else None,
        crs=pyproj.CRS(frame.crs) if spatial and frame.crs is not None else None,
        style=style, group=group, visible=visible)


def layer_id(name: str, suffix: str = "") -> str:
    """Project layer id; QGIS replaces ids of 10 characters or fewer with random ones."""
    return f"sinkzone_{name}{suffix}"


def _layer_group(name: str, spatial: bool) -> str:
    if name == ZONES:
        return "zones"
    if name == CANDIDATES:
        return "candidates"
    return "other" if spatial else "tables"


def project_layers(layers: Mapping[str, pd.DataFrame], rows: Sequence[StyleRow], *, landcover: Path | None,
                   legend: styles.ZoneLegend, out_dir: Path, crs: pyproj.CRS | None) -> list[ProjectLayer]:
    """Every output layer with its default style, the zones' graduated views, and the land cover."""
    result = []
    for row in rows:
        frame = layers[row.table]
        spatial = bool(row.geometry_column)
        title = row.style.title if row.table in (ZONES, CANDIDATES) else row.table
        result.append(_vector_layer(row.table, frame, row.style, title=title, group=_layer_group(row.table, spatial),
                                    visible=spatial))
        if row.table == ZONES and spatial:
            result.extend(_vector_layer(ZONES, frame, view, title=view.title, group="zones", visible=False,
                                        suffix=f"_{view.name}") for view in styles.graduated_zone_styles(frame, legend))
    if landcover is not None:
        raster = styles.raster_style(legend.class_map)
        result.append(ProjectLayer(layer_id=layer_id("landcover"), title=raster.title,
                                   source=relative_source(landcover, out_dir), provider="gdal", kind="raster",
                                   geometry=None, crs=crs, style=raster,
                                   group="landcover", visible=False))
    return result


def relative_source(path: Path, out_dir: Path) -> str:
    """A path as QGIS stores relative paths ('./x' or '../x'); absolute when no relative path exists."""
    try:
        rel = os.path.relpath(path.resolve(), out_dir.resolve())
    except ValueError:  # another drive on Windows
        return str(path.resolve())
    return rel if rel.startswith("..") else f"./{rel}"


# ---- XML ------------------------------------------------------------------------------------------


def spatialrefsys(crs: pyproj.CRS) -> ET.Element:
    """QGIS's CRS element: full WKT (QGIS reads it first), plus the authority id where there is one."""
    srs = ET.Element("spatialrefsys", nativeFormat="Wkt")
    ET.SubElement(srs, "wkt").text = crs.to_wkt()
    authority = crs.to_authority()
    ET.SubElement(srs, "authid").text = f"{authority[0]}:{authority[1]}" if authority else ""
    ET.SubElement(srs, "description").text = crs.name
    ET.SubElement(srs, "geographicflag").text = "true" if crs.is_geographic else "false"
    return srs


def _extent(parent: ET.Element, tag: str, bounds: Sequence[float]) -> None:
    extent = ET.SubElement(parent, tag)
    for key, value in zip(("xmin", "ymin", "xmax", "ymax"), bounds, strict=True):
        ET.SubElement(extent, key).text = repr(float(value))


def map_layer(layer: ProjectLayer) -> ET.Element:
    """<maplayer> of the project: source, CRS, provider and the style's renderer/labels/aliases."""
    attrs = {"type": layer.kind, "styleCategories": "AllStyleCategories"}
    if layer.geometry:
        attrs["geometry"] = layer.geometry
    element = ET.Element("maplayer", attrs)
    ET.SubElement(element, "id").text = layer.layer_id
    ET.SubElement(element, "datasource").text = layer.source
    ET.SubElement(element, "layername").text = layer.title
    if layer.crs is not None:
        ET.SubElement(element, "srs").append(spatialrefsys(layer.crs))
    ET.SubElement(element, "provider", encoding="UTF-8").text = layer.provider
    if layer.style is not None:
        element.extend(list(layer.style.root))
        if layer.style.root.get("labelsEnabled") == "1":
            element.set("labelsEnabled", "1")
    return element


def _tree(layers: Sequence[ProjectLayer]) -> ET.Element:
    root = ET.Element("layer-tree-group")
    ET.SubElement(root, "customproperties")
    for key, group_title in _GROUPS.items():
        members = [layer for layer in layers if layer.group == key]
        if not members:
            continue
        shown = any(m.visible for m in members)
        group = ET.SubElement(root, "layer-tree-group", name=group_title, expanded="1",
                              checked="Qt::Checked" if shown else "Qt::Unchecked")
        ET.SubElement(group, "customproperties")
        for m in members:
            node = ET.SubElement(group, "layer-tree-layer", id=m.layer_id, name=m.title, source=m.source,
                                 providerKey=m.provider, expanded="0",
                                 checked="Qt::Checked" if m.visible else "Qt::Unchecked")
            ET.SubElement(node, "customproperties")
    return root


def project_xml(layers: Sequence[ProjectLayer], *, title: str, crs: pyproj.CRS | None,
                bounds: tuple[float, float, float, float] | None) -> str:
    """The .qgs document: layer tree in groups, the layers with their styles, relative paths."""
    root = ET.Element("qgis", projectname=title, version=styles.QGIS_VERSION)
    ET.SubElement(root, "homePath", path="")
    ET.SubElement(root, "title").text = title
    if crs is not None:
        ET.SubElement(root, "projectCrs").append(spatialrefsys(crs))
    root.append(_tree(layers))
    holder = ET.SubElement(root, "projectlayers")
    holder.extend(map_layer(layer) for layer in layers)
    order = ET.SubElement(root, "layerorder")
    for layer in layers:
        ET.SubElement(order, "layer", id=layer.layer_id)
    props = ET.SubElement(root, "properties")
    ET.SubElement(ET.SubElement(props, "Paths"), "Absolute", type="bool").text = "false"
    canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    if crs is not None and bounds is not None:
        ET.SubElement(canvas, "units").text = "degrees" if crs.is_geographic else "meters"
        _extent(canvas, "extent", padded_bounds(bounds, margin=0.05))
        ET.SubElement(canvas, "destinationsrs").append(spatialrefsys(crs))
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode")


def build_package(layers: Mapping[str, pd.DataFrame], *, title: str, class_map: ClassMap, out_dir: Path,
                  landcover: Path | None = None, landcover_crs: pyproj.CRS | None = None,
                  name_field: str | None = None) -> QgisPackage:
    """Styles for the GeoPackage and the project text for the layers about to be written; the zones are
    labelled with `name_field` when given."""
    legend = styles.ZoneLegend(class_map=class_map, name_field=name_field)
    rows = style_rows(layers, legend)
    zones = layers.get(ZONES)
    crs = pyproj.CRS(zones.crs) if isinstance(zones, gpd.GeoDataFrame) and zones.crs is not None else landcover_crs
    bounds = None
    if isinstance(zones, gpd.GeoDataFrame) and len(zones):
        xmin, ymin, xmax, ymax = (float(v) for v in zones.total_bounds)
        bounds = (xmin, ymin, xmax, ymax)
    members = project_layers(layers, rows, landcover=landcover, legend=legend, out_dir=out_dir,
                             crs=landcover_crs)
    return QgisPackage(style_rows=tuple(rows), project_xml=project_xml(members, title=title, crs=crs, bounds=bounds))
