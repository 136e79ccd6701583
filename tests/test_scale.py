"""Scale features: chunk-size invariance, tile mosaics (VRT), a dask.distributed cluster, slow layouts."""

from __future__ import annotations

from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import rasterio
import rioxarray
import shapely
from affine import Affine
from builders import write_raster
from numpy.testing import assert_array_equal
from rasterio.transform import from_origin

from pipeline.core.config import RunConfig
from pipeline.core.errors import RasterError
from pipeline.files import paths, rasters
from pipeline.files.mosaic import vrt_xml
from pipeline.inputs.check import check_inputs
from pipeline.inputs.landcover import slow_layout_note
from pipeline.measure.graph import build_graph, compute, split_zone, zone_code_totals
from pipeline.run import runner

CELL = 1.0 / 1200.0  # degrees; about 90 m at 41 N
WEST, NORTH = 109.8, 41.0
HEIGHT, WIDTH = 320, 288
CODES = np.array([10, 20, 30, 40, 50, 60, 80, 90], dtype=np.uint8)


def _landcover(seed: int) -> np.ndarray:
    """Patchy classes: blocky random codes with a scatter of single-cell noise and some nodata (0)."""
    rng = np.random.default_rng(seed)
    coarse = rng.choice(CODES, size=(HEIGHT // 8, WIDTH // 8))
    values = np.kron(coarse, np.ones((8, 8), dtype=np.uint8))
    speckle = rng.random(values.shape) < 0.1
    values[speckle] = rng.choice(CODES, size=int(speckle.sum()))
    values[:5, :7] = 0
    return values


def _write(path: Path, values: np.ndarray, transform: Affine, *, block: int = 64, tiled: bool = True) -> Path:
    return write_raster(path, values.astype(np.uint8), transform=transform, crs="EPSG:4326", nodata=0,
                        blocks=block if tiled else None)


def _zones(path: Path) -> Path:
    """40 overlapping polygons from sub-cell to most of the raster, the large ones with holes."""
    import geopandas as gpd

    rng = np.random.default_rng(7)
    geoms = []
    for _ in range(40):
        cx, cy = WEST + rng.uniform(0.01, 0.23), NORTH - rng.uniform(0.01, 0.25)
        radius = rng.choice([0.0003, 0.003, 0.03, 0.1])
        angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
        r = radius * rng.uniform(0.6, 1.0, 40)
        poly = shapely.Polygon(np.column_stack([cx + r * np.cos(angles), cy + 0.8 * r * np.sin(angles)]))
        geoms.append(poly.difference(shapely.Point(cx, cy).buffer(radius / 4)) if radius > 0.01 else poly)
    frame = gpd.GeoDataFrame({"zid": [f"Z{i:02d}" for i in range(40)]}, geometry=geoms, crs="EPSG:4326")
    frame.to_file(path, driver="GPKG")
    return path


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scale")
    transform = from_origin(WEST, NORTH, CELL, CELL)
    return {
        "a": _write(folder / "lc2020.tif", _landcover(1), transform),
        "b": _write(folder / "lc2021.tif", _landcover(2), transform),
        "zones": _zones(folder / "zones.gpkg"),
        "folder": folder,
    }


def _config(paths: list[Path | str], zones: Path, out: Path, **compute: object) -> RunConfig:
    return RunConfig.model_validate(
        {
            "landcover": [{"year": 2020 + k, "path": str(p)} for k, p in enumerate(paths)],
            "zones": {"path": str(zones), "id_field": "zid"},
            "classes": "esa_worldcover",
            "output": {"dir": str(out)},
            "compute": compute,
        }
    )


def _totals(config: RunConfig) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    inputs = check_inputs(config)
    computed = compute(build_graph(inputs), config=config, progress=None)
    return {year: (t.zone, t.value, t.units) for year, t in computed.totals.items()}


def _lazy_band(path: Path, *, chunks: tuple[int, int]) -> da.Array:
    """Band 1 as rioxarray's lazy dask array, chunked independently of the run's chunks."""
    array = rioxarray.open_rasterio(path, chunks={"band": 1, "y": chunks[0], "x": chunks[1]}, lock=False)
    return array.isel(band=0).data


def _assert_same(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for year in left:
        for a, b in zip(left[year], right[year], strict=True):
            assert_array_equal(a, b)


def test_chunk_size_does_not_change_any_total(case: dict[str, Path]) -> None:
    # integer area units make every (zone, class) sum exact, so chunkings of 64, 128, 192 and whole-raster
    # (one 320 x 288 chunk) must give bit-identical tables, not just close ones
    paths = [case["a"], case["b"]]
    results = [
        _totals(_config(paths, case["zones"], case["folder"] / "o", chunk_cells=n))
        for n in (64, 128, 192, 4096)
    ]
    for other in results[1:]:
        _assert_same(results[0], other)
    assert len(np.unique(results[0][2020][0])) > 30  # many zones really took part


def test_epochs_fused_in_one_chunk_task_equal_one_epoch_at_a_time(case: dict[str, Path]) -> None:
    # The run's fused task (all epochs of a chunk read together) against the public one-array API fed
    # with rioxarray's lazy dask array of each epoch, chunked differently.
    config = _config([case["a"], case["b"]], case["zones"], case["folder"] / "o", chunk_cells=128)
    inputs = check_inputs(config)
    graph = build_graph(inputs)
    fused = dask.compute(graph.totals, scheduler="sync")[0]
    if graph.union_zone is not None:  # these zones overlap: the graph adds their union as one more zone
        fused = {year: split_zone(t, graph.union_zone)[0] for year, t in fused.items()}
    single = {
        e.year: zone_code_totals(_lazy_band(e.path, chunks=(96, 160)), inputs.grid, inputs.zones.geoms, nodata=0)[0]
        for e in config.landcover
    }
    _assert_same(
        {y: (t.zone, t.value, t.units) for y, t in fused.items()},
        {y: (t.zone, t.value, t.units) for y, t in single.items()},
    )


def _split_tiles(source: Path, folder: Path) -> str:
    """Cut a raster into 2 x 3 uneven tiles with their own transforms; return a glob naming them.

    Writing the same tiles again is harmless, so tests sharing the case's folder run in any order.
    """
    folder.mkdir(exist_ok=True)
    with rasterio.open(source) as src:
        values, t = src.read(1), src.transform
    for i, (r0, r1) in enumerate([(0, 128), (128, HEIGHT)]):
        for j, (c0, c1) in enumerate([(0, 64), (64, 200), (200, WIDTH)]):
            _write(folder / f"t{i}{j}.tif", values[r0:r1, c0:c1], t @ Affine.translation(c0, r0), block=16)
    return str(folder / "t*.tif")


def test_tiles_by_glob_and_vrt_give_the_single_file_answer(case: dict[str, Path]) -> None:
    pattern = _split_tiles(case["a"], case["folder"] / "tiles")
    info = rasters.raster_info(Path(pattern))
    assert info.grid == rasters.raster_info(case["a"]).grid  # the mosaic rebuilds the original grid exactly
    vrt = case["folder"] / "mosaic.vrt"
    vrt.write_text(rasters.raster_source(Path(pattern)))
    whole = _totals(_config([case["a"]], case["zones"], case["folder"] / "o", chunk_cells=64))
    for source in (pattern, vrt):
        _assert_same(whole, _totals(_config([source], case["zones"], case["folder"] / "o", chunk_cells=64)))


def test_misaligned_tile_is_refused(case: dict[str, Path]) -> None:
    folder = case["folder"] / "bad"
    folder.mkdir()
    _write(folder / "t0.tif", _landcover(3)[:64, :64], from_origin(WEST, NORTH, CELL, CELL))
    _write(folder / "t1.tif", _landcover(3)[:64, :64], from_origin(WEST + 64.5 * CELL, NORTH, CELL, CELL))
    with pytest.raises(RasterError, match=r"t1\.tif: not aligned"):
        rasters.raster_info(folder / "t*.tif")


def test_vrt_xml_places_tiles_at_their_offsets(case: dict[str, Path]) -> None:
    pattern = Path(_split_tiles(case["a"], case["folder"] / "tiles"))
    xml = vrt_xml([rasters._tile(p) for p in paths.tile_paths(pattern)])
    # tile t12 starts at row 128, column 200 and is 192 rows x 88 columns (320-128, 288-200)
    assert '<DstRect xOff="200" yOff="128" xSize="88" ySize="192"/>' in xml


def test_local_cluster_with_two_worker_processes_gives_the_local_answer(
    case: dict[str, Path], tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    local = runner.run(_config([case["a"], case["b"]], case["zones"], tmp_path / "local", chunk_cells=64))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = runner.run(
            _config(
                [case["a"], case["b"]],
                case["zones"],
                tmp_path / "remote",
                chunk_cells=64,
                scheduler=cluster.scheduler_address,
            )
        )
    left, right = local.tables["zone_class_area"], remote.tables["zone_class_area"]
    assert len(left) > 100
    assert left.equals(right)


@pytest.mark.parametrize(
    ("block", "shape", "expected"),
    [
        ((512, 512), (40000, 40000), None),  # tiled: fine at any size
        ((1, 40000), (40000, 40000), None),  # one row per strip: 40,000 cells per block
        ((8000, 8000), (8000, 8000), "a single block"),  # 64 M cells in one block
        ((512, 40000), (40000, 40000), "strips of 512 rows"),  # 20.5 M cells per strip > 16.8 M
        ((4096, 4096), (8192, 8192), None),  # exactly 2**24 cells: still accepted
    ],
)
def test_slow_layout_note(block: tuple[int, int], shape: tuple[int, int], expected: str | None) -> None:
    note = slow_layout_note("x.tif", block, shape)
    assert (note is None) if expected is None else (expected in str(note))


def test_check_inputs_warns_about_a_single_strip_file(case: dict[str, Path], tmp_path: Path) -> None:
    # a 4200 x 4100 file stored as one 4208 x 4112 tile (tile sizes are multiples of 16): 17.3 M cells > 2**24
    values = np.full((4200, 4100), 30, dtype=np.uint8)
    path = tmp_path / "strip.tif"
    transform = from_origin(WEST, NORTH, CELL, CELL)
    write_raster(path, values, transform=transform, crs="EPSG:4326", nodata=0, blocks=(4208, 4112))
    assert rasters.raster_info(path).block_shape == (4208, 4112)
    inputs = check_inputs(_config([path], case["zones"], tmp_path / "o"), deep=False)
    assert any("strip.tif: stored as a single block" in note for note in inputs.notes)


def test_tile_pattern_run_links_a_vrt_and_makes_its_report(case: dict[str, Path], tmp_path: Path) -> None:
    """A glob is no file GDAL or QGIS can open: the run writes the mosaic's VRT beside the outputs, the QGIS
    land-cover layer links it, and the report's maps read through it (it used to fail after computing)."""
    import zipfile

    from pipeline.core.config import Report

    pattern = _split_tiles(case["a"], case["folder"] / "tiles")
    out = tmp_path / "out"
    runner.run(_config([pattern], case["zones"], out).model_copy(update={"report": Report()}))
    with rasterio.open(out / "landcover_2020.vrt") as mosaic, rasterio.open(case["a"]) as whole:
        assert mosaic.transform == whole.transform
        assert_array_equal(mosaic.read(1), whole.read(1))
    with zipfile.ZipFile(out / "sinkzones.qgz") as archive:
        project = archive.read("sinkzones.qgs").decode()
    assert "<datasource>./landcover_2020.vrt</datasource>" in project
    assert "t*.tif" not in project
    assert (out / "report" / "index.html").is_file()
