"""The history store, against both back ends (a GeoPackage file and a throwaway PostgreSQL + PostGIS cluster):
ingest once, zone versions, the served series, review states, faults (kill, two writers, an unreachable store)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from builders import (
    ROOT,
    box_cells,
    land_cover,
    two_config_batch,
    two_zones,
    write_config,
    write_tiled_raster,
    write_zone_layer,
)
from cli_support import assert_clean_failure, cli, mounted_tmpfs
from conftest import DemoRun
from pg_cluster import Cluster, cluster

from pipeline.core.classmaps import NODATA_CLASS, ROLES
from pipeline.core.errors import NOT_STORED_EXIT, StoreError, StoreUnavailable
from pipeline.files.run_output import RunOutput, read_run_output
from pipeline.inputs.run_config import load_config
from pipeline.present.styles import current_zones_style
from pipeline.record import queries, schema
from pipeline.record.backend import Store
from pipeline.record.ingest import LAYERS, ingest, ingest_folder
from pipeline.record.schema import WIDE_COLUMNS
from pipeline.record.store import open_store
from pipeline.run import runner

BACKENDS = ["gpkg", "postgis"]
QGIS_PYTHON = os.environ.get("SINKZONE_QGIS_PYTHON", "/usr/bin/python3")


@dataclass(frozen=True)
class Target:
    """Where a test's store lives: the writer's target, and on PostGIS the owner's and the reader's."""

    writer: str
    owner: str
    reader: str


@pytest.fixture(scope="module")
def pg() -> Iterator[Cluster]:
    with cluster() as running:
        yield running


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "gpkg":
        path = str(tmp_path / "history.gpkg")
        return Target(writer=path, owner=path, reader=path)
    running: Cluster = request.getfixturevalue("pg")
    name = f"h_{os.getpid()}_{len(list(tmp_path.parent.iterdir()))}_{tmp_path.name[-6:].replace('-', '_')}"
    running.new_database(name)
    made = Target(writer=running.url(name, role="sinkzone_writer"), owner=running.url(name, role="sinkzone_owner"),
                  reader=running.url(name, role="sinkzone_reader"))
    open_store(made.owner).close()  # the owner applies the migrations; the writer then ingests
    return made


@dataclass(frozen=True)
class Runs:
    a: runner.RunResult  # zones v1, land cover seed 0
    b: runner.RunResult  # zones v1, land cover seed 1: other figures for the same zones and year
    c: runner.RunResult  # zone z0's boundary edited, land cover seed 0


def _run(folder: Path, zones: Path, seed: int) -> runner.RunResult:
    folder.mkdir()
    raster = write_tiled_raster(folder / "lc.tif", land_cover(seed))
    return runner.run(load_config(write_config(folder, rasters={2020: raster}, zones=zones)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    base = tmp_path_factory.mktemp("history_runs")
    zones = write_zone_layer(base / "zones.gpkg", two_zones())
    a = _run(base / "a", zones, 0)
    time.sleep(1.1)  # run.json times whole seconds: b is the newer run
    b = _run(base / "b", zones, 1)
    write_zone_layer(zones, [box_cells(2.5, 2.5, 20, 30), two_zones()[1]])  # the same file, z0 made smaller
    return Runs(a=a, b=b, c=_run(base / "c", zones, 0))


def _contents(store: Store) -> dict[str, pd.DataFrame]:
    tables = ["runs", "run_epochs", "zone_versions", "class_area", "carbon", "transitions", "region_indicators"]
    return {t: store.query(f"SELECT * FROM {t}").drop(columns=["geom", "ingested_utc"], errors="ignore")
            .astype(str).sort_values(by=["run_id"] if t != "zone_versions" else ["zone_id", "version"])
            .reset_index(drop=True) for t in tables}


def test_ingest_twice_is_a_noop(target: Target, runs: Runs) -> None:
    first = ingest_folder(runs.a.out_dir, target=target.writer)
    assert first.stored
    assert first.new_zone_versions == 2
    # class_area: 2 zones x 1 year x (4 CLCD codes drawn + nodata) rows, as the run's own table has
    assert first.figure_rows >= len(runs.a.tables["zone_class_area"]) > 0
    with open_store(target.reader, create=False) as store:
        before = _contents(store)
    again = ingest_folder(runs.a.out_dir, target=target.writer)
    assert not again.stored
    assert again.run_id == first.run_id
    with open_store(target.reader, create=False) as store:
        after = _contents(store)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], obj=name)


def test_changed_boundary_adds_a_version_and_older_figures_keep_theirs(target: Target, runs: Runs) -> None:
    ingest_folder(runs.a.out_dir, target=target.writer)
    added = ingest_folder(runs.c.out_dir, target=target.writer)
    assert added.new_zone_versions == 1  # z0 changed, z1 did not
    with open_store(target.reader, create=False) as store:
        versions = store.query("SELECT zone_id, version, area_ha, first_run, last_run FROM zone_versions "
                               "ORDER BY zone_id, version")
        used = store.query("SELECT DISTINCT run_id, zone_id, zone_version FROM class_area ORDER BY run_id, zone_id")
    assert versions[["zone_id", "version"]].values.tolist() == [["z0", 1], ["z0", 2], ["z1", 1]]
    # z0 went from 27.5 to 17.5 cells wide: its new version is smaller; z1's one version served both runs
    assert versions["area_ha"].iloc[1] < versions["area_ha"].iloc[0]
    assert versions.iloc[2][["first_run", "last_run"]].tolist() == [runs.a.record["run_id"], runs.c.record["run_id"]]
    served = {(r, z): int(v) for r, z, v in used.itertuples(index=False)}
    assert served[(runs.a.record["run_id"], "z0")] == 1
    assert served[(runs.c.record["run_id"], "z0")] == 2


def _served(store: Store, zone: str) -> dict[str, float]:
    found = store.query("SELECT metric, value FROM zone_series WHERE zone_id = ? AND year = 2020", (zone,))
    return {m: float(v) for m, v in zip(found["metric"], found["value"], strict=True)
            if m.endswith("_ha") and ">" not in m}


def _own(result: runner.RunResult, zone: str) -> dict[str, float]:
    table = result.tables["zone_class_area"]
    mine = table[table["zone_id"] == zone]
    return {f"{c}_ha": float(a) for c, a in zip(mine["class"], mine["area_ha"], strict=True)}


def _current(store: Store, zone: str) -> dict[str, object]:
    """current_zones' row for the zone: its serving run and its class areas (the wide columns that are not empty)."""
    row = store.query("SELECT * FROM current_zones WHERE zone_id = ?", (zone,)).iloc[0]
    areas = {c: float(row[c]) for c in row.index if c.endswith("_ha") and c != "area_ha" and pd.notna(row[c])}
    return {"run_id": row["run_id"], "review": row["review"], "year": int(row["year"]), **areas}


