"""Names of everything a run writes, in one place: files, GeoPackage layers and tables."""

from __future__ import annotations

GPKG_NAME = "sinkzones.gpkg"
PROJECT_NAME = "sinkzones.qgz"
WORKBOOK_NAME = "tables.xlsx"
RUN_RECORD = "run.json"
RUN_LOG = "run.log.jsonl"
REPORT_DIR = "report"
# per-epoch partial results of the last run, so a run whose config gained an epoch computes only that one
CACHE_DIR = "cache"
# the mosaic of a tile pattern, linked by the QGIS project (GDAL cannot open a glob)
LANDCOVER_VRT = "landcover_{year}.vrt"
# written with every output: a folder holding it is sinkzone's to replace; any other non-empty folder is not
OUTPUT_MARKER = ".sinkzone-output"
# every file sinkzone wrote into a folder, with its size and time: anything else there (or changed since) is a user's
MANIFEST = ".sinkzone-files.json"
STYLE_TABLE = "layer_styles"
# what GDAL names the geometry column of a GeoPackage layer it creates
GEOMETRY_COLUMN = "geom"

ZONES = "zones"
CLASS_AREA = "zone_class_area"
REGION = "region_indicators"
CARBON = "zone_carbon"
SOURCES = "carbon_sources"
TRANSITIONS = "zone_transitions"
CHANGE = "zone_change"
PROGRESS = "zone_progress"
CANDIDATES = "afforestation_candidates"
VALUES = "zone_values"
VEGETATION = "zone_vegetation_cover"
PROTECTION = "zone_wetland_protection"
GROWING_STOCK = "zone_growing_stock"
ACCURACY_AREA = "accuracy_area"
ACCURACY_SUMMARY = "accuracy_summary"
ACCURACY_MATRIX = "accuracy_matrix"
ACCURACY_EXCLUDED = "accuracy_excluded"
ZONE_ACCURACY = "zone_accuracy_area"
ACCURACY_CHANGE_AREA = "accuracy_change_area"

# the order of the layers in the GeoPackage and the QGIS project, whichever stage makes them
LAYER_ORDER = (ZONES, CLASS_AREA, ACCURACY_AREA, ZONE_ACCURACY, ACCURACY_CHANGE_AREA, ACCURACY_SUMMARY, ACCURACY_MATRIX,
               ACCURACY_EXCLUDED, CARBON, SOURCES, TRANSITIONS, CHANGE, VALUES, VEGETATION, PROTECTION,
               GROWING_STOCK, REGION,
               PROGRESS, CANDIDATES)
