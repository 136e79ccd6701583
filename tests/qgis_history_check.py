"""Open the history store's current_zones in a real QGIS (PyQGIS, headless), from a GeoPackage or from PostGIS, as
a user adding the layer would: QGIS loads the default style from layer_styles. Prints what QGIS sees as JSON.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_history_check.py URI PROVIDER
"""

import json
import sys

from qgis.core import QgsApplication, QgsVectorLayer
from qgis_check import describe_vector


def seen(uri, provider):
    """The layer lives only in here: QGIS crashes when a layer outlives exitQgis."""
    layer = QgsVectorLayer(uri, "current_zones", provider)
    return {**describe_vector(layer), "geometry_type": int(layer.geometryType()) if layer.isValid() else None}


def main():
    app = QgsApplication([], False)
    app.initQgis()
    try:
        print(json.dumps(seen(sys.argv[1], sys.argv[2]), ensure_ascii=False))
    finally:
        app.exitQgis()


if __name__ == "__main__":
    main()