def _expected_current(result: runner.RunResult, zone: str, review: str) -> dict[str, object]:
    """What current_zones must hold for a zone served by this run alone: the run's own class areas of its one
    epoch, 2020 (the areas of classes outside the land-cover roles have no column there, so they are left out)."""
    own = {k: v for k, v in _own(result, zone).items() if k[:-3] in (*ROLES, NODATA_CLASS)}
    return {"run_id": str(result.record["run_id"]), "review": review, "year": 2020, **own}


def test_accept_and_supersede_change_what_the_series_serves(target: Target, runs: Runs) -> None:
    for result in (runs.a, runs.b):
        ingest_folder(result.out_dir, target=target.writer)
    a, _b = str(runs.a.record["run_id"]), str(runs.b.record["run_id"])
    with open_store(target.writer) as store:
        assert _served(store, "z1") == _own(runs.b, "z1")  # both drafts: the newest, b
        assert _current(store, "z1") == _expected_current(runs.b, "z1", "draft")
        queries.review(store, a, state="accepted", by="analyst")
        assert _served(store, "z1") == _own(runs.a, "z1")  # an accepted run beats a newer draft
        assert _current(store, "z1") == _expected_current(runs.a, "z1", "accepted")
        queries.review(store, a, state="superseded", by="analyst", note="wrong raster")
        assert _served(store, "z1") == _own(runs.b, "z1")  # superseded serves nothing: the draft again
        assert _current(store, "z1") == _expected_current(runs.b, "z1", "draft")
        record = store.query("SELECT review, reviewed_by, notes FROM runs WHERE run_id = ?", (a,)).iloc[0]
    assert record.tolist() == ["superseded", "analyst", "wrong raster"]
    assert _own(runs.a, "z1") != _own(runs.b, "z1")


