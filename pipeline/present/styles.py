"""Default QGIS styles (QML) for the output layers: pure functions from a layer's fields to XML text.

Styles are chosen from the fields a layer has, so layers added by later stages (sink types, carbon,
plan progress, afforestation candidates) get their style as soon as their fields exist. Every style
carries the custom property `sinkzone/style` naming the style, so a check can tell our stored style
from the default QGIS invents for an unstyled layer.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from pipeline.core.classmaps import LABELS, ROLES, ClassMap, label
from pipeline.core.names import CANDIDATES, ZONES
from pipeline.present.labels import class_text, field_alias
from pipeline.present.palette import GREENS, PROGRESS, class_colour, class_colours, palette_entries

QGIS_VERSION = "3.22.16-Białowieża"
STYLE_PROPERTY = "sinkzone/style"

def class_columns(fields: Sequence[str], class_map: ClassMap) -> list[str]:
    """The map's classes that have an `<class>_ha` column, in field order (nodata left out)."""
    return [f[:-3] for f in fields if f.endswith("_ha") and f[:-3] in class_map.classes]


def field_ref(name: str) -> str:
    """A field in a QGIS expression, whatever characters its name holds."""
    return '"' + name.replace('"', '""') + '"'


def text_literal(text: str) -> str:
    """Text as a QGIS expression string literal."""
    return "'" + text.replace("'", "''") + "'"


def rgba(colour: str, *, alpha: int = 255) -> str:
    """'#rrggbb' as QGIS's 'r,g,b,a'."""
    value = colour.lstrip("#")
    return ",".join(str(int(value[i:i + 2], 16)) for i in (0, 2, 4)) + f",{alpha}"


# ---- XML building blocks -----------------------------------------------------------------------


def _options(parent: ET.Element, values: Mapping[str, str]) -> ET.Element:
    option = ET.SubElement(parent, "Option", type="Map")
    for key, value in values.items():
        ET.SubElement(option, "Option", name=key, type="QString", value=value)
    return option


def fill_symbol(colour: str, *, name: str, outline: str = "#232323", alpha: int = 255,
                outline_mm: float = 0.4) -> ET.Element:
    """A simple fill symbol element with the given colour (alpha 0-255) and outline."""
    symbol = ET.Element("symbol", type="fill", name=name, alpha="1", clip_to_extent="1", force_rhr="0")
    layer = ET.SubElement(symbol, "layer", attrib={"class": "SimpleFill", "enabled": "1", "locked": "0",
                                                   "pass": "0"})
    _options(layer, {"color": rgba(colour, alpha=alpha), "outline_color": rgba(outline),
                     "outline_style": "solid", "outline_width": str(outline_mm), "outline_width_unit": "MM",
                     "style": "solid", "joinstyle": "bevel"})
    return symbol


def _symbols(renderer: ET.Element, symbols: Sequence[ET.Element]) -> None:
    holder = ET.SubElement(renderer, "symbols")
    holder.extend(symbols)


def categorized_renderer(expression: str, categories: Sequence[tuple[str, str, str]]) -> ET.Element:
    """Categorized renderer on a field or expression; categories are (value, label, colour)."""
    renderer = ET.Element("renderer-v2", type="categorizedSymbol", attr=expression, forceraster="0",
                          symbollevels="0", enableorderby="0", referencescale="-1")
    cats = ET.SubElement(renderer, "categories")
    for i, (value, text, _) in enumerate(categories):
        ET.SubElement(cats, "category", render="true", symbol=str(i), value=value, label=text, type="string")
    _symbols(renderer, [fill_symbol(colour, name=str(i)) for i, (_, _, colour) in enumerate(categories)])
    return renderer


def graduated_renderer(expression: str, breaks: Sequence[float], colours: Sequence[str], *,
                       unit: str) -> ET.Element:
    """Graduated colour renderer: len(breaks) - 1 ranges coloured in order."""
    renderer = ET.Element("renderer-v2", type="graduatedSymbol", attr=expression, graduatedMethod="GraduatedColor",
                          forceraster="0", symbollevels="0", enableorderby="0", referencescale="-1")
    ranges = ET.SubElement(renderer, "ranges")
    for i, (low, high) in enumerate(zip(breaks[:-1], breaks[1:], strict=True)):
        ET.SubElement(ranges, "range", render="true", symbol=str(i), lower=f"{low:.6g}", upper=f"{high:.6g}",
                      label=f"{low:.4g} – {high:.4g} {unit}".strip())
    _symbols(renderer, [fill_symbol(colours[i], name=str(i)) for i in range(len(breaks) - 1)])
    ET.SubElement(renderer, "mode", name="equal")
    return renderer


