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

from pipeline import PHASES

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"

# the package's own files: `__init__` opens the first phase, `__main__` runs the command line of the last
PHASE_NAMES = [name for name, _ in PHASES]


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
    top = {"__init__": PHASE_NAMES[0], "__main__": PHASE_NAMES[-1]}.get(top, top)
    if top not in PHASE_NAMES:
        raise AssertionError(f"{module} belongs to no phase; add its folder to PHASES in pipeline/__init__.py")
    return PHASE_NAMES.index(top)


def test_the_package_has_no_import_cycle() -> None:
    assert _cycle(_graph()) is None, f"import cycle: {' -> '.join(_cycle(_graph()) or [])}"


def _backward(graph: dict[str, set[str]]) -> list[str]:
    return [f"{module} imports {target}" for module, targets in sorted(graph.items())
            for target in sorted(targets) if _phase(target) > _phase(module)]


def test_every_import_points_forward_in_the_phase_order() -> None:
    assert _backward(_graph()) == []


def test_the_cycle_finder_finds_a_late_import_cycle(tmp_path: Path) -> None:
    # a cycle closed only by an import inside a function, as the old runner and inputs modules had
    graph = {"pipeline.a": {"pipeline.b"}, "pipeline.b": {"pipeline.c"}, "pipeline.c": {"pipeline.a"}}
    assert _cycle(graph) == ["pipeline.a", "pipeline.b", "pipeline.c", "pipeline.a"]
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pipeline.x\n"
                      "def f():\n    from pipeline.y import z\n", encoding="utf-8")
    assert _imports(module, {"pipeline.x", "pipeline.y", "pipeline.y.z"}) == {"pipeline.x", "pipeline.y",
                                                                               "pipeline.y.z"}


@pytest.fixture(scope="module")
def django_site(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The Django site `sinkzone serve` sets up: the platform's models and views load only inside one."""
    from django.conf import settings

    if not settings.configured:
        from pipeline.record.store import open_store
        from pipeline.serve import site

        history = str(tmp_path_factory.mktemp("site") / "history.gpkg")
        open_store(history).close()
        site.start(history, state=None, hosts=[])


@pytest.mark.parametrize("module", sorted(set(_graph()) - {"pipeline.__main__"}))  # __main__ runs the CLI
def test_every_module_imports(module: str, django_site: None) -> None:
    __import__(module)


def test_the_command_line_loads_the_pipeline_only_when_a_command_runs() -> None:
    # `sinkzone --help` and a mistyped flag must answer at once, also on a slow bureau laptop: loading
    # the command line must not load the compute stack.

    code = ("import sys, pipeline.terminal.cli; "
            "heavy = {'dask', 'geopandas', 'matplotlib', 'rasterio', 'pandas', 'distributed'}; "
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_the_folders_list_in_the_order_of_the_phases() -> None:
    # `ls pipeline/` reads like a run: the phase folders sort alphabetically in the order the run flows
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert folders == PHASE_NAMES


def test_a_backward_import_is_found() -> None:
    # the check itself can fail: `core` importing from `files` points backward, `run` importing `core` forward
    graph = {"pipeline.core.grid": {"pipeline.files.rasters"}, "pipeline.run.runner": {"pipeline.core.grid"},
             "pipeline.files.rasters": set(), "pipeline.__main__": {"pipeline.terminal.cli"},
             "pipeline.terminal.cli": set()}
    assert _backward(graph) == ["pipeline.core.grid imports pipeline.files.rasters"]
