"""Afforestation candidate land on a small projected raster (10 m cells: 4 cells = 400 m² exactly).

Layout (row, column) of the 128 x 128 test raster; background is forest (10) in both epochs.
Zone A is columns 0-39 (x 0-400 m), zone B columns 40-127. With chunk_cells 64 the chunks meet at
row 64 and column 64. Codes are ESA WorldCover: 10 forest, 30 grass, 40 crop, 60 bare, 80 water, 0 nodata.
  P1 grass rows 10-11, cols 10-11: 4 cells = 400 m² in A                          -> kept (threshold exactly)
  P2 grass (20,10), (20,11), (21,10): 3 cells = 300 m²                            -> dropped
  P3 crop row 30, cols 62-65: 4 cells, 2 on each side of the column-64 border     -> one 400 m² parcel in B
  P4 grass rows 50-51, cols 37-44: 16 cells across the zone border at col 40      -> A 6 cells = 600 m²,
                                                                                     B 10 cells = 1000 m²
  P5 grass row 60, cols 38-43: A part 2 cells = 200 m² (dropped), B part 4 cells  -> B 400 m² kept
  P6 bare rows 63-64, cols 100-101: 2 cells on each side of the row-64 border     -> one 400 m² parcel in B
  P7 forest in 2017, grass in 2021, rows 80-81, cols 80-81                        -> not eligible (was forest)
  P8 water rows 90-91, cols 90-91                                                 -> excluded class
  P9 nodata in 2017, grass in 2021, rows 100-101, cols 100-101                    -> not eligible (unobserved)
  P10 row 120: grass cols 10-11, crop cols 12-13: two one-class patches of 200 m² -> both dropped
Expected with epochs 2017 + 2021 (look-back 3 years reaches 2018, so the history is checked):
  A: grass 400, grass 600; B: crop 400, grass 1000, grass 400, bare 400 (m²).
With 2021 alone P7 and P9 become candidates too (grass 400 m² each in B) and the history is unchecked.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from builders import write_raster
from rasterio import features
from rasterio.transform import from_origin

from pipeline.core.classmaps import builtin_class_map
from pipeline.core.config import RunConfig
from pipeline.core.grid import Grid, to_pixel_space
from pipeline.measure.kernels import screening as cand
from pipeline.run import runner

X0, Y0, CELL, N = 500_000.0, 1_001_280.0, 10.0, 128
CRS = "EPSG:32633"
TRANSFORM = from_origin(X0, Y0, CELL, CELL)


def rasters() -> dict[int, np.ndarray]:
    late = np.full((N, N), 10, dtype=np.uint8)
    late[10:12, 10:12] = 30                       # P1
    late[20, 10:12] = 30
    late[21, 10] = 30                             # P2
    late[30, 62:66] = 40                          # P3
    late[50:52, 37:45] = 30                       # P4
    late[60, 38:44] = 30                          # P5
    late[63:65, 100:102] = 60                     # P6
    late[80:82, 80:82] = 30                       # P7
    late[90:92, 90:92] = 80                       # P8
    late[100:102, 100:102] = 30                   # P9
    late[120, 10:12] = 30
    late[120, 12:14] = 40                         # P10
    early = late.copy()
    early[80:82, 80:82] = 10                      # P7 was forest
    early[100:102, 100:102] = 0                   # P9 unobserved
    return {2017: early, 2021: late}


def zones() -> gpd.GeoDataFrame:
    a = shapely.box(X0, Y0 - N * CELL, X0 + 40 * CELL, Y0)
    b = shapely.box(X0 + 40 * CELL, Y0 - N * CELL, X0 + N * CELL, Y0)
    return gpd.GeoDataFrame({"zid": ["A", "B"]}, geometry=[a, b], crs=CRS)


EXPECTED_TWO = [("A", "grassland", 400.0), ("A", "grassland", 600.0), ("B", "bare", 400.0),
                ("B", "cropland", 400.0), ("B", "grassland", 400.0), ("B", "grassland", 1000.0)]
EXPECTED_ONE = sorted([*EXPECTED_TWO, ("B", "grassland", 400.0), ("B", "grassland", 400.0)])


def summary(frame: gpd.GeoDataFrame | object) -> list[tuple[str, str, float]]:
    return sorted((z, c, round(a * 10_000, 6)) for z, c, a in
                  zip(frame["zone_id"], frame["land_class"], frame["area_ha"], strict=True))  # type: ignore[index]


def _screening(min_m2: float = 400.0) -> cand.Screening:
    cmap = builtin_class_map("esa_worldcover")
    return cand.make_screening(cmap.classes, never=("forest", "shrub"),
                               excluded=("wetland", "water", "built", "snow_ice"), min_parcel_m2=min_m2)


def numpy_candidates(years: list[int], *, row_cuts: list[int], col_cuts: list[int], min_m2: float = 400.0,
                     data: dict[int, np.ndarray] | None = None, z: gpd.GeoDataFrame | None = None):
    """The stage functions on hand-cut chunks, without dask (the layout above unless data and zones given)."""
    data = rasters() if data is None else data
    z = zones() if z is None else z
    rules = _screening(min_m2)
    grid = Grid(transform=TRANSFORM, width=N, height=N, crs=pyproj.CRS(CRS))
    rows, cols = [0, *row_cuts, N], [0, *col_cuts, N]
    windows = [(r0, c0, r1 - r0, c1 - c0) for r0, r1 in zip(rows[:-1], rows[1:], strict=True)
               for c0, c1 in zip(cols[:-1], cols[1:], strict=True)]
    by_chunk = cand.zones_by_chunk(to_pixel_space(z.geometry.to_numpy(), grid), windows)
    parts = [cand.chunk_pieces([data[y][r0:r0 + h, c0:c0 + w] for y in years], [0] * len(years), rules, chunk_zones,
                               row_off=r0, col_off=c0, grid_shape=(N, N), max_cell_m2=100.0)
             for (r0, c0, h, w), chunk_zones in zip(windows, by_chunk, strict=True)]
    return cand.candidate_table(cand.merge_pieces(*parts), rules, grid=grid,
                                zone_ids=z["zid"].to_numpy(dtype=object), years=years, checked=len(years) > 1,
                                lookback_years=3)


@pytest.mark.parametrize(("row_cuts", "col_cuts"), [([], []), ([64], [64]), ([11, 31, 64], [11, 40, 63, 101])])
def test_parcels_do_not_depend_on_chunking(row_cuts: list[int], col_cuts: list[int]) -> None:
    # cuts at 11 split P1, at 31 nothing, at 40 (the zone border) P4/P5, at 63 P3; all must merge back
    _, frame = numpy_candidates([2017, 2021], row_cuts=row_cuts, col_cuts=col_cuts)
    assert summary(frame) == EXPECTED_TWO


def random_case(seed: int) -> tuple[dict[int, np.ndarray], gpd.GeoDataFrame]:
    """Blobs of grass, crop, bare and water in forest, some forest in the early epoch; ragged zones with
    slanted edges and gaps between them, none aligned with the cells."""
    rng = np.random.default_rng(seed)
    coarse = rng.choice(np.array([10, 30, 30, 40, 60, 80], dtype=np.uint8), size=(N // 4, N // 4))
    late = np.kron(coarse, np.ones((4, 4), dtype=np.uint8))
    late[rng.random((N, N)) < 0.15] = 10      # speckle: ragged patches, holes, diagonal-only contacts
    early = late.copy()
    early[rng.random((N, N)) < 0.05] = 10
    seeds = shapely.multipoints(rng.uniform([X0, Y0 - N * CELL], [X0 + N * CELL, Y0], (12, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=shapely.box(X0, Y0 - N * CELL,
                                                                                      X0 + N * CELL, Y0)))
    ragged = shapely.buffer(shapely.segmentize(cells, 50.0), -7.0, join_style="mitre")
    return {2017: early, 2021: late}, gpd.GeoDataFrame({"zid": [f"Z{i}" for i in range(len(ragged))]},
                                                       geometry=ragged, crs=CRS)


def brute_force(data: dict[int, np.ndarray], z: gpd.GeoDataFrame, *, min_m2: float) -> list[tuple[str, str, float]]:
    """The definition, on the whole raster at once: 4-connected patches of one eligible class, cut by each
    zone, kept at min_m2 or more."""
    names = {30: "grassland", 40: "cropland", 60: "bare"}
    late = data[2021]
    eligible = np.isin(late, list(names)) & (data[2017] != 10) & (data[2017] != 0)
    found = list(features.shapes(np.where(eligible, late, 0), mask=eligible, connectivity=4, transform=TRANSFORM))
    patches = np.array([shapely.geometry.shape(g) for g, _ in found], dtype=object)
    return sorted((zid, names[int(code)], part.area)
                  for zid, zone in zip(z["zid"], z.geometry, strict=True)
                  for patch, (_, code) in zip(patches, found, strict=True)
                  for part in shapely.get_parts(shapely.intersection(patch, zone))
                  if shapely.get_type_id(part) == 3 and part.area >= min_m2 * (1 - 1e-9))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_case_matches_brute_force(seed: int) -> None:
    data, z = random_case(seed)
    expected = brute_force(data, z, min_m2=400.0)
    _, frame = numpy_candidates([2017, 2021], row_cuts=[23, 64, 97], col_cuts=[17, 64, 90], data=data, z=z)
    got = sorted(zip(frame["zone_id"], frame["land_class"], frame["area_ha"] * 10_000, strict=True))
    assert len(expected) > 50
    assert [(zid, c) for zid, c, _ in got] == [(zid, c) for zid, c, _ in expected]
    assert np.allclose([a for *_, a in got], [a for *_, a in expected], rtol=1e-9, atol=1e-6)


def test_threshold_both_sides() -> None:
    # 401 m² drops every 400 m² parcel: only A 600 and B 1000 remain; 300 m² keeps P2 (3 cells) too
    _, frame = numpy_candidates([2017, 2021], row_cuts=[64], col_cuts=[64], min_m2=401.0)
    assert summary(frame) == [("A", "grassland", 600.0), ("B", "grassland", 1000.0)]
    _, frame = numpy_candidates([2017, 2021], row_cuts=[64], col_cuts=[64], min_m2=300.0)
    assert ("A", "grassland", 300.0) in summary(frame)
    assert ("A", "grassland", 200.0) not in summary(frame)   # P5's A part and P10 stay below 300


def test_zone_split_geometry() -> None:
    geoms, frame = numpy_candidates([2017, 2021], row_cuts=[64], col_cuts=[64])
    a_big = geoms[(frame["zone_id"] == "A").to_numpy() & np.isclose(frame["area_ha"], 0.06)][0]
    # P4's part in A: columns 37-39, rows 50-51 -> x 370..400 m, y 780..800 m below the top edge
    assert a_big.equals(shapely.box(X0 + 370, Y0 - 520, X0 + 400, Y0 - 500))


def _write(tmp_path: Path, years: list[int]) -> RunConfig:
    epochs = []
    for year in years:
        path = write_raster(tmp_path / f"lc_{year}.tif", rasters()[year], transform=TRANSFORM, crs=CRS, nodata=0,
                            blocks=64)
        epochs.append({"year": year, "path": str(path), "product": "esa_worldcover", "version": "test"})
    zones().to_file(tmp_path / "zones.gpkg", layer="zones")
    return RunConfig.model_validate({
        "name": "candidates-test", "landcover": epochs, "classes": "esa_worldcover",
        "zones": {"path": str(tmp_path / "zones.gpkg"), "id_field": "zid"},
        "output": {"dir": str(tmp_path / "out")}, "compute": {"chunk_cells": 64, "workers": 2},
        "candidates": {}})


def test_run_two_epochs_through_dask(tmp_path: Path) -> None:
    runner.run(_write(tmp_path, [2017, 2021]))
    layer = gpd.read_file(tmp_path / "out" / "sinkzones.gpkg", layer="afforestation_candidates")
    assert summary(layer) == EXPECTED_TWO
    assert set(layer["epochs_checked"]) == {"2017,2021"}
    assert layer["history_checked"].all()
    # area_mu = m² / 666.67: 1000 m² = 1.5 亩
    assert layer.loc[np.isclose(layer["area_ha"], 0.1), "area_mu"].iloc[0] == pytest.approx(1.5)


def test_single_epoch_run_says_history_unchecked(tmp_path: Path) -> None:
    runner.run(_write(tmp_path, [2021]))
    layer = gpd.read_file(tmp_path / "out" / "sinkzones.gpkg", layer="afforestation_candidates")
    assert summary(layer) == EXPECTED_ONE
    assert not layer["history_checked"].any()
    assert "could not be checked" in layer["note"].iloc[0]


def test_lookback_window() -> None:
    # latest 2021, look-back 3 -> window starts at the last epoch at or before 2018
    assert cand.lookback_epochs([2010, 2015, 2018, 2020, 2021], lookback_years=3) == ([2018, 2020, 2021], True)
    assert cand.lookback_epochs([2016, 2021], lookback_years=3) == ([2016, 2021], True)
    assert cand.lookback_epochs([2020, 2021], lookback_years=3) == ([2020, 2021], False)
    assert cand.lookback_epochs([2021], lookback_years=3) == ([2021], False)


# ---- minimum mapping unit on a 30 m grid (900 m² cells, coarser than the 400 m² rule) ----------------
# 12 x 12 cells of grass (30) in forest (10), one zone over everything, chunks meet at row 6 and column 6.
#   S1 one cell (2, 2)                                   -> 900 m² >= 400 m², but 1 cell < min_cells 2: dropped
#   S2 two cells (2, 8), (3, 8)                          -> 1800 m², 2 cells: kept
#   S3 (5, 3) above the row-6 border, (6, 3) below it    -> one cell in each chunk, 2 cells merged: kept
#   S4 diagonal neighbours (9, 9), (10, 10)              -> two 1-cell patches (4-connected): both dropped
CELL30 = 30.0
TRANSFORM30 = from_origin(X0, Y0, CELL30, CELL30)


def _coarse(min_cells: int, *, cuts: list[int]) -> tuple[np.ndarray, object]:
    late = np.full((12, 12), 10, dtype=np.uint8)
    for r, c in ((2, 2), (2, 8), (3, 8), (5, 3), (6, 3), (9, 9), (10, 10)):
        late[r, c] = 30
    cmap = builtin_class_map("esa_worldcover")
    rules = cand.make_screening(cmap.classes, never=("forest", "shrub"), excluded=("water",), min_parcel_m2=400.0,
                                min_cells=min_cells)
    grid = Grid(transform=TRANSFORM30, width=12, height=12, crs=pyproj.CRS(CRS))
    edges = [0, *cuts, 12]
    windows = [(r0, c0, r1 - r0, c1 - c0) for r0, r1 in zip(edges[:-1], edges[1:], strict=True)
               for c0, c1 in zip(edges[:-1], edges[1:], strict=True)]
    zone = shapely.box(X0, Y0 - 12 * CELL30, X0 + 12 * CELL30, Y0)
    by_chunk = cand.zones_by_chunk(to_pixel_space(np.array([zone]), grid), windows)
    parts = [cand.chunk_pieces([late[r0:r0 + h, c0:c0 + w]], [0], rules, chunk_zones, row_off=r0, col_off=c0,
                               grid_shape=(12, 12), max_cell_m2=900.0)
             for (r0, c0, h, w), chunk_zones in zip(windows, by_chunk, strict=True)]
    note = cand.mapping_unit_note(rules, cell_m2=900.0)
    return cand.candidate_table(cand.merge_pieces(*parts), rules, grid=grid,
                                zone_ids=np.array(["Z"], dtype=object), years=[2021], checked=False,
                                lookback_years=3, unit_note=note)


@pytest.mark.parametrize("cuts", [[], [6]])
def test_minimum_mapping_unit_drops_single_cells(cuts: list[int]) -> None:
    _, frame = _coarse(2, cuts=cuts)
    # S2 and S3: 2 cells x 900 m² = 1800 m² each
    assert summary(frame) == [("Z", "grassland", 1800.0), ("Z", "grassland", 1800.0)]
    assert "larger than min_parcel_m2" in frame["note"].iloc[0]
    assert "fewer than 2 cells" in frame["note"].iloc[0]
    # min_cells 1: the 400 m² rule alone keeps S1 and both S4 cells too (900 m² each)
    _, every = _coarse(1, cuts=cuts)
    assert summary(every) == sorted([("Z", "grassland", 900.0)] * 3 + [("Z", "grassland", 1800.0)] * 2)


def test_drop_small_patches_keeps_patches_at_inner_borders() -> None:
    values = np.zeros((4, 5), dtype=np.int32)
    values[0, 0] = 1          # one cell on the top edge
    values[2, 2] = 2          # one cell inside
    values[2:4, 4] = 1        # two cells on the right edge
    # top is an inner border: the top cell may go on in the chunk above, so it stays; the inside cell goes
    kept = cand.drop_small_patches(values, min_cells=2, inner=(True, False, False, False))
    assert kept[0, 0] == 1
    assert kept[2, 2] == 0
    assert (kept[2:4, 4] == 1).all()
    # no inner border: only the 2-cell patch is big enough
    alone = cand.drop_small_patches(values, min_cells=2, inner=(False, False, False, False))
    assert alone[0, 0] == 0
    assert (alone[2:4, 4] == 1).all()


def test_no_mapping_unit_note_when_cells_are_finer_than_the_rule() -> None:
    assert cand.mapping_unit_note(_screening(), cell_m2=100.0) == ""
