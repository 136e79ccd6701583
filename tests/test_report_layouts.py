"""The report at 小班 scale: a page per group of zones (report.group_field), or the index and one table."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders import write_box_zones, write_class_map, write_utm_raster
from PIL import Image

from pipeline.core.config import RunConfig
from pipeline.core.errors import ValidationFailed
from pipeline.present.report import chart_style, class_area_chart, report_layout
from pipeline.run import runner


def _config(tmp_path: Path, report: dict[str, object]) -> RunConfig:
    # 6 zones of one 10 m cell each in a row, in two forest farms: F1 holds Z0-Z2, F2 holds Z3-Z5
    lc = write_utm_raster(tmp_path / "lc.tif", np.array([[1, 1, 2, 2, 1, 2]], dtype=np.uint8), cell=10.0)
    classes = write_class_map(tmp_path / "c.yaml", {"forest": [1], "grassland": [2]})
    zones = write_box_zones(tmp_path / "z.gpkg", {f"Z{i}": (10 * i, 0, 10 * i + 10, 10) for i in range(6)},
                        farm=["F1"] * 3 + ["F2"] * 3)
    return RunConfig.model_validate({
        "name": "report-layouts", "landcover": [{"year": 2020, "path": str(lc)}],
        "zones": {"path": str(zones), "id_field": "zid"}, "classes": str(classes),
        "output": {"dir": str(tmp_path / "out")}, "report": report})


def test_one_page_per_group_with_its_zones(tmp_path: Path) -> None:
    runner.run(_config(tmp_path, {"group_field": "farm"}))
    folder = tmp_path / "out" / "report"
    assert sorted(p.name for p in folder.glob("*.html")) == ["group_000.html", "group_001.html", "index.html"]
    first = (folder / "group_000.html").read_text(encoding="utf-8")
    assert all(f">Z{i}<" in first for i in range(3))
    assert not any(f">Z{i}<" in first for i in range(3, 6))
    assert 'class="sortable"' in first
    assert (folder / "group_000_map.png").read_bytes()[:4] == b"\x89PNG"
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert 'href="group_001.html">F2<' in index


def test_many_zones_without_groups_make_one_table_and_say_so(tmp_path: Path) -> None:
    result = runner.run(_config(tmp_path, {"max_zone_pages": 5}))
    folder = tmp_path / "out" / "report"
    assert [p.name for p in folder.glob("*.html")] == ["index.html"]
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert all(f">Z{i}<" in index for i in range(6))
    assert any("6 zones is more than report.max_zone_pages (5)" in n for n in result.record["notes"])
    assert "report.group_field" in index


def test_a_few_zones_keep_a_page_each() -> None:
    layout, note = report_layout(40, group_field=None, max_zone_pages=300)
    assert (layout.kind, note) == ("zones", "")
    assert report_layout(40_000, group_field=None, max_zone_pages=300)[0].kind == "table"


def test_unknown_group_field_is_named_before_compute(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="report.group_field: no field '片区名称'; the layer has: zid, farm"):
        runner.run(_config(tmp_path, {"group_field": "片区名称"}))


def test_class_area_bars_take_the_map_colours() -> None:
    # one epoch, two classes: every bar pixel is one of the two class colours given (alpha 1 for the only epoch)
    long = pd.DataFrame({"zone_id": "a", "year": 2021, "class": ["forest", "grassland"], "area_ha": [3.0, 1.0]})
    colours = {"forest": "#006400", "grassland": "#ffbb22"}
    with chart_style():
        png = class_area_chart(long, title="t", colours=colours)
    pixels = {tuple(p) for p in (np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3))}
    assert (0x00, 0x64, 0x00) in pixels
    assert (0xFF, 0xBB, 0x22) in pixels
    assert (0x1F, 0x77, 0xB4) not in pixels  # matplotlib's first default colour, the old bars'