def single_renderer(colour: str, *, alpha: int = 255, outline: str = "#232323") -> ET.Element:
    renderer = ET.Element("renderer-v2", type="singleSymbol", forceraster="0", symbollevels="0",
                          enableorderby="0", referencescale="-1")
    _symbols(renderer, [fill_symbol(colour, name="0", alpha=alpha, outline=outline)])
    return renderer


def label_settings(expression: str) -> ET.Element:
    """Simple labels from an expression, dark text with a white buffer, one label per feature."""
    labeling = ET.Element("labeling", type="simple")
    settings = ET.SubElement(labeling, "settings", calloutType="simple")
    style = ET.SubElement(settings, "text-style", fieldName=expression, isExpression="1", fontSize="9",
                          fontSizeUnit="Point", fontFamily="WenQuanYi Micro Hei", fontWeight="50",
                          textColor="30,30,30,255", textOpacity="1", namedStyle="Regular")
    ET.SubElement(style, "text-buffer", bufferDraw="1", bufferSize="1", bufferSizeUnits="MM",
                  bufferColor="255,255,255,255", bufferOpacity="1", bufferJoinStyle="128")
    ET.SubElement(settings, "placement", placement="1", placementFlags="10", centroidInside="1",
                  centroidWhole="0", fitInPolygonOnly="0")
    ET.SubElement(settings, "rendering", obstacle="1", drawLabels="1", labelPerPart="0", mergeLines="0",
                  displayAll="0", limitNumLabels="0", scaleVisibility="0")
    return labeling


def aliases_element(fields: Sequence[str], classes: Collection[str] = LABELS, *,
                    layer: str | None = None) -> ET.Element:
    aliases = ET.Element("aliases")
    for index, field in enumerate(fields):
        ET.SubElement(aliases, "alias", field=field, index=str(index),
                      name=field_alias(field, classes, layer=layer) or "")
    return aliases


def _custom_properties(style_name: str) -> ET.Element:
    props = ET.Element("customproperties")
    _options(props, {STYLE_PROPERTY: style_name})
    return props


def qml_document(style_name: str, body: Sequence[ET.Element], *, labels: bool = False) -> ET.Element:
    """The <qgis> root of a QML style, holding the given renderer/labeling/aliases elements."""
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="AllStyleCategories",
                      labelsEnabled="1" if labels else "0", hasScaleBasedVisibilityFlag="0")
    root.extend(body)
    root.append(_custom_properties(style_name))
    return root


def to_qml(root: ET.Element) -> str:
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode")


# ---- choosing a style from the fields ------------------------------------------------------------


@dataclass(frozen=True)
class LayerStyle:
    """One style for one layer: the name recorded in `sinkzone/style` and the QML document."""

    name: str
    title: str
    root: ET.Element
    colours: Mapping[str, str]

    @property
    def qml(self) -> str:
        return to_qml(self.root)


def name_expression(fields: Sequence[str], *, name_field: str | None = None) -> str | None:
    """Label expression: the zones' name field (`zones.name_field`), else the first name-like field the layer has."""
    for field in (name_field, "name_zh", "name", "name_en", "zone_id"):
        if field is not None and field in fields:
            return field_ref(field)
    return None


def dominant_class_expression(classes: Sequence[str]) -> str:
    """QGIS expression naming the class with the largest area in a feature (ties: first listed)."""
    names = ",".join(text_literal(c) for c in classes)
    values = ",".join(f"coalesce({field_ref(c + '_ha')}, 0)" for c in classes)
    return f"array_get(array({names}), array_find(array({values}), array_max(array({values}))))"


def equal_breaks(values: pd.Series, *, classes: int = 5) -> list[float]:
    """Equal-interval breaks over the finite values, rounded outward; one range when all are equal."""
    finite = pd.to_numeric(values, errors="coerce").replace([math.inf, -math.inf], math.nan).dropna()
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if high <= low:
        return [low, low + 1.0]
    step = (high - low) / classes
    return [low + i * step for i in range(classes)] + [high]


