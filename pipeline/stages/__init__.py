"""Stages: pure functions on numpy arrays and tables. No IO, no printing, no eager dask compute."""
