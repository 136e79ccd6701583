"""草原综合植被盖度 (remote-sensing proxy): dimidiate FVC with the region's end-members, worked by hand; fixed
end-members; an FVC raster read directly; a missing scale factor, a percent FVC raster and an all-nodata zone."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from builders import UTM10N, X0, Y0, write_box_zones, write_class_map, write_utm_raster

from pipeline.core.config import RunConfig
from pipeline.core.errors import InputError, ValidationFailed
from pipeline.inputs.check import check_inputs
from pipeline.measure.graph import build_graph, compute
from pipeline.metrics import vegetation
from pipeline.metrics.base import StageResult

# NDVI on 20 m cells over land cover of 40 m cells, forest (1) left and grassland (2) right, zones A (x 0-50 m)
# and B (x 50-80 m), rows 0-1; MOD13Q1 style raw numbers, nodata -3000 (as in test_values.py)
RAW = np.array([[2000, 4000, 6000, 8000], [3000, 5000, 7000, -3000], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=np.int16)


def _config(tmp: Path, *, raw: np.ndarray = RAW, value: dict[str, Any], cover: dict[str, Any],
            zones: dict[str, tuple[float, float, float, float]] | None = None, **more: Any) -> RunConfig:
    lc = write_utm_raster(tmp / "lc.tif", np.array([[1, 2], [1, 2]], dtype=np.uint8), cell=40.0)
    ndvi = write_utm_raster(tmp / "v.tif", raw, cell=20.0, nodata=-3000)
    layer = write_box_zones(tmp / "z.gpkg", zones or {"A": (0, 0, 50, 40), "B": (50, 0, 80, 40)})
    classes = write_class_map(tmp / "c.yaml", {"forest": [1], "grassland": [2]})
    return RunConfig.model_validate({
        "name": "cover_test", "landcover": [{"year": 2020, "path": str(lc)}],
        "zones": {"path": str(layer), "id_field": "zid"}, "classes": str(classes), "output": {"dir": str(tmp / "o")},
        "values": [{"name": "v", "year": 2020, "path": str(ndvi), **value}], "vegetation_cover": cover,
        "region": {"name": "R"}, **more})


def _stage(tmp: Path, **settings: Any) -> StageResult:
    config = _config(tmp, **settings)
    inputs = check_inputs(config, deep=False)
    return vegetation.tabulate(inputs, compute(build_graph(inputs), config=config, progress=None))


def _cover(result: StageResult) -> dict[str, float]:
    table = result.tables["zone_vegetation_cover"]
    return dict(zip(table["zone_id"], table["cover_pct"], strict=True))


def test_region_endmembers_and_zone_means_by_hand(tmp_path: Path) -> None:
    """Grassland NDVI of the region (zones A and B): 0.6 and 0.7 on 200 m² in A; 0.6, 0.7 on 200 m² and 0.8 on
    400 m² in B: 400 m² each of 0.6, 0.7, 0.8 (1200 m²). The 5 % quantile needs 60 m²: 0.6; the 95 % needs
    1140 m²: 0.8. FVC = (NDVI - 0.6) / 0.2: 0, 0.5, 1.
    A: (0 x 200 + 0.5 x 200) / 400 = 25 %. B: (0 x 200 + 0.5 x 200 + 1 x 400) / 800 = 62.5 %.
    Region: (0 + 0.5 + 1) x 400 / 1200 = 50 %. (Stretched per zone, A alone would span 0.6-0.7 and read 50 %.)
    """
    result = _stage(tmp_path, value={"scale": 0.0001}, cover={"ndvi": "v"})
    assert _cover(result) == pytest.approx({"A": 25.0, "B": 62.5, "R": 50.0})
    table = result.tables["zone_vegetation_cover"]
    assert set(table["label_en"]) == {"Grassland vegetation cover (remote-sensing proxy)"}
    assert table["grassland_observed_ha"].tolist() == pytest.approx([0.04, 0.08, 0.12])
    assert result.record["vegetation_cover_endmembers"]["2020"]["ndvi_soil"] == pytest.approx(0.6)
    assert result.record["vegetation_cover_endmembers"]["2020"]["ndvi_veg"] == pytest.approx(0.8)


def test_fixed_endmembers(tmp_path: Path) -> None:
    """Soil 0.1, veg 0.9: FVC (NDVI - 0.1) / 0.8. A: 0.625 and 0.75 on 200 m² each: 68.75 %.
    B: (0.625 x 200 + 0.75 x 200 + 0.875 x 400) / 800 = 78.125 %."""
    result = _stage(tmp_path, value={"scale": 0.0001}, cover={"ndvi": "v", "endmembers": {"soil": 0.1, "veg": 0.9}})
    cover = _cover(result)
    assert (cover["A"], cover["B"]) == pytest.approx((68.75, 78.125))
    assert result.record["vegetation_cover_endmembers"]["2020"]["method"] == "fixed"


def test_fvc_raster_read_directly(tmp_path: Path) -> None:
    """An FVC raster in percent x 100 (scale 0.0001 to a fraction): A's grassland 0.6 and 0.7 -> 65 %."""
    result = _stage(tmp_path, value={"scale": 0.0001}, cover={"fvc": "v"})
    assert _cover(result)["A"] == pytest.approx(65.0)
    assert math.isnan(result.tables["zone_vegetation_cover"]["ndvi_soil"].iloc[0])


def test_ndvi_without_its_scale_factor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="scale factor seems missing"):
        _stage(tmp_path, value={}, cover={"ndvi": "v"})


def test_fvc_in_percent_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"in percent needs scale: 0\.01"):
        _stage(tmp_path, value={"scale": 0.01}, cover={"fvc": "v"})


def test_zone_with_only_nodata_gets_no_cover_and_a_note(tmp_path: Path) -> None:
    """Column 3 all nodata and zone C exactly on it (x 60-80 m): C has no cover and is named in a note.
    A (x 0-50) and B (x 50-60) hold 0.6 and 0.7 on 200 m² each: region 5 % quantile 0.6, 95 % (760 of 800 m²)
    0.7, so FVC 0 and 1 and both zones 50 %."""
    raw = RAW.copy()
    raw[0, 3] = -3000
    result = _stage(tmp_path, raw=raw, value={"scale": 0.0001}, cover={"ndvi": "v"},
                    zones={"A": (0, 0, 50, 40), "B": (50, 0, 60, 40), "C": (60, 0, 80, 40)})
    cover = _cover(result)
    assert (cover["A"], cover["B"], cover["R"]) == pytest.approx((50.0, 50.0, 50.0))
    assert math.isnan(cover["C"])
    assert any("no observed grassland" in note and "C" in note for note in result.notes)


def test_validate_reports_a_missing_scale_with_the_other_problems(tmp_path: Path) -> None:
    """`validate` reads the NDVI whole: values up to 8000 without scale, and a protected-area layer of points,
    are listed together."""
    points = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(X0 + 5, Y0 - 5)], crs=UTM10N)
    points.to_file(tmp_path / "pts.gpkg", driver="GPKG")
    config = _config(tmp_path, value={}, cover={"ndvi": "v"}, protected_areas={"path": str(tmp_path / "pts.gpkg")})
    with pytest.raises(ValidationFailed) as caught:
        check_inputs(config, deep=True)
    assert "reach 8000, but NDVI lies between -1 and 1: the scale factor seems missing" in str(caught.value)
    assert "holds no polygons" in str(caught.value)