@dataclass(frozen=True)
class ZoneLegend:
    """What the zone styles need beyond the layer's fields: the class map and the zones' name field."""

    class_map: ClassMap
    name_field: str | None = None


def _categorized_zone_style(frame: pd.DataFrame, fields: Sequence[str],
                            class_map: ClassMap) -> tuple[ET.Element, dict[str, str], str]:
    if "sink_type" in fields:
        values = sorted(str(v) for v in frame["sink_type"].dropna().unique())
        # a forest sink zone in the forest colour, a wetland one in the wetland colour, and so on
        colours = {v: class_colour(v, i) for i, v in enumerate(values)}
        cats = [(v, f"{label(v)[0]}碳汇片区 / {label(v)[1]} sink zone", colours[v]) for v in values]
        return categorized_renderer('"sink_type"', cats), colours, "zones-sink-type"
    classes = class_columns(fields, class_map)
    palette = class_colours(class_map)
    colours = {c: palette[c] for c in classes}
    cats = [(c, class_text(c), colours[c]) for c in classes]
    return categorized_renderer(dominant_class_expression(classes), cats), colours, "zones-dominant-class"


def zone_style(frame: pd.DataFrame, legend: ZoneLegend) -> LayerStyle:
    """Default zone style: categorized by sink type, else by the dominant land class; name labels."""
    fields = _fields(frame)
    renderer, colours, name = _categorized_zone_style(frame, fields, legend.class_map)
    body = [renderer, *_labels(fields, legend), aliases_element(fields, legend.class_map.class_names, layer=ZONES)]
    title = ("分区：碳汇类型 / Zones: sink type" if name == "zones-sink-type"
             else "分区：主要地类 / Zones: main land class")
    return LayerStyle(name=name, title=title, root=qml_document(name, body, labels=True), colours=colours)


def _labels(fields: Sequence[str], legend: ZoneLegend) -> list[ET.Element]:
    expression = name_expression(fields, name_field=legend.name_field)
    return [] if expression is None else [label_settings(expression)]


def _fields(frame: pd.DataFrame) -> list[str]:
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    return [str(c) for c in frame.columns if c != geometry]


def _graduated_views(frame: pd.DataFrame, fields: Sequence[str],
                     class_map: ClassMap) -> list[tuple[str, str, str, tuple[str, ...], pd.Series]]:
    """(style name, title, QGIS expression, ramp, the values that expression gives) for each quantity present."""
    area = pd.to_numeric(frame["area_ha"], errors="coerce").where(lambda a: a != 0) if "area_ha" in fields else None
    views: list[tuple[str, str, str, tuple[str, ...], pd.Series]] = []
    if "co2e_t" in fields and area is not None:
        density = pd.to_numeric(frame["co2e_t"], errors="coerce") / area
        views.append(("zones-carbon-density", "碳密度 (t CO2e/ha) / Carbon density (t CO2e/ha)",
                      '"co2e_t" / nullif("area_ha", 0)', GREENS, density))
    if "progress_pct" in fields:
        views.append(("zones-progress", "目标完成度 (%) / Progress to target (%)", '"progress_pct"', PROGRESS,
                      pd.to_numeric(frame["progress_pct"], errors="coerce").fillna(0)))
    forest = [f"{c}_ha" for c in class_map.with_roles(["forest"]) if f"{c}_ha" in fields]
    if forest and area is not None:
        total = " + ".join(f"coalesce({field_ref(f)}, 0)" for f in forest)
        values = frame[forest].apply(pd.to_numeric, errors="coerce").fillna(0).sum(axis=1)
        views.append(("zones-forest-share", "森林占比 (%) / Forest share (%)",
                      f'100 * ({total}) / nullif("area_ha", 0)', GREENS, 100.0 * values / area))
    return views


