"""Open sinkzone outputs in a real QGIS (PyQGIS, headless) and report what QGIS sees, as JSON.

Run with the system Python that has Debian's python3-qgis (our venv cannot import qgis):
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_check.py SPEC.json REPORT.json
SPEC lists output folders, the PNG to render for each and the zone colours to sample. The checks
on the report (valid layers, counts, stored styles, pixel colours) live in tests/test_qgis.py.
"""

import json
import os
import sys
from collections import Counter

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    Qgis,
    QgsApplication,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

STYLE_PROPERTY = "sinkzone/style"


def describe_vector(layer):
    renderer = layer.renderer()
    return {
        "valid": layer.isValid(),
        "features": layer.featureCount(),
        "style": layer.customProperty(STYLE_PROPERTY),
        "renderer": renderer.type() if renderer else None,
        "aliases": {f.name(): layer.attributeAlias(i) for i, f in enumerate(layer.fields())},
        "crs_valid": layer.crs().isValid() if layer.isSpatial() else None,
        "crs_wkt": layer.crs().toWkt() if layer.isSpatial() else None,
    }


def standalone_layers(gpkg, names):
    """Each layer opened alone, as a user dragging it from the browser would: QGIS loads its default style."""
    return {name: describe_vector(QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")) for name in names}


def project_layers(project):
    out = {}
    for layer_id, layer in project.mapLayers().items():
        info = {"name": layer.name(), "valid": layer.isValid(), "type": int(layer.type()),
                "source": layer.source()}
        if isinstance(layer, QgsVectorLayer):
            info.update(describe_vector(layer))
        else:
            renderer = layer.renderer()
            info["renderer"] = renderer.type() if renderer else None
            info["style"] = layer.customProperty(STYLE_PROPERTY)
        out[layer_id] = info
    return out


def render(project, zones, png, width=1200):
    root = project.layerTreeRoot()
    checked = set(root.checkedLayers())
    layers = [layer for layer in root.layerOrder() if layer in checked]
    extent = QgsRectangle(zones.extent())
    extent.scale(1.08)
    height = max(200, int(width * extent.height() / max(extent.width(), 1e-12)))
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(project.crs())
    settings.setOutputSize(QSize(width, height))
    settings.setExtent(extent)
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(png, "PNG")
    return settings, image, [layer.id() for layer in layers]


def sample_zone_colours(zones, settings, image, id_field, per_zone=400):
    """The most common pixel colour at a grid of points inside each zone (labels cover only a few)."""
    to_pixel = settings.mapToPixel()
    result = {}
    for feature in zones.getFeatures():
        geom = feature.geometry()
        box = geom.boundingBox()
        side = int(per_zone ** 0.5)
        counts = Counter()
        for i in range(side):
            for j in range(side):
                x = box.xMinimum() + (i + 0.5) * box.width() / side
                y = box.yMinimum() + (j + 0.5) * box.height() / side
                if not geom.contains(QgsPointXY(x, y)):
                    continue
                pixel = to_pixel.transform(x, y)
                px, py = int(pixel.x()), int(pixel.y())
                if 0 <= px < image.width() and 0 <= py < image.height():
                    colour = image.pixelColor(px, py)
                    counts[colour.name()] += 1
        total = sum(counts.values())
        modal, hits = counts.most_common(1)[0] if counts else (None, 0)
        result[str(feature[id_field])] = {"colour": modal, "share": hits / total if total else 0.0,
                                          "samples": total}
    return result


def check_folder(item):
    folder = item["folder"]
    report = {"folder": folder, "standalone": standalone_layers(os.path.join(folder, "sinkzones.gpkg"),
                                                                item["layers"])}
    project = QgsProject.instance()
    project.clear()
    report["project_read"] = bool(project.read(os.path.join(folder, "sinkzones.qgz")))
    report["project_layers"] = project_layers(project)
    report["groups"] = [g.name() for g in project.layerTreeRoot().findGroups()]
    zones = project.mapLayer("sinkzone_zones")
    if zones is not None and zones.isValid() and item.get("png"):
        settings, image, shown = render(project, zones, item["png"])
        report["rendered"] = {"png": item["png"], "layers": shown, "width": image.width(),
                              "height": image.height()}
        report["zone_colours"] = sample_zone_colours(zones, settings, image, "zone_id")
    project.clear()
    return report


def main():
    spec_path, report_path = sys.argv[1], sys.argv[2]
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        reports = {"qgis_version": Qgis.QGIS_VERSION, "folders": [check_folder(item) for item in spec]}
        with open(report_path, "w", encoding="utf-8") as fh:
            json.dump(reports, fh, ensure_ascii=False, indent=2)
    finally:
        app.exitQgis()


if __name__ == "__main__":
    main()
