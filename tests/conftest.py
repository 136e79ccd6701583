"""Fixtures shared by the tests (the builders of test data are in builders.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from builders import ROOT

from pipeline.core.config import Output
from pipeline.inputs.run_config import load_config
from pipeline.run import runner

DemoRun = Callable[[str], runner.RunResult]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The run of a shipped config (`configs/NAME.yaml`), computed once per test session and shared.

    Tests read its tables and its output folder (`result.out_dir`) and must not change either.
    """
    done: dict[str, runner.RunResult] = {}

    def get(name: str) -> runner.RunResult:
        if name not in done:
            config = load_config(ROOT / "configs" / f"{name}.yaml")
            out = tmp_path_factory.mktemp(name) / "out"
            done[name] = runner.run(config.model_copy(update={"output": Output(dir=out)}))
        return done[name]

    return get
