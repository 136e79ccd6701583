"""Plan sheets and progress against targets, with hand-derived figures."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.classmaps import builtin_class_map
from pipeline.core.config import Region, RegionTarget
from pipeline.core.errors import TableError
from pipeline.files.tables import read_plan_sheet
from pipeline.inputs.plan_sheets import validate_plans
from pipeline.metrics.progress import NO_CARBON, assess, progress_table, zone_fields
from pipeline.metrics.region import region_indicators

CLCD = builtin_class_map("clcd")
HEADER = "zone_id,name,sink_type,target_share_pct,target_area_ha,target_carbon_t,target_year,baseline_year,measures\n"


def _sheet(tmp_path: Path, rows: str) -> pd.DataFrame:
    path = tmp_path / "plans.csv"
    path.write_text("# illustrative targets\n" + HEADER + rows, encoding="utf-8")
    return read_plan_sheet(path).frame


def test_good_sheet_is_typed(tmp_path: Path) -> None:
    raw = _sheet(tmp_path, 'Z1,片区一,forest,40,,300,2030,,"造林, 补植"\nZ2,,wetland,,500,,2025,2015,\n')
    plans = validate_plans(raw, zone_ids={"Z1", "Z2"}, first_year=2015, source="plans.csv", class_map=CLCD)
    assert plans["target_share_pct"].tolist()[0] == 40.0
    assert math.isnan(plans["target_share_pct"].tolist()[1])
    assert plans["measures"].tolist()[0] == "造林, 补植"   # quoted comma kept
    assert plans["baseline_year"].tolist() == [2015, 2015]


@pytest.mark.parametrize(("row", "message"), [
    ("Z9,,forest,40,,,2030,,\n", "line 3 (zone_id 'Z9'): zone_id 'Z9' is not in the zone layer"),
    ("Z1,,forest,120,,,2030,,\n", "line 3 (zone_id 'Z1'): target_share_pct 120 is above 100 %"),
    ("Z1,,forest,40,,,2010,,\n", "line 3 (zone_id 'Z1'): target_year 2010 is before the baseline year 2015"),
    ("Z1,,forest,40,,,2018,2020,\n", "target_year 2018 is before the baseline year 2020"),
    ("Z1,,desert,40,,,2030,,\n", "sink_type must be one of forest, grassland, wetland"),
    ("Z1,,forest,,,,2030,,\n", "no target"),
    ("Z1,,forest,forty,,,2030,,\n", "target_share_pct 'forty' is not a number"),
])
def test_bad_rows_are_named(tmp_path: Path, row: str, message: str) -> None:
    raw = _sheet(tmp_path, row)
    with pytest.raises(TableError, match="plans.csv") as err:
        validate_plans(raw, zone_ids={"Z1"}, first_year=2015, source="plans.csv", class_map=CLCD)
    assert message in str(err.value)


def test_every_bad_row_reported_at_once(tmp_path: Path) -> None:
    raw = _sheet(tmp_path, "Z9,,forest,40,,,2030,,\nZ1,,forest,101,,,2030,,\nZ1,,forest,40,,,2030,,\n")
    with pytest.raises(TableError) as err:
        validate_plans(raw, zone_ids={"Z1"}, first_year=2015, source="p.csv", class_map=CLCD)
    text = str(err.value)
    # lines 3, 4 and 5 of the file (line 1 a comment, line 2 the header)
    assert "line 3 (zone_id 'Z9')" in text
    assert "line 4 (zone_id 'Z1')" in text
    assert "line 5 (zone_id 'Z1'): zone_id 'Z1' already has a plan on line 4" in text


def test_ragged_row_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "Z1,a,forest,40\n", encoding="utf-8")
    with pytest.raises(TableError, match=r"line\(s\) \[2\]"):
        read_plan_sheet(path)


def _long() -> pd.DataFrame:
    # Zone Z, 100 ha. 2015: forest 20 ha, shrub 5 ha -> 25 %; 2020: forest 25, shrub 5 -> 30 %.
    rows = []
    for year, forest, shrub in ((2015, 20.0, 5.0), (2020, 25.0, 5.0)):
        rest = 100.0 - forest - shrub
        for cls, ha in (("forest", forest), ("shrub", shrub), ("grassland", rest), ("nodata", 0.0)):
            rows.append({"zone_id": "Z", "year": year, "class": cls, "area_ha": ha, "area_mu": ha * 15,
                         "share": ha / 100.0})
    return pd.DataFrame(rows)


def _plan(**targets: float) -> pd.DataFrame:
    base = {"zone_id": "Z", "plan_name": "", "sink_type": "forest", "target_share_pct": math.nan,
            "target_area_ha": math.nan, "target_carbon_t": math.nan, "target_year": 2030, "baseline_year": 2015,
            "measures": ""}
    return pd.DataFrame([{**base, **targets}])


def test_share_on_track_and_behind() -> None:
    # forest+shrub share 25 % -> 30 % over 5 years: slope 1 %/yr; 2030 projection 30 + 10 x 1 = 40 %.
    on = progress_table(_long(), _plan(target_share_pct=40.0), class_map=CLCD).iloc[0]
    assert on["latest_value"] == pytest.approx(30.0)
    assert on["pct_of_target"] == pytest.approx(75.0)      # 30 / 40
    assert on["slope_per_year"] == pytest.approx(1.0)
    assert on["projected_value"] == pytest.approx(40.0)
    assert on["status"] == "on track"
    behind = progress_table(_long(), _plan(target_share_pct=45.0), class_map=CLCD).iloc[0]
    assert behind["status"] == "behind"                    # 40 < 45
    assert progress_table(_long(), _plan(target_share_pct=30.0), class_map=CLCD).iloc[0]["status"] == "reached"


def test_area_target_and_single_epoch() -> None:
    # area 30 ha in 2020, target 60 ha -> 50 %; one epoch only -> no trend yet
    one = _long()[lambda f: f["year"] == 2020]
    row = progress_table(one, _plan(target_area_ha=60.0), class_map=CLCD).iloc[0]
    assert (row["metric"], row["unit"]) == ("area", "ha")
    assert row["pct_of_target"] == pytest.approx(50.0)
    assert row["status"] == "no trend yet"


def test_target_year_passed_is_behind() -> None:
    # target year 2020 = latest epoch, 30 % < 35 %: the trend cannot help any more
    status = assess(pd.Series([2015, 2020]).to_numpy(), pd.Series([25.0, 30.0]).to_numpy(), target=35.0,
                    target_year=2020)["status"]
    assert status == "behind"


def test_carbon_target_with_and_without_carbon() -> None:
    plan = _plan(target_share_pct=40.0, target_carbon_t=300.0)
    without = progress_table(_long(), plan, class_map=CLCD)
    assert without.set_index("metric").loc["carbon_stock", "status"] == NO_CARBON
    # zone_carbon as the carbon stage writes it: 2015 agb 100 + bgb 20 = 120 t C; 2020 150 + 30 = 180 t C.
    # slope 12 t/yr, 2030 projection 180 + 120 = 300 -> on track; 180 / 300 = 60 %.
    carbon = pd.DataFrame({"zone_id": ["Z"] * 4, "year": [2015, 2015, 2020, 2020], "pool": ["agb", "bgb"] * 2,
                           "carbon_t": [100.0, 20.0, 150.0, 30.0], "co2e_t": [0.0] * 4})
    row = progress_table(_long(), plan, carbon=carbon, class_map=CLCD).set_index("metric").loc["carbon_stock"]
    assert row["latest_value"] == pytest.approx(180.0)
    assert row["pct_of_target"] == pytest.approx(60.0)
    assert row["status"] == "on track"
    # a `total` pool is used as is, not added to the others: 2020 total 200 -> 200 / 300
    total = pd.concat([carbon, pd.DataFrame({"zone_id": ["Z"], "year": [2020], "pool": ["total"],
                                             "carbon_t": [200.0], "co2e_t": [0.0]})])
    row = progress_table(_long(), plan, carbon=total, class_map=CLCD).set_index("metric").loc["carbon_stock"]
    assert row["latest_value"] == pytest.approx(200.0)


def test_zone_fields_headline_is_share() -> None:
    plan = _plan(target_share_pct=40.0, target_area_ha=60.0, target_carbon_t=300.0)
    fields = zone_fields(plan, progress_table(_long(), plan, class_map=CLCD)).loc["Z"]
    assert fields["progress_metric"] == "share"
    assert fields["progress_pct"] == pytest.approx(75.0)
    assert fields["carbon_status"] == NO_CARBON


def test_region_indicators_hand_derived() -> None:
    # zone 1: forest 30, shrub 10, grassland 50, nodata 10; zone 2: forest 20, wetland 15, water 5, grass 60.
    # observed land = 90 + 100 = 190 ha. Forest only: 50 / 190 = 26.3158 %; with shrub 60 / 190 = 31.5789 %.
    areas = {("A", "forest"): 30, ("A", "shrub"): 10, ("A", "grassland"): 50, ("A", "nodata"): 10,
             ("B", "forest"): 20, ("B", "wetland"): 15, ("B", "water"): 5, ("B", "grassland"): 60}
    long = pd.DataFrame([{"zone_id": z, "year": 2020, "class": c, "area_ha": float(a)} for (z, c), a in areas.items()])
    target = RegionTarget(indicator="forest_coverage_pct", value=30.0, year=2025)
    plain = region_indicators(long, Region(targets=(target,)), CLCD).set_index("indicator")
    assert plain.loc["forest_coverage_pct", "value"] == pytest.approx(100 * 50 / 190)
    assert not plain.loc["forest_coverage_pct", "meets_target"]
    flagged = region_indicators(long, Region(shrub_counts_as_forest=True, wetland_includes_water=True,
                                             targets=(target,)), CLCD).set_index("indicator")
    assert flagged.loc["forest_coverage_pct", "value"] == pytest.approx(100 * 60 / 190)
    assert flagged.loc["forest_coverage_pct", "meets_target"]
    # wetland with water 20 ha = 300 亩 = 0.03 万亩; grassland 110 ha = 0.165 万亩
    assert flagged.loc["wetland_area_wan_mu", "value"] == pytest.approx(0.03)
    assert flagged.loc["grassland_area_wan_mu", "value"] == pytest.approx(0.165)
    assert plain.loc["wetland_area_ha", "value"] == pytest.approx(15.0)
