"""The history store: every run's figures kept, versioned and comparable, in a GeoPackage or PostGIS."""
