"""sinkzone: exact per-zone land-cover area and carbon for carbon-sink development zones.

The package's folders are the phases of a run, in the order it flows (`ls pipeline/` lists them so). A module
imports only from its own phase or an earlier one: `tests/test_architecture.py` enforces `PHASES`, and the
README's architecture table is checked against it.
"""

__version__ = "0.1.0"

# (folder, what it holds); the web platform will take its place between `run` and `terminal`, in a name that keeps
# the alphabetical order of the flow
PHASES: tuple[tuple[str, str], ...] = (
    ("core", "pure models and maths: errors, names, units, text, config models, class maps, grid, coverage, "
             "accuracy estimators"),
    ("files", "the only code that touches files: rasters, vectors, tables, outputs, locks, logs, cached totals"),
    ("inputs", "the run's config and every input, read and checked before any compute"),
    ("measure", "the one lazy dask graph, its per-chunk kernels, and the reuse of cached totals"),
    ("metrics", "one table family per module, tabulated from the computed totals"),
    ("present", "what people see, built in memory: palettes, labels, QGIS styles and project, report, workbook"),
    ("record", "the history store: every run's figures kept, versioned and comparable, in a GeoPackage or PostGIS"),
    ("run", "a whole run from config to published output; batches; sampling"),
    ("serve", "the web platform: a Django site over the history store, its users, roles and audit log"),
    ("terminal", "the command line: the only place that prints or sets an exit code"),
)