@pytest.mark.slow
def test_demo_series_equals_the_runs_own_tables(target: Target, demo_run: DemoRun) -> None:
    result = demo_run("sao_tome_worldcover")
    ingest_folder(result.out_dir, target=target.writer)
    with open_store(target.reader, create=False) as store:
        series = store.query("SELECT zone_id, year, metric, value, product_version, version_break FROM zone_series")
    got = {(z, int(y), m): float(v) for z, y, m, v in series[["zone_id", "year", "metric", "value"]].itertuples(
        index=False)}
    expected: dict[tuple[str, int, str], float] = {}
    for row in result.tables["zone_class_area"].itertuples(index=False):
        expected[(row.zone_id, row.year, f"{row._2}_ha")] = row.area_ha
        expected[(row.zone_id, row.year, f"{row._2}_share")] = row.share
    for row in result.tables["zone_carbon"].itertuples(index=False):
        expected[(row.zone_id, row.year, f"{row.pool}:co2e_t")] = row.co2e_t
    for row in result.tables["zone_change"].itertuples(index=False):
        expected[(row.zone_id, row.year_to, "co2e_per_year_t")] = row.co2e_per_year_t
    for row in result.tables["zone_transitions"].itertuples(index=False):
        expected[(row.zone_id, row.year_to, f"{row.class_from}>{row.class_to}_ha")] = row.area_ha
    assert {k: got.get(k) for k in expected} == expected
    totals = result.tables["zone_carbon"].query("pool == 'total'")
    assert {(z, int(y)): got[(z, int(y), "carbon_t")] for z, y in zip(totals["zone_id"], totals["year"],
                                                                      strict=True)} == \
        {(z, int(y)): float(c) for z, y, c in zip(totals["zone_id"], totals["year"], totals["carbon_t"], strict=True)}
    _assert_current_zones_hold_the_latest_epoch(target, result)
    # 2020 is WorldCover v100 and 2021 v200: every 2021 row says the series crossed a product version
    breaks = series.groupby("product_version")["version_break"].agg(set).to_dict()
    assert breaks == {"v100": {0}, "v200": {1}}


def _assert_current_zones_hold_the_latest_epoch(target: Target, result: runner.RunResult) -> None:
    """Each zone's row in current_zones: the run's own figures of its latest epoch, carbon summed over the pools
    and the yearly rate of the latest consecutive pair, worked out here from the run's tables."""
    with open_store(target.reader, create=False) as store:
        current = store.query("SELECT * FROM current_zones").set_index("zone_id")
    latest = max(result.tables["zone_class_area"]["year"])
    areas = result.tables["zone_class_area"].query("year == @latest")
    stocks = result.tables["zone_carbon"].query("year == @latest")
    carbon = stocks[stocks["pool"] == "total"].set_index("zone_id")
    # the run's `total` pool is its other pools added up: a sum over every row would count the stock twice
    pools = stocks[stocks["pool"] != "total"].groupby("zone_id")["carbon_t"].sum()
    assert carbon["carbon_t"].to_dict() == pytest.approx(pools.to_dict(), rel=1e-9)
    change = result.tables["zone_change"].query("year_to == @latest")
    rate = change.sort_values("year_from").groupby("zone_id")["co2e_per_year_t"].last()
    assert set(current.index) == set(areas["zone_id"])
    assert (current["year"] == latest).all()
    for row in areas.itertuples(index=False):
        if f"{row._2}_ha" in current.columns:
            assert current.at[row.zone_id, f"{row._2}_ha"] == pytest.approx(row.area_ha, rel=1e-12)
    for zone_id in current.index:
        assert current.at[zone_id, "carbon_t"] == pytest.approx(carbon.at[zone_id, "carbon_t"], rel=1e-12)
        assert current.at[zone_id, "co2e_t"] == pytest.approx(carbon.at[zone_id, "co2e_t"], rel=1e-12)
        assert current.at[zone_id, "co2e_per_year_t"] == pytest.approx(rate[zone_id], rel=1e-12)


