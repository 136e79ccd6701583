"""What people see: QGIS styles and project, the printable report; built in memory, written by pipeline.io."""
