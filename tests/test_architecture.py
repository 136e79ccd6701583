"""The package's shape: no import cycle, and every import points forward in the phase order of a run.

Imports are read with `ast`, so imports inside functions and under `if TYPE_CHECKING:` count too: a
cycle held together by a late import is still a cycle a reader has to untangle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"

# The phases of a run, in order; a module may import from its own phase or an earlier one.
PHASES: list[tuple[str, ...]] = [
    ("__init__", "errors", "names", "units", "text", "config", "grid", "coverage", "classmaps", "provenance",
     "accuracy"),
    ("kernels",),
    ("io",),
    ("inputs",),
    ("graph", "cache"),
    ("stages",),
    ("present",),
    ("runner",),
    ("sampling",),
    ("guard",),
    ("cli", "__main__"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The pipeline modules a file imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: count packages up from the importing module's own package
                name = _module_name(path)
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base]).strip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: _imports(path, modules) - {name} for name, path in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules along it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def _phase(module: str) -> int:
    top = module.split(".")[1] if module != "pipeline" else "__init__"
    for index, names in enumerate(PHASES):
        if top in names:
            return index
    raise AssertionError(f"{module} belongs to no phase; add it to PHASES in {__file__}")


def test_the_package_has_no_import_cycle() -> None:
    assert _cycle(_graph()) is None, f"import cycle: {' -> '.join(_cycle(_graph()) or [])}"


def test_every_import_points_forward_in_the_phase_order() -> None:
    backward = [f"{module} imports {target}" for module, targets in sorted(_graph().items())
                for target in sorted(targets) if _phase(target) > _phase(module)]
    assert backward == []


def test_the_cycle_finder_finds_a_late_import_cycle(tmp_path: Path) -> None:
    # a cycle closed only by an import inside a function, as the old runner and inputs modules had
    graph = {"pipeline.a": {"pipeline.b"}, "pipeline.b": {"pipeline.c"}, "pipeline.c": {"pipeline.a"}}
    assert _cycle(graph) == ["pipeline.a", "pipeline.b", "pipeline.c", "pipeline.a"]
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pipeline.x\n"
                      "def f():\n    from pipeline.y import z\n", encoding="utf-8")
    assert _imports(module, {"pipeline.x", "pipeline.y", "pipeline.y.z"}) == {"pipeline.x", "pipeline.y",
                                                                               "pipeline.y.z"}


@pytest.mark.parametrize("module", sorted(set(_graph()) - {"pipeline.__main__"}))  # __main__ runs the CLI
def test_every_module_imports(module: str) -> None:
    __import__(module)


def test_the_command_line_loads_the_pipeline_only_when_a_command_runs() -> None:
    # `sinkzone --help` and a mistyped flag must answer at once, also on a slow bureau laptop: loading
    # the command line must not load the compute stack.

    code = ("import sys, pipeline.cli; "
            "heavy = {'dask', 'geopandas', 'matplotlib', 'rasterio', 'pandas', 'distributed'}; "
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