def graduated_zone_styles(frame: pd.DataFrame, legend: ZoneLegend) -> list[LayerStyle]:
    """Graduated views of the zones, one per quantity the layer carries (carbon, progress, forest)."""
    fields = _fields(frame)
    styles = []
    for name, title, expression, ramp, values in _graduated_views(frame, fields, legend.class_map):
        breaks = [0.0, 25.0, 50.0, 75.0, 100.0, max(100.0, float(values.max()) + 1)] if name == "zones-progress" \
            else equal_breaks(values)
        unit = title.rsplit("(", 1)[-1].rstrip(")")
        ramp_used = ramp if len(breaks) - 1 <= len(ramp) else ramp[-1:] * (len(breaks) - 1)
        renderer = graduated_renderer(expression, breaks, ramp_used, unit=unit)
        body = [renderer, *_labels(fields, legend),
                aliases_element(fields, legend.class_map.class_names, layer=ZONES)]
        styles.append(LayerStyle(name=name, title=title, root=qml_document(name, body, labels=True),
                                 colours={str(i): c for i, c in enumerate(ramp_used)}))
    return styles


def candidate_style(frame: pd.DataFrame) -> LayerStyle:
    """Afforestation candidate land: by land class when the layer has one, else one hatched green."""
    fields = _fields(frame)
    if "land_class" in fields:
        values = [str(v) for v in frame["land_class"].dropna().unique()]
        colours = {v: class_colour(v, i) for i, v in enumerate(values)}
        renderer = categorized_renderer('"land_class"', [(v, " / ".join(label(v)), colours[v]) for v in values])
    else:
        colours = {"candidate": "#b2df8a"}
        renderer = single_renderer("#b2df8a", outline="#33a02c")
    body = [renderer, aliases_element(fields)]
    return LayerStyle(name="afforestation-candidates", title="造林候选地 / Afforestation candidates",
                      root=qml_document("afforestation-candidates", body), colours=colours)


def generic_style(frame: pd.DataFrame, *, layer: str, geometry: bool) -> LayerStyle:
    """Any other layer: aliases, and a neutral outline for geometry layers."""
    fields = _fields(frame)
    body = [single_renderer("#cccccc", alpha=90, outline="#555555")] if geometry else []
    body.append(aliases_element(fields, layer=layer))
    name = f"{layer}-default"
    return LayerStyle(name=name, title=layer, root=qml_document(name, body), colours={"fill": "#cccccc"})


def default_style(layer: str, frame: pd.DataFrame, *, geometry: bool, legend: ZoneLegend) -> LayerStyle:
    """The one default style stored in the GeoPackage for a layer."""
    if layer == ZONES and geometry:
        return zone_style(frame, legend)
    if layer == CANDIDATES and geometry:
        return candidate_style(frame)
    return generic_style(frame, layer=layer, geometry=geometry)


# ---- land-cover rasters --------------------------------------------------------------------------


def raster_style(class_map: ClassMap) -> LayerStyle:
    """Paletted renderer for a land-cover raster in its product's colours."""
    pipe = ET.Element("pipe")
    renderer = ET.SubElement(pipe, "rasterrenderer", type="paletted", band="1", opacity="1", alphaBand="-1",
                             nodataColor="")
    ET.SubElement(renderer, "rasterTransparency")
    palette = ET.SubElement(renderer, "colorPalette")
    entries = palette_entries(class_map)
    for code, colour, text in entries:
        ET.SubElement(palette, "paletteEntry", value=str(code), color=colour, alpha="255", label=text)
    name = f"landcover-{class_map.name}"
    return LayerStyle(name=name, title=f"土地覆盖 / Land cover ({class_map.name})", root=qml_document(name, [pipe]),
                      colours={str(code): colour for code, colour, _ in entries})


def current_zones_style() -> LayerStyle:
    """The history store's current_zones: each zone in the colour of its largest land-cover role, labelled by id.

    Fixed when the store is made (the classes a store will hold are not known then), so it uses the roles, which
    every class map's `<class>_ha` columns of current_zones are named after."""
    roles = list(ROLES)
    cats = [(r, class_text(r), class_colour(r, i)) for i, r in enumerate(roles)]
    body = [categorized_renderer(dominant_class_expression(roles), cats), label_settings(field_ref("zone_id"))]
    name = "current-zones-dominant-role"
    return LayerStyle(name=name, title="当前片区：主要地类 / Current zones: main land class",
                      root=qml_document(name, body, labels=True), colours={r: c for r, _, c in cats})
