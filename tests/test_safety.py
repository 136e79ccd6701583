"""Issue 11: sinkzone never destroys a file it did not write, and "up to date" never skips a run whose
inputs changed. Each case is built the way a bureau's folders look: documents beside outputs, the data
folder itself named as output, Shapefiles edited in QGIS, tiles replaced behind a VRT."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import geopandas as gpd
import pyproj
import pytest
import yaml
from builders import ORIGIN, good_inputs, land_cover, two_zones, write_config, write_tiled_raster, write_zone_layer
from cli_support import assert_clean_failure, cli, mounted_tmpfs

from pipeline.core.names import OUTPUT_MARKER
from pipeline.files import paths, rasters
from pipeline.files.lock import lock_path


def _set(config: Path, **changes: object) -> Path:
    raw = yaml.safe_load(config.read_text())
    raw.update(changes)
    config.write_text(yaml.safe_dump(raw))
    return config


def _out_of(config: Path) -> Path:
    return Path(yaml.safe_load(config.read_text())["output"]["dir"])


# ---- the output folder is sinkzone's own, or it is refused ----------------------------------------


def test_a_folder_of_other_files_is_refused_and_kept(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    docs = tmp_path / "documents"
    (docs / "sub").mkdir(parents=True)
    (docs / "plan.docx").write_bytes(b"the bureau's plan")
    (docs / "sub" / "map.pdf").write_bytes(b"%PDF")
    _set(config, output={"dir": str(docs)})
    for command in ("validate", "run"):
        assert_clean_failure(cli(command, str(config)), "is not empty and is not a sinkzone output folder")
    assert (docs / "plan.docx").read_bytes() == b"the bureau's plan"
    assert (docs / "sub" / "map.pdf").read_bytes() == b"%PDF"
    assert sorted(p.name for p in docs.iterdir()) == ["plan.docx", "sub"]


@pytest.mark.parametrize("folder", [".", ".."])
def test_a_folder_holding_the_inputs_is_refused(tmp_path: Path, folder: str) -> None:
    data = tmp_path / "project" / "data"
    data.mkdir(parents=True)
    config = good_inputs(data)
    _set(config, output={"dir": folder})
    before = sorted(p.name for p in data.iterdir())
    result = cli("run", str(config))
    assert_clean_failure(result, "the output folder holds the input")
    assert result.exit_code == 2
    assert sorted(p.name for p in data.iterdir()) == before


def test_a_symlink_to_a_shared_folder_of_other_files_is_refused(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "other_project.gpkg").write_bytes(b"someone else's")
    link = tmp_path / "link"
    link.symlink_to(shared)
    _set(config, output={"dir": str(link)})
    assert_clean_failure(cli("run", str(config)), "not a sinkzone output folder")
    assert (shared / "other_project.gpkg").read_bytes() == b"someone else's"


def test_a_mount_point_is_refused_before_any_compute(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "disk", size="4m") as mount:
        config = _set(good_inputs(tmp_path), output={"dir": str(mount)})
        result = cli("run", str(config))
        assert_clean_failure(result, "is a mount point", "choose a sub-folder")
        assert result.exit_code == 2
        assert list(mount.iterdir()) == []


def test_the_marker_is_written_and_a_users_files_survive_reruns(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    out = _out_of(config)
    assert cli("run", str(config)).exit_code == 0
    assert (out / OUTPUT_MARKER).is_file()
    (out / "notes.txt").write_text("field visit 3 May", encoding="utf-8")
    (out / "my_maps").mkdir()
    (out / "my_maps" / "zone1.qgz").write_bytes(b"qgis")
    write_tiled_raster(Path(yaml.safe_load(config.read_text())["landcover"][0]["path"]), land_cover(seed=3))
    assert "done:" in cli("run", str(config)).output
    assert cli("run", str(config), "--overwrite").exit_code == 0
    assert (out / "notes.txt").read_text(encoding="utf-8") == "field visit 3 May"
    assert (out / "my_maps" / "zone1.qgz").read_bytes() == b"qgis"
    assert (out / OUTPUT_MARKER).is_file()


def test_an_output_of_the_previous_version_without_marker_is_adopted(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    out = _out_of(config)
    assert cli("run", str(config)).exit_code == 0
    (out / OUTPUT_MARKER).unlink()
    write_tiled_raster(Path(yaml.safe_load(config.read_text())["landcover"][0]["path"]), land_cover(seed=3))
    result = cli("run", str(config))
    assert result.exit_code == 0, result.output
    assert (out / OUTPUT_MARKER).is_file()


# ---- the lock, leftovers and logs beside the output -----------------------------------------------


def test_a_symlink_planted_at_the_lock_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0", encoding="utf-8")
    lock_path(_out_of(config)).symlink_to(target)
    result = cli("run", str(config))
    assert_clean_failure(result, "out.lock: the lock file is a symbolic link")
    assert result.exit_code == 2
    assert target.read_text(encoding="utf-8") == "root:x:0:0"


def test_a_fifo_at_the_lock_is_refused(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    os.mkfifo(lock_path(_out_of(config)))
    assert_clean_failure(cli("run", str(config)), "out.lock: the lock file is")


def test_an_output_name_with_brackets_is_literal_when_cleaning_up(tmp_path: Path) -> None:
    config = _set(good_inputs(tmp_path), output={"dir": str(tmp_path / "out[12]")})
    other_run = tmp_path / ".out1.staging-1a2b3c4d"  # a live run of output `out1`, mid-write
    other_run.mkdir()
    (other_run / "sinkzones.gpkg").write_bytes(b"half written")
    other_log = tmp_path / ".out2.run-20240101T000000Z-99.log.jsonl"
    other_log.write_text("{}\n")
    result = cli("run", str(config))
    assert result.exit_code == 0, result.output
    assert (other_run / "sinkzones.gpkg").read_bytes() == b"half written"
    assert other_log.is_file()
    assert (tmp_path / "out[12]" / "run.json").is_file()


def test_interrupted_run_logs_are_bounded(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    for n in range(25):  # logs of killed runs, 25 nights in a row
        (tmp_path / f".out.run-202401{n + 1:02d}T023000Z-{100 + n}.log.jsonl").write_text("{}\n")
    assert cli("run", str(config)).exit_code == 0
    kept = sorted(p.name for p in tmp_path.glob("out.interrupted-*.log.jsonl"))
    assert len(kept) == 10
    assert kept[-1] == "out.interrupted-20240125T023000Z-124.log.jsonl"  # the newest are kept
    assert kept[0] == "out.interrupted-20240116T023000Z-115.log.jsonl"


def test_two_configs_sharing_name_and_output_but_not_zones_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    first = good_inputs(tmp_path / "a")
    out = _out_of(first)
    assert cli("run", str(first)).exit_code == 0
    before = (out / "run.json").read_bytes()
    (tmp_path / "b").mkdir()
    second = good_inputs(tmp_path / "b")
    _set(second, output={"dir": str(out)})  # same `name: test`, same output, other zone layer
    result = cli("run", str(second))
    assert_clean_failure(result, "holds the output of another run", str(tmp_path / "a" / "zones.gpkg"),
                         str(tmp_path / "b" / "zones.gpkg"))
    assert (out / "run.json").read_bytes() == before


# ---- "up to date" only when every byte read is unchanged ------------------------------------------


def _rerun_recomputes(config: Path) -> None:
    result = cli("run", str(config))
    assert result.exit_code == 0, result.output
    assert "done:" in result.output, result.output


def _first_run(config: Path) -> None:
    assert "done:" in cli("run", str(config)).output
    assert "up to date" in cli("run", str(config)).output


def test_swapping_two_epochs_files_recomputes(tmp_path: Path) -> None:
    a = write_tiled_raster(tmp_path / "lc_a.tif", land_cover(seed=1))
    b = write_tiled_raster(tmp_path / "lc_b.tif", land_cover(seed=2))
    zones = write_zone_layer(tmp_path / "zones.gpkg", two_zones())
    config = write_config(tmp_path, rasters={2019: a, 2020: b}, zones=zones)
    _first_run(config)
    a.rename(tmp_path / "tmp.tif")
    b.rename(a)
    (tmp_path / "tmp.tif").rename(b)  # the years were mislabelled
    _rerun_recomputes(config)


def _shapefile(tmp_path: Path) -> tuple[Path, Path]:
    shp = tmp_path / "zones.shp"
    gpd.GeoDataFrame({"zid": ["z0", "z1"]}, geometry=two_zones(), crs="EPSG:4326").to_file(shp, encoding="UTF-8")
    raster = write_tiled_raster(tmp_path / "lc.tif", land_cover())
    return write_config(tmp_path, rasters={2020: raster}, zones=shp), shp


@pytest.mark.parametrize("sidecar", [".dbf", ".prj", ".cpg"])
def test_editing_a_shapefile_sidecar_recomputes(tmp_path: Path, sidecar: str) -> None:
    config, shp = _shapefile(tmp_path)
    _first_run(config)
    part = shp.with_suffix(sidecar)
    if sidecar == ".dbf":  # a zone id corrected in QGIS's attribute table: same length, new text
        part.write_bytes(part.read_bytes().replace(b"z1", b"z9"))
    elif sidecar == ".prj":  # the CRS corrected to CGCS2000
        part.write_text(pyproj.CRS.from_epsg(4490).to_wkt(pyproj.enums.WktVersion.WKT1_ESRI))
    else:
        part.write_text("GBK")
    _rerun_recomputes(config)


def _tiles(tmp_path: Path) -> tuple[Path, Path]:
    """The test raster split into a west and an east tile."""
    values = land_cover()
    folder = tmp_path / "tiles"
    folder.mkdir()
    west = write_tiled_raster(folder / "t_west.tif", values[:, :32].copy())
    east = write_tiled_raster(folder / "t_east.tif", values[:, 32:].copy(),
                              transform=ORIGIN * ORIGIN.translation(32, 0))
    return west, east


def test_replacing_a_tile_of_a_glob_recomputes(tmp_path: Path) -> None:
    west, _ = _tiles(tmp_path)
    config = write_config(tmp_path, rasters={2020: tmp_path / "tiles" / "t_*.tif"},
                          zones=write_zone_layer(tmp_path / "zones.gpkg", two_zones()))
    _first_run(config)
    write_tiled_raster(west, land_cover(seed=5)[:, :32].copy())
    _rerun_recomputes(config)


def test_replacing_a_tile_behind_a_vrt_recomputes(tmp_path: Path) -> None:
    _, east = _tiles(tmp_path)
    vrt = tmp_path / "tiles" / "mosaic.vrt"
    vrt.write_text(rasters.raster_source(tmp_path / "tiles" / "t_*.tif"), encoding="utf-8")
    config = write_config(tmp_path, rasters={2020: vrt}, zones=write_zone_layer(tmp_path / "zones.gpkg", two_zones()))
    _first_run(config)
    write_tiled_raster(east, land_cover(seed=5)[:, 32:].copy(), transform=ORIGIN * ORIGIN.translation(32, 0))
    _rerun_recomputes(config)


def test_a_geopackage_edit_still_in_its_wal_recomputes(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    gpkg = tmp_path / "zones.gpkg"
    with sqlite3.connect(gpkg) as first:  # QGIS switches a GeoPackage it edits to WAL mode, which persists
        first.execute("PRAGMA journal_mode=WAL")
    first.close()
    _first_run(config)
    held = sqlite3.connect(gpkg)  # QGIS still has the layer open: the edit stays in the -wal file
    try:
        for name in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):  # GeoPackage triggers name them
            held.create_function(name, 1, lambda _: 0)
        held.execute("PRAGMA wal_autocheckpoint=0")
        table = held.execute("SELECT table_name FROM gpkg_contents WHERE data_type='features'").fetchone()[0]
        before = gpkg.read_bytes()
        held.execute(f'UPDATE "{table}" SET zid = \'z7\' WHERE zid = \'z1\'')
        held.commit()
        assert gpkg.read_bytes() == before
        assert gpkg.with_name("zones.gpkg-wal").stat().st_size > 0
        result = cli("run", str(config))
        assert "done:" in result.output, result.output
    finally:
        held.close()


def test_the_fingerprint_covers_the_wal_and_every_shapefile_part(tmp_path: Path) -> None:
    gpkg = write_zone_layer(tmp_path / "zones.gpkg", two_zones())
    wal = gpkg.with_name("zones.gpkg-wal")
    wal.write_bytes(b"WAL frame 1")
    first = paths.fingerprint(gpkg)
    wal.write_bytes(b"WAL frame 2")  # the main file is unchanged: only the log holds the edit
    assert paths.fingerprint(gpkg)["sha256"] != first["sha256"]
    _, shp = _shapefile(tmp_path)
    assert {Path(f).suffix for f in paths.fingerprint(shp)["files"]} == {".shp", ".shx", ".dbf", ".prj", ".cpg"}
