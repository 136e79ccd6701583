"""The history store's schema, one for both back ends: tables, views and the numbered migrations that make them.

The names here are a contract: QGIS projects, the web platform and users' SQL read them. Figures are insert-only;
a run's review state is the only thing that changes after its ingest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pipeline.core.classmaps import NODATA_CLASS, ROLES
from pipeline.core.names import (
    ACCURACY_AREA,
    CARBON,
    CHANGE,
    CLASS_AREA,
    PROGRESS,
    REGION,
    SOURCES,
    TRANSITIONS,
    ZONE_ACCURACY,
)
from pipeline.present.styles import current_zones_style

Dialect = Literal["gpkg", "postgis"]
Kind = Literal["text", "int", "real", "json", "bool"]

_TYPES: dict[Dialect, dict[Kind, str]] = {
    "gpkg": {"text": "TEXT", "int": "INTEGER", "real": "REAL", "json": "TEXT", "bool": "BOOLEAN"},
    "postgis": {"text": "text", "int": "bigint", "real": "double precision", "json": "jsonb", "bool": "boolean"},
}
SRID = 4326  # zone sets come in any CRS; one store holds them all in WGS 84, as QGIS and the web pages read them
REVIEW_STATES = ("draft", "accepted", "superseded")


@dataclass(frozen=True)
class Figures:
    """One long table of figures: the store's name, the run's layers it holds, its columns after the key columns
    (run_id, zone_id, zone_version, year), and the run column giving `year` where the run's table has no `year`."""

    name: str
    layers: tuple[str, ...]
    columns: tuple[tuple[str, Kind], ...]
    year_from: str = "year"


_ACCURACY: tuple[tuple[str, Kind], ...] = (
             ("class", "text"), ("map_area_ha", "real"), ("adjusted_area_ha", "real"), ("se_ha", "real"),
             ("ci95_low_ha", "real"), ("ci95_high_ha", "real"), ("users_accuracy", "real"), ("users_se", "real"),
             ("producers_accuracy", "real"), ("producers_se", "real"), ("n_samples", "int"), ("method", "text"))
_SHARES: tuple[tuple[str, Kind], ...] = (("var_share_area", "real"), ("var_share_factors", "real"))
# the carbon-market precision rule: relative half-width of the 90 % interval (metrics/carbon.py)
_PRECISION: tuple[tuple[str, Kind], ...] = (("u90_pct", "real"),)
FIGURES: tuple[Figures, ...] = (
    Figures("class_area", (CLASS_AREA,), (("class", "text"), ("area_ha", "real"), ("area_mu", "real"),
                                          ("share", "real"))),
    Figures("carbon", (CARBON,), (("pool", "text"), ("carbon_t", "real"), ("co2e_t", "real"), ("co2e_low_t", "real"),
                                  ("co2e_high_t", "real"), *_SHARES, ("method", "text"), ("source_id", "int"),
                                  *_PRECISION, ("conservative_co2e_t", "real"))),
    # the citation behind each source_id of a run's carbon rows (once per run, not on each of its million rows)
    Figures("carbon_sources", (SOURCES,), (("source_id", "int"), ("source", "text"))),
    Figures("change", (CHANGE,), (("year_from", "int"), ("year_to", "int"), ("co2e_change_t", "real"),
                                  ("co2e_change_low_t", "real"), ("co2e_change_high_t", "real"),
                                  ("co2e_per_year_t", "real"), ("co2e_per_year_low_t", "real"),
                                  ("co2e_per_year_high_t", "real"), *_SHARES, *_PRECISION,
                                  ("conservative_co2e_change_t", "real")), year_from="year_to"),
    Figures("transitions", (TRANSITIONS,), (("year_from", "int"), ("year_to", "int"), ("class_from", "text"),
                                            ("class_to", "text"), ("area_ha", "real")), year_from="year_to"),
    Figures("progress", (PROGRESS,), (("metric", "text"), ("unit", "text"), ("classes", "text"),
                                      ("latest_year", "int"), ("latest_value", "real"), ("target_value", "real"),
                                      ("target_year", "int"), ("pct_of_target", "real"), ("slope_per_year", "real"),
                                      ("projected_value", "real"), ("status", "text")), year_from="latest_year"),
    # the region's estimate has no zone (zone_id empty); each zone's own has one
    Figures("accuracy_area", (ACCURACY_AREA, ZONE_ACCURACY), _ACCURACY),
    Figures("region_indicators", (REGION,), (("region", "text"), ("indicator", "text"), ("label_zh", "text"),
                                             ("label_en", "text"), ("unit", "text"), ("value", "real"),
                                             ("target", "real"), ("target_year", "real"), ("pct_of_target", "real"),
                                             ("meets_target", "real"), ("target_source", "text"),
                                             ("sink_type", "text"), ("illustrative", "bool"),
                                             ("wetland_source", "text"))),
)
KEY_COLUMNS: tuple[tuple[str, Kind], ...] = (("run_id", "text"), ("zone_id", "text"), ("zone_version", "int"),
                                            ("year", "int"))