def test_kill_during_ingest_leaves_nothing_of_the_run(target: Target, runs: Runs) -> None:
    script = ("import sys, time\n"
              "from pathlib import Path\n"
              "from pipeline.files.run_output import read_run_output\n"
              "from pipeline.record import ingest as i\n"
              "from pipeline.record.store import open_store\n"
              "output = read_run_output(Path(sys.argv[2]), tables=i.LAYERS)\n"
              "store = open_store(sys.argv[1])\n"
              "with store.writing():\n"
              "    i._insert_run(store, output)\n"
              "    i._zone_versions(store, i._zone_rows(output.zones), zone_set=i.zone_set(output.record),\n"
              "                     rid=output.record['run_id'], finished=output.record['finished_utc'])\n"
              "    print('inside', flush=True)\n"
              "    time.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", script, target.writer, str(runs.a.out_dir)],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "inside"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    with open_store(target.writer) as store:
        assert store.query("SELECT COUNT(*) AS n FROM runs")["n"].iloc[0] == 0
        assert store.query("SELECT COUNT(*) AS n FROM zone_versions")["n"].iloc[0] == 0
    assert ingest_folder(runs.a.out_dir, target=target.writer).stored  # the next ingest completes it


def test_two_ingests_at_once_never_corrupt(target: Target, runs: Runs) -> None:
    folders = [str(r.out_dir) for r in (runs.a, runs.b, runs.c)]
    command = [sys.executable, "-m", "pipeline", "ingest"]
    children = [subprocess.Popen([*command, *order, "--history", target.writer], cwd=ROOT, stderr=subprocess.PIPE,
                                 text=True) for order in (folders, folders[::-1])]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
    with open_store(target.reader, create=False) as store:
        assert sorted(store.query("SELECT run_id FROM runs")["run_id"]) == sorted(
            str(r.record["run_id"]) for r in (runs.a, runs.b, runs.c))
        versions = store.query("SELECT zone_id, version FROM zone_versions ORDER BY zone_id, version")
        rows = int(store.query("SELECT COUNT(*) AS n FROM class_area")["n"].iloc[0])
    assert versions.values.tolist() == [["z0", 1], ["z0", 2], ["z1", 1]]
    assert rows == sum(len(r.tables["zone_class_area"]) for r in (runs.a, runs.b, runs.c))


def test_reader_cannot_write(pg: Cluster, runs: Runs) -> None:
    pg.new_database("reader_check")
    owner, reader = pg.url("reader_check", role="sinkzone_owner"), pg.url("reader_check", role="sinkzone_reader")
    open_store(owner).close()
    ingest_folder(runs.a.out_dir, target=pg.url("reader_check", role="sinkzone_writer"))
    with open_store(reader, create=False) as store:
        assert len(store.query("SELECT * FROM zone_series")) > 0  # it reads
        with pytest.raises(StoreError, match="may not change"):
            queries.review(store, str(runs.a.record["run_id"]), state="accepted", by="reader")
        with pytest.raises(StoreError, match="may not change"), store.writing():
            store.execute("DELETE FROM class_area")
    with pytest.raises(StoreError, match="may not change"):
        ingest_folder(runs.b.out_dir, target=reader)


