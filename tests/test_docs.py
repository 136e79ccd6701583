"""What the README and the shipped configs say is kept true by tests: every config key is shown in a shipped config,
the README's contents list its sections, and its architecture table lists the phases in their declared order."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import yaml
from builders import ROOT
from pydantic import BaseModel

from pipeline import PHASES
from pipeline.core.config import RunConfig

README = (ROOT / "README.md").read_text(encoding="utf-8")


def model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every key path a model accepts (`carbon.uncertainty.seed`), through optional and repeated sections."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        if field.exclude:  # set by sinkzone (the config file's own path), never by a user
            continue
        keys.add(prefix + name)
        for part in _types(field.annotation):
            if isinstance(part, type) and issubclass(part, BaseModel):
                keys |= model_keys(part, f"{prefix}{name}.")
    return keys


def _types(annotation: Any) -> set[Any]:
    found = {annotation}
    for arg in typing.get_args(annotation):
        found |= _types(arg)
    return found


def yaml_keys(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        return set().union(*({prefix + str(k)} | yaml_keys(v, f"{prefix}{k}.") for k, v in value.items()))
    if isinstance(value, list):
        return set().union(set(), *(yaml_keys(item, prefix) for item in value))
    return set()


def shipped_run_configs() -> list[Path]:
    return [p for p in sorted((ROOT / "configs").rglob("*.yaml"))
            if "landcover" in (yaml.safe_load(p.read_text(encoding="utf-8")) or {})]


def test_every_config_key_is_shown_in_a_shipped_config() -> None:
    shown = set().union(*(yaml_keys(yaml.safe_load(p.read_text(encoding="utf-8"))) for p in shipped_run_configs()))
    assert sorted(model_keys(RunConfig) - shown) == []


def test_the_key_finder_sees_nested_optional_sections() -> None:
    class Inner(BaseModel):
        seed: int = 1

    class Outer(BaseModel):
        inner: Inner | None = None
        many: tuple[Inner, ...] = ()

    assert model_keys(Outer) == {"inner", "inner.seed", "many", "many.seed"}
    assert yaml_keys({"many": [{"seed": 2}], "inner": None}) == {"many", "many.seed", "inner"}


def test_every_shipped_config_is_commented() -> None:
    bare = [p.name for p in shipped_run_configs() if "#" not in p.read_text(encoding="utf-8")]
    assert bare == []


def test_the_readme_lists_its_sections() -> None:
    headings = re.findall(r"^## (.+)$", README, flags=re.M)
    contents = README.split("## Contents", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^- \[(.+?)\]\(#", contents, flags=re.M)
    assert listed == [h for h in headings if h != "Contents"]


def test_the_readme_architecture_table_lists_the_phases_in_order() -> None:
    section = README.split("## For developers", 1)[1]
    folders = re.findall(r"^\| `pipeline/(\w+)/` \|", section, flags=re.M)
    assert folders == [name for name, _ in PHASES]