# zone_series: (table, figure column, metric name as SQL, unit as SQL); class names and pools are the run's own
_SERIES: tuple[tuple[str, str, str, str], ...] = (
    ("class_area", "area_ha", "class || '_ha'", "'ha'"),
    ("class_area", "area_mu", "class || '_mu'", "'亩'"),
    ("class_area", "share", "class || '_share'", "'fraction'"),
    *(("carbon", c, f"pool || ':{c}'", u) for c, u in (("carbon_t", "'t C'"), ("co2e_t", "'t CO2e'"),
                                                       ("co2e_low_t", "'t CO2e'"), ("co2e_high_t", "'t CO2e'"))),
    *(("change", c, f"'{c}'", "'t CO2e'") for c in ("co2e_change_t", "co2e_change_low_t", "co2e_change_high_t")),
    *(("change", c, f"'{c}'", "'t CO2e/yr'") for c in ("co2e_per_year_t", "co2e_per_year_low_t",
                                                       "co2e_per_year_high_t")),
    ("transitions", "area_ha", "class_from || '>' || class_to || '_ha'", "'ha'"),
    *(("progress", c, f"metric || ':{c}'", "unit") for c in ("latest_value", "target_value", "projected_value")),
    ("progress", "pct_of_target", "metric || ':pct_of_target'", "'%'"),
    *(("accuracy_area", c, f"class || ':{c}'", "'ha'") for c in ("adjusted_area_ha", "se_ha", "ci95_low_ha",
                                                                 "ci95_high_ha")),
)
# the carbon totals over pools, as the run's zones layer gives them
_TOTALS = (("carbon_t", "'t C'"), ("co2e_t", "'t CO2e'"))
TOTAL_POOL = "total"  # the pool row a run writes with each zone's whole stock (metrics/carbon_terms.py)


def column_type(kind: Kind, dialect: Dialect) -> str:
    return _TYPES[dialect][kind]


def _ddl(name: str, columns: Sequence[tuple[str, Kind]], dialect: Dialect, *, extra: str = "") -> str:
    body = ", ".join(f"{col} {column_type(kind, dialect)}" for col, kind in columns)
    return f"CREATE TABLE {name} ({body}{extra})"


