"""Scheduled runs: reruns that do nothing, kills at any moment, one lock per output, full disks,
run logs kept with the output, and batches that go on past a failing config."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from builders import good_inputs, land_cover, two_config_batch, write_tiled_raster
from cli_support import assert_clean_failure, cli, leftovers, mounted_tmpfs, snapshot

from pipeline.files import output, publish
from pipeline.files.lock import lock_path

REPO = Path(__file__).resolve().parents[1]

# A CLI run in a subprocess that stops at a chosen moment (prints a marker and sleeps) so the test
# can SIGKILL it exactly there. The stop is test-only patching; the production code has no hook.
_STOPS = {
    "computed": "import pipeline.run.runner as m; f = m.run_stages\n"
                "def g(*a, **k):\n    stop()\n    return f(*a, **k)\nm.run_stages = g",
    "gpkg_staged": "import pipeline.files.output as m; f = m._write_gpkg\n"
                   "def g(*a, **k):\n    f(*a, **k)\n    stop()\nm._write_gpkg = g",
    "between_renames": "import os, pipeline.files.publish as m\n"
                       "def g(a, b):\n    os.replace(b, m._parked(b))\n    stop()\n    return False\n"
                       "m._exchange = g",
}
_WRAPPER = """
import sys, time
def stop():
    print("STOPPED", flush=True)
    time.sleep(120)
{patch}
from pipeline.terminal.cli import main
sys.argv[0] = "sinkzone"
main()
"""


def _spawn(stage: str | None, *args: str, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    code = _WRAPPER.format(patch=_STOPS[stage] if stage else "def _unused():\n    pass")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=stderr, text=True, env=env)


def _kill_when_stopped(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "STOPPED"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.fixture
def done_once(tmp_path: Path) -> tuple[Path, Path]:
    """A config and its finished output."""
    config = good_inputs(tmp_path)
    assert cli("run", str(config)).exit_code == 0
    return config, tmp_path / "out"


def _change_inputs(config: Path, *, seed: int = 7) -> None:
    raster = Path(yaml.safe_load(config.read_text())["landcover"][0]["path"])
    write_tiled_raster(raster, land_cover(seed=seed))


def test_unchanged_rerun_does_nothing_and_says_so(done_once: tuple[Path, Path]) -> None:
    config, out = done_once
    before = snapshot(out)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = cli("run", str(config))
    assert again.exit_code == 0
    assert "up to date" in again.output
    assert snapshot(out) == before
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    forced = cli("run", str(config), "--overwrite")
    assert forced.exit_code == 0
    assert "done:" in forced.output
    assert json.loads((out / "run.json").read_text())["run_id"] == json.loads(before["run.json"])["run_id"]


@pytest.mark.parametrize("stage", sorted(_STOPS))
def test_sigkill_leaves_the_previous_output_and_the_next_run_completes(done_once: tuple[Path, Path],
                                                                       stage: str) -> None:
    config, out = done_once
    before = snapshot(out)
    old_id = json.loads(before["run.json"])["run_id"]
    _change_inputs(config)
    _kill_when_stopped(_spawn(stage, "run", str(config)))
    kept = out if stage != "between_renames" else publish._parked(out.resolve())
    assert snapshot(kept) == before  # every byte of the previous output, run.json included
    again = cli("run", str(config))
    assert again.exit_code == 0, again.output
    assert json.loads((out / "run.json").read_text())["run_id"] != old_id
    assert leftovers(out.parent) == []
    log = (out / "run.log.jsonl").read_text()
    assert "stale lock" in log
    assert "interrupted" in log


def test_sigkill_at_random_moments_of_the_run(done_once: tuple[Path, Path]) -> None:
    # Moments drawn over the whole of a run, after its first line (imports done, the lock taken) up to its end, as
    # measured on this machine. pytest-randomly seeds `random` per test: a failing moment replays with its seed.
    config, out = done_once
    proc = _spawn(None, "run", str(config), "--overwrite", stderr=subprocess.PIPE)
    assert proc.stderr is not None
    proc.stderr.readline()  # the log's first line: the run has started
    first_line = time.perf_counter()
    proc.communicate(timeout=120)
    span = time.perf_counter() - first_line
    assert proc.returncode == 0
    assert span > 0.2
    moments = sorted(random.uniform(0.0, span) for _ in range(4))
    for attempt, moment in enumerate(moments):
        before = snapshot(out)
        _change_inputs(config, seed=100 + attempt)  # new bytes each time, so a finished run has a new id
        proc = _spawn(None, "run", str(config), "--overwrite", stderr=subprocess.PIPE)
        assert proc.stderr is not None
        proc.stderr.readline()
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        publish.recover_parked(out.resolve())  # only needed where the atomic folder exchange is missing
        after = snapshot(out)
        # either the old output untouched or a complete new one, never a mix
        new_id = json.loads(after["run.json"])["run_id"] != json.loads(before["run.json"])["run_id"]
        assert after == before or new_id, f"killed {moment:.2f} s after the first line"
        assert {"run.json", "sinkzones.gpkg"} <= set(after)
    assert cli("run", str(config), "--overwrite").exit_code == 0
    assert leftovers(out.parent) == []


def test_sigterm_stops_a_run_as_ctrl_c_does(done_once: tuple[Path, Path]) -> None:
    # cron timeouts and systemd send SIGTERM: `sinkzone` itself (cli.main) must turn it into the Ctrl-C path:
    # one line, exit 130, the staged output dropped and the previous output kept
    config, out = done_once
    before = snapshot(out)
    _change_inputs(config)
    proc = _spawn("computed", "run", str(config), stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "STOPPED"
    proc.send_signal(signal.SIGTERM)
    printed, logged = proc.communicate(timeout=30)
    assert proc.returncode == 130, printed + logged
    assert "interrupted" in printed + logged
    assert snapshot(out) == before
    assert leftovers(out.parent) == [], leftovers(out.parent)


def test_a_second_run_cannot_write_an_output_being_written(done_once: tuple[Path, Path]) -> None:
    config, out = done_once
    before = snapshot(out)
    _change_inputs(config)
    proc = _spawn("computed", "run", str(config))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "STOPPED"
    try:
        busy = cli("run", str(config))
        assert_clean_failure(busy, "another run is writing this output", f'"pid": {proc.pid}')
        assert snapshot(out) == before
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def test_a_stale_lock_from_a_dead_process_is_cleared_and_logged(done_once: tuple[Path, Path]) -> None:
    config, out = done_once
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = lock_path(out)
    lock.write_text(json.dumps({"pid": dead.pid, "host": "this", "started_utc": "2020-01-01T00:00:00Z"}))
    _change_inputs(config)
    result = cli("run", str(config))
    assert result.exit_code == 0, result.output
    assert not lock.exists()
    entries = [json.loads(line) for line in (out / "run.log.jsonl").read_text().splitlines()]
    stale = [e for e in entries if "cleared a stale lock" in e["message"]]
    assert [e["level"] for e in stale] == ["WARNING"]
    assert str(dead.pid) in stale[0]["message"]


def test_full_disk_during_the_write_leaves_the_previous_output(done_once: tuple[Path, Path],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config, out = done_once
    before = snapshot(out)
    write = output._write_gpkg

    def half_then_full(path: Path, layers: dict[str, object]) -> None:
        first = dict(list(layers.items())[:1])
        write(path, first)  # type: ignore[arg-type]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(output, "_write_gpkg", half_then_full)
    _change_inputs(config)
    assert_clean_failure(cli("run", str(config)), "the disk is full", "the previous output is untouched")
    assert snapshot(out) == before
    assert leftovers(out.parent) == []
    failed = list(out.parent.glob("out.failed-*.log.jsonl"))
    assert len(failed) == 1
    assert '"level": "ERROR"' in failed[0].read_text()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    # where mounting needs root this skips; the monkeypatched full-disk test covers the message
    with mounted_tmpfs(tmp_path / "disk", size="2m") as mount:
        yield mount


def test_a_really_full_disk(tmp_path: Path, tiny_disk: Path) -> None:
    config = good_inputs(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["output"]["dir"] = str(tiny_disk / "out")
    config.write_text(yaml.safe_dump(raw))
    assert cli("run", str(config)).exit_code == 0
    before = snapshot(tiny_disk / "out")
    filler = tiny_disk / "filler"
    with filler.open("wb", buffering=0) as fh:  # fill what is left, then give a little back for the log
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    os.truncate(filler, filler.stat().st_size - 16 * 1024)
    assert_clean_failure(cli("run", str(config), "--overwrite"), "the disk is full")
    assert snapshot(tiny_disk / "out") == before
    assert leftovers(tiny_disk) == []


def test_batch_goes_on_past_a_failure_and_exits_non_zero(tmp_path: Path) -> None:
    batch = tmp_path / "batch"
    batch.mkdir()
    for name in ("a", "c"):
        folder = tmp_path / name
        folder.mkdir()
        (batch / f"{name}.yaml").write_text(good_inputs(folder).read_text())
    (batch / "b.yaml").write_text("name: broken\nlandcover: [{year: 2020, path: nowhere.tif}]\n"
                                  "zones: {path: z.gpkg, id_field: zid}\nclasses: clcd\n"
                                  "output: {dir: out_b}\n")
    result = cli("batch", str(batch))
    flat = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "1 of 3 run(s) failed" in flat
    assert "nowhere.tif: file not found" in flat
    for name in ("a", "c"):
        assert (tmp_path / name / "out" / "run.json").is_file()
        assert (tmp_path / name / "out" / "run.log.jsonl").is_file()
    assert not (batch / "out_b").exists()
    (batch / "b.yaml").unlink()
    again = cli("batch", str(batch))
    assert again.exit_code == 0
    assert "up to date" in again.output


def test_a_batch_stopped_by_sigterm_records_the_stopped_config_and_those_not_run(tmp_path: Path) -> None:
    folder = two_config_batch(tmp_path)  # bad.yaml fails before computing; good.yaml computes
    later = {**yaml.safe_load((folder / "good.yaml").read_text()), "name": "later",
             "output": {"dir": str(tmp_path / "out_later")}}
    (folder / "later.yaml").write_text(yaml.safe_dump(later))
    store = tmp_path / "history.gpkg"
    proc = _spawn("computed", "batch", str(folder), "--history", str(store), stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "STOPPED"  # good.yaml, computing
    proc.send_signal(signal.SIGTERM)
    printed, logged = proc.communicate(timeout=60)
    assert proc.returncode == 130, printed + logged
    listed = json.loads(cli("history", "attempts", "--history", str(store), "--format", "json").output)
    # newest first: later.yaml never started, good.yaml was stopped, bad.yaml failed on its own
    assert [(a["config_name"], a["status"]) for a in listed] == [("later", "not run"), ("good", "failed"),
                                                                 ("bad", "failed")]
    assert "interrupted" in listed[1]["detail"]


def test_the_run_log_is_json_lines_kept_with_the_output(done_once: tuple[Path, Path]) -> None:
    _, out = done_once
    entries = [json.loads(line) for line in (out / "run.log.jsonl").read_text().splitlines()]
    assert {"time_utc", "level", "logger", "message"} <= set(entries[0])
    messages = [e["message"] for e in entries]
    assert "started" in messages[0]
    assert "finished" in messages[-1]
    assert any("grid CRS WGS 84" in m for m in messages)