def test_a_newer_schema_is_refused(target: Target) -> None:
    with open_store(target.owner) as store:
        assert store.migrations() == {1, 2, 3, 4, 5, 6}
        with store.writing():
            store.execute("INSERT INTO schema_version VALUES (99, 'from the future', '9.9', '2030-01-01T00:00:00Z')")
    with pytest.raises(StoreError, match="newer sinkzone"):
        open_store(target.owner)


def _current_zones(store: Store) -> pd.DataFrame:
    columns = ["zone_set", "zone_id", "zone_version", "year", "run_id", "review", *WIDE_COLUMNS, "plan_status"]
    found = store.query(f"SELECT {', '.join(columns)} FROM current_zones ORDER BY zone_set, zone_id")
    return found.astype(dict.fromkeys(WIDE_COLUMNS, float)).round(6)


def test_current_zones_table_holds_what_the_released_view_showed(target: Target, runs: Runs) -> None:
    """Migration 4 made current_zones a table written at ingest and review; on the same runs it must hold what
    migration 2's view showed (the view's SQL is kept in the schema module as released). A store at schema 3 is
    then brought to 4 and filled from its runs."""
    for result in (runs.a, runs.b, runs.c):
        ingest_folder(result.out_dir, target=target.writer)
    with open_store(target.owner) as store:
        queries.review(store, str(runs.b.record["run_id"]), state="accepted", by="analyst")
        table = _current_zones(store)
        with store.writing():
            store.execute("DROP TABLE current_zones")
            store.execute("DROP INDEX zone_versions_zone")
            store.execute(schema._current_zones_view())
            store.execute("DELETE FROM schema_version WHERE version = 4")
        view = _current_zones(store)
    pd.testing.assert_frame_equal(table, view)
    assert table["zone_version"].tolist() == [2, 1]  # z0's boundary was edited by run c
    assert set(table["review"]) == {"accepted"}
    with open_store(target.owner) as store:
        assert 4 in store.migrations()
        pd.testing.assert_frame_equal(_current_zones(store), view)


def test_served_class_areas_are_the_series_rows_of_those_classes(target: Target, runs: Runs) -> None:
    """The alerts read served areas from class_area alone; they must be the rows zone_series serves, whatever the
    reviews (b accepted over the newer draft c; then b superseded: c, the newest draft, for both zones)."""
    for result in (runs.a, runs.b, runs.c):
        ingest_folder(result.out_dir, target=target.writer)
    columns = ["zone_id", "metric", "year", "value", "unit", "run_id"]
    with open_store(target.writer) as store:
        for state in ("accepted", "superseded"):
            queries.review(store, str(runs.b.record["run_id"]), state=state, by="analyst")
            view = store.query(f"SELECT {', '.join(columns)} FROM zone_series WHERE metric IN ('forest_ha', "
                               "'cropland_ha') ORDER BY zone_id, metric, year")
            pd.testing.assert_frame_equal(queries.served_class_areas(store, ("forest", "cropland")), view)
            assert set(view["run_id"]) == {str((runs.b if state == "accepted" else runs.c).record["run_id"])}
            assert len(view) == 4  # two zones x two classes, one epoch


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_older_store_is_upgraded(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    path = str(tmp_path / "old.gpkg")
    if backend == "postgis":
        running: Cluster = request.getfixturevalue("pg")
        running.new_database("upgraded")
        path = running.url("upgraded", role="sinkzone_owner")
    with open_store(path, upto=1) as store:
        assert store.schema_version() == 1
        assert not store.has_table("zone_series")
    with open_store(path) as store:
        assert 4 in set(store.query("SELECT version FROM schema_version")["version"])
        assert store.has_table("zone_series")
        assert store.has_table("run_attempts")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_store_at_schema_4_keeps_its_runs_when_it_gains_run_attempts(backend: str, tmp_path: Path, runs: Runs,
                                                                       request: pytest.FixtureRequest) -> None:
    path = str(tmp_path / "released.gpkg")
    if backend == "postgis":
        running: Cluster = request.getfixturevalue("pg")
        running.new_database("released")
        path = running.url("released", role="sinkzone_owner")
    with open_store(path) as store:  # a store filled, then taken back to before migration 5 (no run_attempts)
        ingest(store, read_run_output(runs.a.out_dir, tables=LAYERS))
        queries.review(store, str(runs.a.record["run_id"]), state="accepted", by="李工")
        before = _contents(store)
        with store.writing():
            store.execute("DROP TABLE run_attempts")
            store.execute("DELETE FROM schema_version WHERE version = 5")
            if backend == "gpkg":
                store.execute("DELETE FROM gpkg_contents WHERE table_name = 'run_attempts'")
    with pytest.raises(StoreError, match="lacks schema migration.s. 5 "):  # a reader waits for the migration
        open_store(path, create=False)
    assert cli("history", "migrate", "--history", path).exit_code == 0
    with open_store(path, create=False) as store:
        assert store.migrations() == {1, 2, 3, 4, 5, 6}
        after = _contents(store)
        assert queries.runs(store)["review"].tolist() == ["accepted"]
        assert store.query("SELECT COUNT(*) AS n FROM run_attempts")["n"].iloc[0] == 0
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], obj=name)


