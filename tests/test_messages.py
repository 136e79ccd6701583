"""Issue 11: what a user sees when something goes wrong: plain-text messages, one line for a bug (the
traceback in the log), exit 130 on Ctrl-C, GBK files read, odd paths refused with exit 2, batches that
run every config, and user text (zone ids, plan cells) taken literally."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import yaml
from builders import good_inputs, two_zones, write_zone_layer
from cli_support import assert_clean_failure, cli, snapshot

from pipeline.run import runner


def _edit(config: Path, **changes: Any) -> Path:
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw.update(changes)
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return config


def _fail_stages(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(runner, "run_stages", broken)


# ---- plain text ----------------------------------------------------------------------------------------


def test_square_brackets_in_messages_are_printed_as_written(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    (tmp_path / "mine.yaml").write_text("classes: {forest: one}\n", encoding="utf-8")
    _edit(config, classes=str(tmp_path / "mine.yaml"))
    assert_clean_failure(cli("validate", str(config)),
                         "class 'forest': expected [integer codes] or {codes: [integer codes], role: forest|shrub|...}")


def test_markup_closing_tags_in_a_path_do_not_crash_the_printer(tmp_path: Path) -> None:
    config = _edit(good_inputs(tmp_path), landcover=[{"year": 2020, "path": str(tmp_path / "[/b]lc[old].tif")}])
    result = cli("run", str(config))
    assert_clean_failure(result, "[/b]lc[old].tif: file not found")
    assert result.exit_code == 2


# ---- a bug, Ctrl-C ----------------------------------------------------------------------------------------


def test_a_bug_prints_one_line_and_the_log_holding_the_traceback(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    config = good_inputs(tmp_path)
    _fail_stages(monkeypatch, ValueError("boom\nsecond line of a library's message"))
    result = cli("run", str(config))
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert "second line" not in result.output
    kept = sorted(tmp_path.glob("out.failed-*.log.jsonl"))
    assert len(kept) == 1
    assert_clean_failure(result, "unexpected ValueError: boom. This is a bug in sinkzone; the traceback is in",
                         str(kept[0]))
    entries = [json.loads(line) for line in kept[0].read_text().splitlines()]
    assert any("Traceback" in e.get("traceback", "") for e in entries)


def test_ctrl_c_prints_one_line_exits_130_and_keeps_the_previous_output(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = good_inputs(tmp_path)
    assert cli("run", str(config)).exit_code == 0
    before = snapshot(tmp_path / "out")
    _fail_stages(monkeypatch, KeyboardInterrupt())
    result = cli("run", str(config), "--overwrite")
    assert result.exit_code == 130
    assert "interrupted, the previous output is untouched" in result.output
    assert "Traceback" not in result.output
    assert "Aborted" not in result.output
    assert snapshot(tmp_path / "out") == before
    assert not list(tmp_path.glob(".out.staging-*"))
    assert len(list(tmp_path.glob("out.interrupted-*.log.jsonl"))) == 1  # its log kept, visibly, at once
    assert not list(tmp_path.glob(".out.run-*.log.jsonl"))


# ---- GBK files -----------------------------------------------------------------------------------------


def test_a_gbk_config_plan_sheet_and_pools_table_are_read(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    plans = tmp_path / "plans.csv"
    plans.write_bytes("zone_id,name,sink_type,target_share_pct,target_year,measures\n"
                      "z0,大青山,forest,40,2030,造林\nz1,黄河湿地,wetland,10,2030,补植\n".encode("gbk"))
    pools = tmp_path / "pools.csv"
    pools.write_bytes("class,c_above,c_below,c_soil,c_dead,source\n"
                      "forest,56.4,12.9,50,0,IPCC 表4.7\nshrub,2.8,1.1,50,0,灌木\n"
                      "grassland,0.8,3.7,50,0,草地\ncropland,0,0,40,0,耕地\n".encode("gbk"))
    raw = yaml.safe_load(config.read_text())
    raw.update(name="包头 碳汇片区", plans={"path": str(plans)}, carbon={"pools": str(pools)})
    config.write_bytes(yaml.safe_dump(raw, allow_unicode=True).encode("gbk"))  # saved by Notepad on GBK Windows
    result = cli("run", str(config))
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "run.yaml: not UTF-8 text; read as GB18030" in flat
    assert "plans.csv: not UTF-8 text" in flat
    record = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert record["config"]["name"] == "包头 碳汇片区"


# ---- paths and YAML the file system or parser cannot take ------------------------------------------------


def test_a_nul_byte_in_a_path_is_refused(tmp_path: Path) -> None:
    config = _edit(good_inputs(tmp_path), landcover=[{"year": 2020, "path": "lc\0.tif"}])
    result = cli("validate", str(config))
    assert_clean_failure(result, "holds a NUL byte")
    assert result.exit_code == 2


def test_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.gpkg").symlink_to(tmp_path / "b.gpkg")
    (tmp_path / "b.gpkg").symlink_to(tmp_path / "a.gpkg")
    config = _edit(good_inputs(tmp_path), zones={"path": str(tmp_path / "a.gpkg"), "id_field": "zid"})
    result = cli("run", str(config))
    assert_clean_failure(result, "a.gpkg", "cannot be followed", "fix the symbolic links")
    assert result.exit_code == 2


def test_an_over_long_file_name_is_refused(tmp_path: Path) -> None:
    config = _edit(good_inputs(tmp_path), landcover=[{"year": 2020, "path": "x" * 300 + ".tif"}])
    result = cli("run", str(config))
    assert_clean_failure(result, "is too long for the file system")
    assert result.exit_code == 2


def test_yaml_nested_thousands_deep_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "deep.yaml"
    config.write_text("name: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    result = cli("validate", str(config))
    assert_clean_failure(result, "deep.yaml: nested too deeply")
    assert result.exit_code == 2


# ---- batches run every config ------------------------------------------------------------------------------


def test_a_batch_runs_every_config_whatever_one_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    names = {"a_gbk": "包头", "b_bug": "bug", "c_exits": "exits", "d_fine": "fine"}
    for stem, name in names.items():
        folder = tmp_path / stem
        folder.mkdir()
        raw = yaml.safe_load(good_inputs(folder).read_text())
        raw["name"] = name
        (batch / f"{stem}.yaml").write_bytes(yaml.safe_dump(raw, allow_unicode=True).encode("gbk"))
    (batch / "e_bytes.yaml").write_bytes(b"name: \xff\xfe\xff\n")  # neither UTF-8 nor GB18030
    stages = runner.run_stages

    def misbehave(inputs: Any, computed: Any) -> Any:
        if inputs.config.name == "bug":
            raise ZeroDivisionError("a bug")
        if inputs.config.name == "exits":
            raise SystemExit(4)
        return stages(inputs, computed)

    monkeypatch.setattr(runner, "run_stages", misbehave)
    result = cli("batch", str(batch))
    flat = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "3 of 5 run(s) failed" in flat
    assert "Traceback" not in result.output
    for stem in ("a_gbk", "d_fine"):
        assert (tmp_path / stem / "out" / "run.json").is_file()
    assert "e_bytes.yaml: neither UTF-8 nor GB18030" in flat


# ---- user text is literal ------------------------------------------------------------------------------------


def test_zone_ids_with_dollars_are_drawn_literally_in_the_report(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    write_zone_layer(tmp_path / "zones.gpkg", two_zones(), ids=["$x^$ 北区", "片区$1"])
    _edit(config, report={"enabled": True})
    result = cli("run", str(config))
    assert result.exit_code == 0, result.output
    pages = sorted(p.name for p in (tmp_path / "out" / "report").iterdir())
    assert "zone_000_map.png" in pages
    assert "$x^$ 北区" in (tmp_path / "out" / "report" / "zone_000.html").read_text(encoding="utf-8")


def test_plan_cells_with_line_breaks_and_full_width_digits(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    plans = tmp_path / "plans.csv"
    plans.write_text('zone_id,sink_type,target_share_pct,target_year,measures\n'
                     'z0,forest,４０,２０３０,"造林\n补植"\n'
                     '# a comment line\n'
                     'z1,forest,30,2030,"封山育林"\n', encoding="utf-8-sig")
    _edit(config, plans={"path": str(plans)})
    result = cli("run", str(config))
    assert result.exit_code == 0, result.output
    progress = pyogrio.read_dataframe(tmp_path / "out" / "sinkzones.gpkg", layer="zone_progress")
    z0 = progress[progress["zone_id"] == "z0"]
    assert z0["target_value"].tolist() == [40.0]
    assert z0["target_year"].tolist() == [2030]


def test_a_bad_plan_row_after_a_multi_line_cell_names_its_own_line(tmp_path: Path) -> None:
    config = good_inputs(tmp_path)
    plans = tmp_path / "plans.csv"
    plans.write_text('zone_id,sink_type,target_share_pct,target_year,measures\n'
                     'z0,forest,40,2030,"造林\n补植\n抚育"\n'
                     'z1,forest,30,2030年,""\n', encoding="utf-8")
    _edit(config, plans={"path": str(plans)})
    result = cli("validate", str(config))
    assert_clean_failure(result, "plans.csv: line 5 (zone_id 'z1'): target_year must be a year like 2030")
    assert result.exit_code == 2
    assert os.path.exists(plans)
