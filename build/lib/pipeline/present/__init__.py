"""Phase 6, present: what people see, built in memory (palettes, labels, styles, QGIS project,
report, workbook). Imports from the phases before."""