def _feature_columns(dialect: Dialect) -> tuple[str, str]:
    """The feature id and MultiPolygon geometry columns of a map layer, as each back end declares them."""
    fid = ("fid INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "gpkg"
           else "fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
    geom = "geom MULTIPOLYGON" if dialect == "gpkg" else f"geom geometry(MultiPolygon, {SRID})"
    return fid, geom


def _tables(dialect: Dialect) -> list[str]:
    t = _TYPES[dialect]
    fid, geom = _feature_columns(dialect)
    statements = [
        f"CREATE TABLE runs (run_id {t['text']} PRIMARY KEY, name {t['text']} NOT NULL, finished_utc {t['text']} "
        f"NOT NULL, code_version {t['text']} NOT NULL, config {t['json']} NOT NULL, inputs {t['json']} NOT NULL, "
        f"class_map {t['json']} NOT NULL, review {t['text']} NOT NULL DEFAULT 'draft' "
        f"CHECK (review IN ('draft', 'accepted', 'superseded')), reviewed_by {t['text']}, reviewed_utc {t['text']}, "
        f"notes {t['text']}, zone_set {t['text']} NOT NULL, output_dir {t['text']}, ingested_utc {t['text']} NOT NULL)",
        f"CREATE TABLE run_epochs (run_id {t['text']} NOT NULL REFERENCES runs (run_id), year {t['int']} NOT NULL, "
        f"product {t['text']}, product_version {t['text']}, path {t['text']}, sha256 {t['text']}, "
        "PRIMARY KEY (run_id, year))",
        f"CREATE TABLE zone_versions ({fid}, {geom}, zone_set {t['text']} NOT NULL, zone_id {t['text']} NOT NULL, "
        f"version {t['int']} NOT NULL, geom_sha256 {t['text']} NOT NULL, area_ha {t['real']}, "
        f"attributes {t['json']} NOT NULL, first_run {t['text']} NOT NULL REFERENCES runs (run_id), "
        f"last_run {t['text']} NOT NULL REFERENCES runs (run_id), UNIQUE (zone_set, zone_id, version))",
    ]
    for fig in FIGURES:
        statements.append(_ddl(fig.name, [*KEY_COLUMNS, *fig.columns], dialect,
                               extra=", FOREIGN KEY (run_id) REFERENCES runs (run_id)"))
        statements.append(f"CREATE INDEX {fig.name}_zone ON {fig.name} (zone_id, year)")
    return statements


def _figures_view(*, totals_from_total_pool: bool = False) -> str:
    """Every per-zone figure as (run, zone, version, year, metric, value, unit), one arm per figure column.

    The totals `carbon_t` and `co2e_t`: as released in migration 2, the sum of every pool row, which counts the
    run's own `total` pool a second time (twice the stock); from migration 6, the `total` pool's row."""
    arms = [f"SELECT run_id, zone_id, zone_version, year, {metric} AS metric, {column} AS value, {unit} AS unit "
            f"FROM {table} WHERE zone_id IS NOT NULL AND {column} IS NOT NULL"
            for table, column, metric, unit in _SERIES]
    pools = f"pool = '{TOTAL_POOL}' AND " if totals_from_total_pool else ""
    arms += [f"SELECT run_id, zone_id, zone_version, year, '{column}' AS metric, SUM({column}) AS value, {unit} AS "
             f"unit FROM carbon WHERE {pools}zone_id IS NOT NULL GROUP BY run_id, zone_id, zone_version, year"
             for column, unit in _TOTALS]
    return "CREATE VIEW zone_figures AS\n" + "\nUNION ALL ".join(arms)


def _totals_of_the_total_pool(dialect: Dialect) -> list[str]:
    """zone_figures' carbon totals from the `total` pool alone (zone_series reads zone_figures: both made anew)."""
    return ["DROP VIEW zone_series", "DROP VIEW zone_figures", _figures_view(totals_from_total_pool=True),
            _series_view()]


def _series_view() -> str:
    """For each zone, year and metric the newest accepted run's figure, else the newest draft's (review says which);
    superseded runs serve nothing. `version_break` marks every row whose product, product version or sinkzone version
    differs from those of the zone's first year (a transition into a year of another version counts as crossing)."""
    lineage = "COALESCE(e.product, '') || '/' || COALESCE(e.product_version, '') || '/' || r.code_version"
    ranked = (
        "SELECT r.zone_set, f.zone_id, f.zone_version, f.year, f.metric, f.value, f.unit, f.run_id, r.review, "
        f"e.product, e.product_version, r.code_version, {lineage} AS lineage, "
        "ROW_NUMBER() OVER (PARTITION BY r.zone_set, f.zone_id, f.year, f.metric ORDER BY "
        "CASE r.review WHEN 'accepted' THEN 0 ELSE 1 END, r.finished_utc DESC, r.run_id DESC) AS pick "
        "FROM zone_figures f JOIN runs r ON r.run_id = f.run_id "
        "LEFT JOIN run_epochs e ON e.run_id = f.run_id AND e.year = f.year WHERE r.review <> 'superseded'")
    served = ("SELECT s.*, FIRST_VALUE(lineage) OVER (PARTITION BY zone_set, zone_id ORDER BY year) "
              f"AS origin FROM ({ranked}) s WHERE pick = 1")
    return ("CREATE VIEW zone_series AS SELECT zone_set, zone_id, zone_version, year, metric, value, unit, run_id, "
            "review, product, product_version, code_version, "
            f"CASE WHEN lineage <> origin THEN 1 ELSE 0 END AS version_break FROM ({served}) t")


WIDE_COLUMNS = (*(f"{role}_ha" for role in (*ROLES, NODATA_CLASS)), "carbon_t", "co2e_t", "co2e_per_year_t")


def _current_zones_view() -> str:
    """Each zone's latest version with the figures zone_series serves for its latest year, wide, and its plan
    status (the share target's, else the first target's)."""
    wide = ", ".join(f"MAX(CASE WHEN s.metric = '{c}' THEN s.value END) AS {c}" for c in WIDE_COLUMNS)
    latest_year = ("SELECT zone_set, zone_id, MAX(year) AS year FROM zone_series "
                   "WHERE metric LIKE '%\\_ha' ESCAPE '\\' GROUP BY zone_set, zone_id")
    figures = (f"SELECT s.zone_set, s.zone_id, s.year, MAX(s.run_id) AS run_id, MAX(s.review) AS review, {wide} "
               f"FROM zone_series s JOIN ({latest_year}) y ON y.zone_set = s.zone_set AND y.zone_id = s.zone_id "
               "AND y.year = s.year GROUP BY s.zone_set, s.zone_id, s.year")
    newest = "SELECT zone_set, zone_id, MAX(version) AS version FROM zone_versions GROUP BY zone_set, zone_id"
    status = ("(SELECT p.status FROM progress p WHERE p.run_id = w.run_id AND p.zone_id = w.zone_id ORDER BY "
              "CASE p.metric WHEN 'share' THEN 0 ELSE 1 END, p.metric LIMIT 1)")
    return ("CREATE VIEW current_zones AS SELECT z.fid, z.geom, z.zone_set, z.zone_id, z.version AS zone_version, "
            f"z.area_ha, z.attributes, w.year, w.run_id, w.review, {', '.join(f'w.{c}' for c in WIDE_COLUMNS)}, "
            f"{status} AS plan_status FROM zone_versions z JOIN ({newest}) n ON n.zone_set = z.zone_set AND "
            f"n.zone_id = z.zone_id AND n.version = z.version LEFT JOIN ({figures}) w ON w.zone_set = z.zone_set "
            "AND w.zone_id = z.zone_id")


def _views(dialect: Dialect) -> list[str]:
    return [_figures_view(), _series_view(), _current_zones_view()]


def served_first(runs: str) -> str:
    """ORDER BY terms putting first the run zone_series serves a figure from: accepted before draft, then the
    newest (`runs` is the alias of the runs table in the query)."""
    return f"CASE {runs}.review WHEN 'accepted' THEN 0 ELSE 1 END, {runs}.finished_utc DESC, {runs}.run_id DESC"


_RANK = served_first("s")


def current_zones_upsert(*, one_set: bool) -> str:
    """The current_zones rows of every zone of one zone set (the `?` parameter; all sets when not `one_set`), as
    zone_series serves them, written over the rows they replace.

    Each zone's latest year is the latest epoch a run still served (not superseded) measured its class areas in;
    each figure of that year comes from the best run that has it (carbon:
    its `total` pool), ranked as in zone_series (accepted first, then
    the newest); `run_id` and `review` name the best run of its class areas, and `plan_status` is that run's
    (the share target's, else the first target's). Reached through the figure tables' (zone_id, year) index at
    that one year, so a store of 40,000 zones x 20 epochs is written in seconds, where the view of migration 2
    sorted every figure of every run twice.
    """
    served = ("SELECT run_id, zone_set, review, finished_utc FROM runs WHERE review <> 'superseded'"
              + (" AND zone_set = ?" if one_set else ""))
    at_latest = "FROM latest l JOIN {table} c ON c.zone_id = l.zone_id AND c.year = l.year JOIN served s ON " \
                "s.run_id = c.run_id AND s.zone_set = l.zone_set"
    areas = ("SELECT l.zone_set, l.zone_id, l.year, c.class, c.area_ha, c.run_id, s.review, ROW_NUMBER() OVER "
             f"(PARTITION BY l.zone_set, l.zone_id, c.class ORDER BY {_RANK}) AS pick, DENSE_RANK() OVER (PARTITION "
             f"BY l.zone_set, l.zone_id ORDER BY {_RANK}) AS run_rank {at_latest.format(table='class_area')} "
             "WHERE c.area_ha IS NOT NULL")
    wide = ", ".join(f"MAX(CASE WHEN class = '{c[:-3]}' AND pick = 1 THEN area_ha END) AS {c}"
                     for c in WIDE_COLUMNS if c.endswith("_ha"))
    best = ("SELECT zone_set, zone_id, year, MAX(CASE WHEN run_rank = 1 THEN run_id END) AS run_id, "
            f"MAX(CASE WHEN run_rank = 1 THEN review END) AS review, {wide} FROM areas "
            "GROUP BY zone_set, zone_id, year")
    carbon = ("SELECT zone_set, zone_id, carbon_t, co2e_t FROM (SELECT l.zone_set, l.zone_id, c.carbon_t, c.co2e_t, "
              f"ROW_NUMBER() OVER (PARTITION BY l.zone_set, l.zone_id ORDER BY {_RANK}) AS pick "
              f"{at_latest.format(table='carbon')} WHERE c.pool = '{TOTAL_POOL}') t WHERE pick = 1")
    # the rate over the zone's latest pair of consecutive epochs (a run's first-to-last pair ends in that year too)
    rate = ("SELECT zone_set, zone_id, co2e_per_year_t FROM (SELECT l.zone_set, l.zone_id, c.co2e_per_year_t, "
            f"ROW_NUMBER() OVER (PARTITION BY l.zone_set, l.zone_id ORDER BY {_RANK}, c.year_from DESC) AS pick "
            f"{at_latest.format(table='change')} WHERE c.co2e_per_year_t IS NOT NULL) t WHERE pick = 1")
    newest = "SELECT zone_set, zone_id, MAX(version) AS version FROM zone_versions GROUP BY zone_set, zone_id"
    status = ("(SELECT p.status FROM progress p WHERE p.run_id = b.run_id AND p.zone_id = b.zone_id ORDER BY "
              "CASE p.metric WHEN 'share' THEN 0 ELSE 1 END, p.metric LIMIT 1)")
    columns = ("geom", "zone_set", "zone_id", "zone_version", "area_ha", "attributes", "year", "run_id", "review",
               *WIDE_COLUMNS, "plan_status")
    chosen = ("z.geom, z.zone_set, z.zone_id, z.version, z.area_ha, z.attributes, b.year, b.run_id, b.review, "
              f"{', '.join(f'b.{c}' for c in WIDE_COLUMNS if c.endswith('_ha'))}, k.carbon_t, k.co2e_t, "
              f"r.co2e_per_year_t, {status}")
    latest = ("SELECT s.zone_set, c.zone_id, MAX(c.year) AS year FROM class_area c JOIN served s ON s.run_id = "
              "c.run_id WHERE c.zone_id IS NOT NULL GROUP BY s.zone_set, c.zone_id")
    sets = "WHERE z.zone_set = ?" if one_set else "WHERE 1 = 1"  # WHERE: SQLite's upsert after a join needs one
    return (f"WITH served AS ({served}), latest AS ({latest}), areas AS ({areas}), best AS ({best}), "
            f"carbon_totals AS ({carbon}), rates AS ({rate}) "
            f"INSERT INTO current_zones ({', '.join(columns)}) SELECT {chosen} FROM zone_versions z JOIN ({newest}) "
            "n ON n.zone_set = z.zone_set AND n.zone_id = z.zone_id AND n.version = z.version "
            "LEFT JOIN best b ON b.zone_set = z.zone_set AND b.zone_id = z.zone_id "
            "LEFT JOIN carbon_totals k ON k.zone_set = z.zone_set AND k.zone_id = z.zone_id "
            f"LEFT JOIN rates r ON r.zone_set = z.zone_set AND r.zone_id = z.zone_id {sets} "
            "ON CONFLICT (zone_set, zone_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("zone_set", "zone_id")))


def _current_zones_table(dialect: Dialect) -> list[str]:
    """current_zones becomes a table the ingest and the review write (`current_zones_upsert`), with the columns the
    view had; filled here from the store's runs. Rows are updated, never deleted: a zone, once stored, stays."""
    t = _TYPES[dialect]
    fid, geom = _feature_columns(dialect)
    wide = ", ".join(f"{c} {t['real']}" for c in WIDE_COLUMNS)
    return ["DROP VIEW current_zones",
            f"CREATE TABLE current_zones ({fid}, {geom}, zone_set {t['text']} NOT NULL, zone_id {t['text']} NOT NULL, "
            f"zone_version {t['int']} NOT NULL, area_ha {t['real']}, attributes {t['json']} NOT NULL, year {t['int']}, "
            f"run_id {t['text']}, review {t['text']}, {wide}, plan_status {t['text']}, UNIQUE (zone_set, zone_id))",
            "CREATE INDEX current_zones_zone ON current_zones (zone_id)",
            # a zone page asks for one zone's versions by id alone (the unique key starts with the zone set)
            "CREATE INDEX zone_versions_zone ON zone_versions (zone_id)",
            current_zones_upsert(one_set=False)]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _styles(dialect: Dialect) -> list[str]:
    """layer_styles as QGIS itself makes it in each back end, holding current_zones' default style."""
    style = current_zones_style()
    qml, name, title = _literal(style.qml), _literal(style.name), _literal(style.title)
    if dialect == "gpkg":
        return ["CREATE TABLE layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), "
                "f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
                "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
                "update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))",
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui) VALUES ('', '', "
                f"'current_zones', 'geom', {name}, {qml}, '', 1, {title}, '', '')"]
    return ["CREATE TABLE IF NOT EXISTS layer_styles (id serial PRIMARY KEY, f_table_catalog varchar, f_table_schema "
            "varchar, f_table_name varchar, f_geometry_column varchar, stylename text, styleqml xml, stylesld xml, "
            "useasdefault boolean, description text, owner varchar(63) DEFAULT CURRENT_USER, ui xml, update_time "
            "timestamp DEFAULT CURRENT_TIMESTAMP, type varchar)",
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, stylename, "
            "styleqml, useasdefault, description) VALUES (current_database(), current_schema(), "
            f"'current_zones', 'geom', {name}, XMLPARSE(DOCUMENT {qml}), true, {title})"]


ATTEMPT_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("attempt_id", "text"), ("config_path", "text"), ("config_name", "text"), ("started_utc", "text"),
    ("finished_utc", "text"), ("status", "text"), ("detail", "text"), ("run_id", "text"), ("host", "text"))


def _attempts(dialect: Dialect) -> list[str]:
    """run_attempts: one row per config a batch tried, whatever became of it. No foreign key to runs: a run that
    was not stored has a run id the store does not hold. Times are UTC with microseconds, so two attempts of one
    config in the same second still come in order."""
    return [_ddl("run_attempts", ATTEMPT_COLUMNS, dialect, extra=", PRIMARY KEY (attempt_id)"),
            "CREATE INDEX run_attempts_config ON run_attempts (config_path, started_utc)",
            "CREATE INDEX run_attempts_started ON run_attempts (started_utc)"]


@dataclass(frozen=True)
class Migration:
    number: int
    description: str
    statements: Callable[[Dialect], list[str]]


# Numbered and never edited once released: a store records each one applied in schema_version, and opening an
# older store applies the ones it lacks, in order, each in its own transaction.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs, run epochs, zone versions and the long figure tables", _tables),
    Migration(2, "the views zone_figures, zone_series and current_zones", _views),
    Migration(3, "layer_styles: the default QGIS style of current_zones", _styles),
    Migration(4, "current_zones as a table written at each ingest and review (the view took minutes at 40,000 "
                 "zones)", _current_zones_table),
    Migration(5, "run_attempts: every config a batch tried, with its status", _attempts),
    Migration(6, "zone_series' carbon_t and co2e_t from the total pool (migration 2 added it to the pools: twice "
                 "the stock)", _totals_of_the_total_pool),
)
LATEST = MIGRATIONS[-1].number
SPATIAL = {"zone_versions": "zone versions", "current_zones": "current zones"}
