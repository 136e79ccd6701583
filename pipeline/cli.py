"""Command line: `sinkzone validate | run`. The only module that prints or exits."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from pipeline import guard, io, runner
from pipeline.config import Carbon, RunConfig, format_validation_error, load_config
from pipeline.errors import ConfigError, SinkzoneError
from pipeline.inputs import check_inputs

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="sinkzone: exact land-cover area and carbon per carbon-sink zone, as a QGIS-ready GeoPackage.")
console = Console(stderr=True)
log = logging.getLogger("pipeline")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(console=console, show_path=False)], force=True)
    for noisy in ("distributed", "rasterio", "pyogrio", "fiona"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _year_and_path(item: str, *, flag: str, default_year: int | None) -> dict[str, object]:
    """`YEAR=PATH`, or a bare `PATH` taking `default_year` where one makes sense."""
    year, sep, path = item.partition("=")
    if not sep:
        if default_year is None:
            raise ConfigError(f"{flag} {item!r}: with several epochs each needs YEAR=PATH")
        year, path = str(default_year), item
    if not year.strip().isdigit():
        raise ConfigError(f"{flag} {item!r}: the year before '=' must be a number")
    return {"year": int(year), "path": str(Path(path).resolve())}


def _parse_landcover(items: list[str]) -> list[dict[str, object]]:
    """Year 2000 is assumed for a bare PATH only when a single epoch is given."""
    default = 2000 if len(items) == 1 else None
    return [_year_and_path(item, flag="--landcover", default_year=default) for item in items]


def _validated(raw: Mapping[str, object]) -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "command line")) from exc


def _one_off_config(landcover: list[str], zones: Path | None, zone_id: str | None, classes: str | None,
                    out: Path | None) -> RunConfig:
    missing = [flag for flag, v in (("--landcover", landcover), ("--zones", zones), ("--zone-id", zone_id),
                                    ("--classes", classes), ("--out", out)) if not v]
    if missing:
        raise ConfigError(f"without a config file, give {', '.join(missing)}")
    raw = {"name": "one-off", "landcover": _parse_landcover(landcover),
           "zones": {"path": str(Path(str(zones)).resolve()), "id_field": zone_id},
           "classes": classes if not str(classes).endswith((".yaml", ".yml")) else str(Path(str(classes)).resolve()),
           "output": {"dir": str(Path(str(out)).resolve())}}
    return _validated(raw)


def _with_carbon_flags(cfg: RunConfig, pools: str | None, biomass: list[str]) -> RunConfig:
    """Add --pools / --biomass ([YEAR=]PATH; a bare PATH is the latest epoch) to the config's carbon section."""
    if not pools and not biomass:
        return cfg
    latest = max(e.year for e in cfg.landcover)
    rasters = [_year_and_path(item, flag="--biomass", default_year=latest) for item in biomass]
    base = cfg.carbon.model_dump() if cfg.carbon else {}
    if pools:
        base["pools"] = pools if not pools.endswith(".csv") else str(Path(pools).resolve())
    if rasters:
        base["biomass"] = rasters
    try:
        carbon = Carbon.model_validate(base).model_dump()
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "command line")) from exc
    return _validated({**cfg.model_dump(), "carbon": carbon})


def _fail(exc: SinkzoneError) -> None:
    console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=exc.exit_code)


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="run config YAML")],
             verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Check a config and all its inputs; report every problem at once."""
    _setup_logging(verbose)
    try:
        inputs = check_inputs(load_config(config))
    except SinkzoneError as exc:
        _fail(exc)
        return
    for note in inputs.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(f"[green]ok:[/] {config}: {len(inputs.rasters)} epoch(s), {len(inputs.zones.ids)} zones, "
                  f"class map {inputs.class_map.name}", highlight=False)


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="run config YAML (or give the inputs as options)")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (overrides the config)")] = None,
    overwrite: Annotated[bool, typer.Option(help="recompute and replace even when nothing changed")] = False,
    landcover: Annotated[list[str] | None, typer.Option(help="[YEAR=]PATH of a land-cover raster; repeat")] = None,
    zones: Annotated[Path | None, typer.Option(help="zone layer (GeoPackage, Shapefile, GeoJSON)")] = None,
    zone_id: Annotated[str | None, typer.Option(help="field holding the zone id")] = None,
    classes: Annotated[str | None, typer.Option(help="built-in class map name or YAML file")] = None,
    scheduler: Annotated[str | None, typer.Option(help="dask.distributed scheduler address")] = None,
    pools: Annotated[str | None, typer.Option(help="carbon pools table: built-in name (baotou) or CSV")] = None,
    biomass: Annotated[list[str] | None, typer.Option(help="[YEAR=]PATH of a biomass raster, t d.m./ha")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Compute class area per zone and write sinkzones.gpkg and run.json."""
    _setup_logging(verbose)
    try:
        cfg = load_config(config) if config else _one_off_config(landcover or [], zones, zone_id, classes, out)
        updates: dict[str, object] = {"output": cfg.output.model_copy(update={"dir": out.resolve()})} if out else {}
        if scheduler:
            updates["compute"] = cfg.compute.model_copy(update={"scheduler": scheduler})
        cfg = _with_carbon_flags(cfg.model_copy(update=updates), pools, biomass or [])
        with _progress_bar() as hook:
            result = guard.guarded_run(cfg, overwrite=overwrite, progress=hook)
    except SinkzoneError as exc:
        _fail(exc)
        return
    if result.skipped:
        console.print(f"[green]up to date:[/] {result.out_dir} (use --overwrite to recompute)", highlight=False)
        return
    console.print(f"[green]done:[/] {result.out_dir / 'sinkzones.gpkg'} and {result.out_dir / 'run.json'} "
                  f"({len(result.zones)} zones)", highlight=False)


@app.command()
def batch(folder: Annotated[Path, typer.Argument(help="folder of run configs (*.yaml)")],
          overwrite: Annotated[bool, typer.Option(help="recompute every run even if nothing changed")] = False,
          verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run every config in FOLDER, go on past failures, print a summary; exit 1 if any run failed."""
    _setup_logging(verbose)
    try:
        configs = io.list_configs(folder)
    except SinkzoneError as exc:
        _fail(exc)
        return
    outcomes = guard.run_batch(configs, overwrite=overwrite)
    table = Table(title=f"batch {folder}: {len(outcomes)} run(s)")
    for column in ("config", "status", "seconds", "output or error"):
        table.add_column(column, overflow="fold")
    colours = {"done": "green", "up to date": "green", "failed": "bold red"}
    for o in outcomes:
        table.add_row(o.config.name, f"[{colours[o.status]}]{o.status}[/]", f"{o.seconds:.1f}", o.detail)
    console.print(table)
    failed = sum(o.status == "failed" for o in outcomes)
    if failed or not outcomes:
        console.print(f"[bold red]{failed} of {len(outcomes)} run(s) failed[/]" if outcomes
                      else f"[bold red]no *.yaml config in {folder}[/]", highlight=False)
        raise typer.Exit(code=1)


class _progress_bar:  # noqa: N801 - used as a context manager like a function
    """A rich progress bar fed by the runner's progress hook, shown only on a terminal."""

    def __enter__(self) -> runner.ProgressHook | None:
        if not console.is_terminal:
            return None
        self._progress = Progress(TextColumn("computing chunks"), BarColumn(),
                                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                                  TimeRemainingColumn(), console=console, transient=True)
        self._task = self._progress.add_task("chunks", total=None)
        self._progress.start()
        return self._update

    def _update(self, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if hasattr(self, "_progress"):
            self._progress.stop()


def main() -> None:
    app()