def test_refusals(tmp_path: Path, runs: Runs) -> None:
    with pytest.raises(StoreError, match="not a sinkzone history store"):
        open_store(str(runs.a.out_dir / "sinkzones.gpkg"))
    with pytest.raises(StoreError, match="not a finished sinkzone output"):
        ingest_folder(tmp_path, target=str(tmp_path / "h.gpkg"))
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(runs.a.out_dir), str(copy)], check=True)
    record = json.loads((copy / "run.json").read_text(encoding="utf-8"))
    record["rows"]["zone_class_area"] += 1
    (copy / "run.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(StoreError, match="do not match the run"):
        ingest_folder(copy, target=str(tmp_path / "h.gpkg"))
    assert not (tmp_path / "h.gpkg").exists()  # refused before the store was opened


def test_a_run_whose_store_is_unreachable_keeps_its_output(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    config = write_config(folder, rasters={2020: write_tiled_raster(folder / "lc.tif", land_cover())},
                          zones=write_zone_layer(folder / "zones.gpkg", two_zones()))
    down = f"postgresql://sinkzone_writer@/history?host={tmp_path}&port=9"  # no server listens there
    result = cli("run", str(config), "--history", down)
    assert result.exit_code == NOT_STORED_EXIT, result.output
    assert "not stored:" in result.output
    assert "cannot connect" in result.output
    assert (folder / "out" / "run.json").is_file()
    caught_up = cli("ingest", str(folder / "out"), "--history", str(tmp_path / "h.gpkg"))
    assert caught_up.exit_code == 0
    assert "stored:" in caught_up.output


def test_history_commands(tmp_path: Path, runs: Runs) -> None:
    store = str(tmp_path / "h.gpkg")
    for result in (runs.a, runs.c):
        ingest(open_store(store), read_run_output(result.out_dir, tables=LAYERS))
    a, c = str(runs.a.record["run_id"]), str(runs.c.record["run_id"])
    assert cli("history", "accept", a[:8], "--history", store, "--by", "li").exit_code == 0
    listed = json.loads(cli("history", "runs", "--history", store, "--format", "json").output)
    assert {r["run_id"]: r["review"] for r in listed} == {a: "accepted", c: "draft"}
    assert {r["run_id"]: r["years"] for r in listed} == {a: "2020", c: "2020"}  # each run measured 2020 only
    coverage = cli("history", "coverage", "--history", store, "--format", "csv").output.splitlines()
    assert coverage[0].endswith("zone_id,2020")
    assert all(line.endswith(",accepted") for line in coverage[1:])
    changed = pd.read_csv(pd.io.common.StringIO(cli("history", "diff", a, c, "--history", store, "--format",
                                                    "csv").output))
    assert changed["zone_id"].iloc[0] == "z0"  # only z0's boundary changed: its figures lead the differences
    assert (changed.loc[changed["zone_id"] == "z1", "change"].fillna(0) == 0).all()
    exported = cli("history", "export", "--history", store, "--out", str(tmp_path / "series.xlsx"), "--zone", "z1")
    assert exported.exit_code == 0
    assert (tmp_path / "series.xlsx").is_file()
    assert_clean_failure(cli("history", "show", "nope", "--history", store), "no stored run", "nope")


def test_current_zones_opens_styled_in_qgis(target: Target, runs: Runs, tmp_path: Path) -> None:
    ingest_folder(runs.a.out_dir, target=target.writer)
    if target.reader.endswith(".gpkg"):
        uri, provider = f"{target.reader}|layername=current_zones", "ogr"
    else:
        info = psycopg.conninfo.conninfo_to_dict(target.reader)
        uri = (f"dbname='{info['dbname']}' host={info['host']} port={info['port']} user='{info['user']}' "
               "key='fid' srid=4326 type=MultiPolygon table=\"public\".\"current_zones\" (geom)")
        provider = "postgres"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    env.pop("PYTHONPATH", None)  # the venv's packages must not shadow Debian's for the system Python
    done = subprocess.run([QGIS_PYTHON, str(ROOT / "tests" / "qgis_history_check.py"), uri, provider],
                          capture_output=True, text=True, env=env, timeout=300, check=False, cwd=ROOT / "tests")
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["valid"]
    assert seen["features"] == 2
    assert seen["style"] == current_zones_style().name
    assert seen["renderer"] == "categorizedSymbol"


def test_batch_and_config_store_every_run(tmp_path: Path) -> None:
    batch = tmp_path / "configs"
    batch.mkdir()
    write_config(batch, rasters={2020: write_tiled_raster(tmp_path / "lc.tif", land_cover())},
                 zones=write_zone_layer(tmp_path / "zones.gpkg", two_zones()), out=tmp_path / "out",
                 history={"target": "../history.gpkg"})  # relative to the config's folder
    first = cli("batch", str(batch))
    assert first.exit_code == 0, first.output
    with open_store(str(tmp_path / "history.gpkg"), create=False) as store:
        stored = store.query("SELECT run_id, output_dir FROM runs")
    assert stored["output_dir"].tolist() == [str(tmp_path / "out")]
    assert [(a["status"], a["run_id"]) for a in _attempts(str(tmp_path / "history.gpkg"))] == [
        ("done", stored["run_id"].iloc[0])]
    elsewhere = cli("batch", str(batch), "--history", str(tmp_path / "other.gpkg"))  # the flag wins over the config
    assert elsewhere.exit_code == 0, elsewhere.output
    with open_store(str(tmp_path / "other.gpkg"), create=False) as store:
        assert store.query("SELECT run_id FROM runs")["run_id"].tolist() == stored["run_id"].tolist()
    assert [a["status"] for a in _attempts(str(tmp_path / "other.gpkg"))] == ["up to date"]
    assert len(_attempts(str(tmp_path / "history.gpkg"))) == 1  # the flag's store took this one


def test_a_disk_that_fills_during_ingest_stores_nothing(tmp_path: Path, runs: Runs) -> None:
    with mounted_tmpfs(tmp_path / "disk", size="1m") as disk:
        store = str(disk / "history.gpkg")
        open_store(store).close()
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (shutil.disk_usage(disk).free - 8192))  # two pages left: the ingest needs more
        with pytest.raises(StoreUnavailable, match="free some space"):
            ingest_folder(runs.a.out_dir, target=store)
        with open_store(store, create=False) as opened:
            assert opened.query("SELECT COUNT(*) AS n FROM runs")["n"].iloc[0] == 0
        filler.unlink()
        assert ingest_folder(runs.a.out_dir, target=store).stored


def test_whole_numbers_beside_gaps_are_stored_as_integers(target: Target, runs: Runs) -> None:
    """A carbon row without a source holds source_id as a gap, so the column arrives as floats (1.0, NaN): it must go
    in as the integer 1 and NULL (PostgreSQL's COPY refuses "1.0" for a bigint)."""
    output = read_run_output(runs.a.out_dir, tables=LAYERS)
    carbon = pd.DataFrame({"zone_id": ["z0", "z1"], "year": [2020, 2020], "pool": ["above", "above"],
                           "carbon_t": [1.5, 2.5], "co2e_t": [5.5, 9.2], "method": ["pools_table", "pools_table"],
                           "source_id": [1.0, float("nan")]})
    with_carbon = RunOutput(folder=output.folder, record=output.record, zones=output.zones,
                            tables={**output.tables, "zone_carbon": carbon})
    with open_store(target.writer) as store:
        ingest(store, with_carbon)
        whole = store.query("SELECT zone_id FROM carbon WHERE source_id = 1")["zone_id"].tolist()
        gap = store.query("SELECT zone_id FROM carbon WHERE source_id IS NULL")["zone_id"].tolist()
        if store.dialect == "gpkg":  # SQLite keeps whatever type it is given; PostgreSQL's bigint took it above
            assert store.query("SELECT typeof(source_id) AS t FROM carbon WHERE zone_id = 'z0'")["t"].iloc[0] == \
                "integer"
    assert (whole, gap) == (["z0"], ["z1"])


def _attempts(target: str) -> list[dict[str, object]]:
    listed = cli("history", "attempts", "--history", target, "--format", "json")
    assert listed.exit_code == 0, listed.output
    found: list[dict[str, object]] = json.loads(listed.output)
    return found


def test_a_batch_records_each_configs_attempt(target: Target, tmp_path: Path) -> None:
    folder = two_config_batch(tmp_path)
    result = cli("batch", str(folder), "--history", target.writer)
    assert result.exit_code == 1, result.output  # one of two failed: the exit code batches always gave
    listed = _attempts(target.reader)
    # bad.yaml runs before good.yaml (name order); newest first lists good first
    assert [(a["config_name"], a["status"]) for a in listed] == [("good", "done"), ("bad", "failed")]
    good, bad = listed
    assert "nowhere.tif" in str(bad["detail"])
    assert "not found" in str(bad["detail"])
    assert bad["run_id"] is None
    with open_store(target.reader, create=False) as store:
        stored = store.query("SELECT run_id FROM runs")["run_id"].tolist()
    assert [good["run_id"]] == stored
    assert (good["config_path"], bad["config_path"]) == (str(folder / "good.yaml"), str(folder / "bad.yaml"))
    assert {a["host"] for a in listed} == {socket.gethostname()}
    for attempt in listed:
        assert str(attempt["started_utc"]) <= str(attempt["finished_utc"])
    assert str(bad["finished_utc"]) <= str(good["started_utc"])
    text = cli("history", "attempts", "--history", target.reader)
    assert "nowhere.tif" in text.output


def test_a_batch_whose_store_is_unreachable_finishes_and_says_so(tmp_path: Path) -> None:
    folder = two_config_batch(tmp_path)
    down = f"postgresql://sinkzone_writer@/history?host={tmp_path}&port=9"  # no server listens there
    result = cli("batch", str(folder), "--history", down)
    flat = " ".join(result.output.split())
    assert result.exit_code == 1, result.output  # bad failed; the store's refusal adds nothing to the code
    assert "bad.yaml: the attempt (failed) is not recorded in the history store" in flat
    assert "good.yaml: the attempt (not stored) is not recorded in the history store" in flat
    assert "postgresql://sinkzone_writer@" in flat  # the store named, as the connection error gives it
    assert "cannot connect" in flat
    assert (tmp_path / "out_good" / "run.json").is_file()
    (folder / "bad.yaml").unlink()
    alone = cli("batch", str(folder), "--history", down)
    assert alone.exit_code == NOT_STORED_EXIT, alone.output  # every run finished, the store took none: 4, as ever
    assert "the attempt (not stored) is not recorded in the history store" in " ".join(alone.output.split())
