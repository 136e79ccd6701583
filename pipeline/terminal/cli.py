"""Command line: `sinkzone validate | run | batch | sample | ingest | history | serve | users | publish`.

The only module that prints or exits."""

from __future__ import annotations

import getpass
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from pipeline.core.errors import INTERRUPTED_EXIT, NOT_STORED_EXIT, SinkzoneError
from pipeline.core.names import GPKG_NAME, REGION, RUN_RECORD

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.measure.graph import ProgressHook
    from pipeline.record.backend import Store

# The commands import the pipeline (dask, geopandas, matplotlib...) only when they run, so `sinkzone
# --help` and a mistyped command answer at once.

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="sinkzone: exact land-cover area and carbon per carbon-sink zone, as a QGIS-ready GeoPackage.")
# soft_wrap: messages keep their lines whole (a log file or cron mail is not 80 columns wide)
console = Console(stderr=True, soft_wrap=True)
history_app = typer.Typer(no_args_is_help=True, help="The history store: list, compare, review and export runs.")
app.add_typer(history_app, name="history")
_HISTORY_HELP = "history store: a GeoPackage path (history.gpkg) or postgresql://user@host/db"
log = logging.getLogger("pipeline")


class _NoTraceback(logging.Formatter):
    """Messages only on the terminal: tracebacks go to the run log, whose path the error line names."""

    def formatException(self, ei: object) -> str:  # noqa: N802 - logging's name
        return ""

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return ""


def _log_handler() -> logging.Handler:
    """Rich lines on a terminal; one plain, unwrapped line per message under cron, in a pipe or a file."""
    if console.is_terminal:
        from rich.highlighter import NullHighlighter
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=console, show_path=False, markup=False,
                                               highlighter=NullHighlighter())
        handler.setFormatter(_NoTraceback("%(message)s", datefmt="[%X]"))
        return handler
    handler = logging.StreamHandler(console.file)
    handler.setFormatter(_NoTraceback("%(asctime)s %(levelname)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"))
    return handler


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[_log_handler()], force=True)
    for noisy in ("distributed", "rasterio", "pyogrio", "fiona"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _say(label: str, style: str, message: object) -> None:
    """One labelled message; the message is plain text (user ids, paths and `[codes]` are never markup)."""
    console.print(Text.assemble((label, style), " ", str(message)), highlight=False, soft_wrap=True)


def _fail(exc: SinkzoneError) -> None:
    _say("error:", "bold red", exc)
    raise typer.Exit(code=exc.exit_code)


_working = [False]  # inside _interruptible: a Ctrl-C unwinds the work (staging dropped, logs kept)


@contextmanager
def _unwinding() -> Iterator[None]:
    """Work that a Ctrl-C or SIGTERM must unwind (KeyboardInterrupt) rather than end on the spot."""
    _working[0] = True
    try:
        yield
    finally:
        _working[0] = False


@contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C at any moment: one line and exit 130; the staged output is dropped, the previous one kept."""
    try:
        with _unwinding():
            yield
    except KeyboardInterrupt:
        _say("interrupted,", "bold red", "the previous output is untouched")
        raise typer.Exit(code=INTERRUPTED_EXIT) from None


def _on_ctrl_c(signum: int, frame: object) -> None:
    """Inside the work a Ctrl-C unwinds it; before (loading the pipeline, reading the config) nothing is written yet,
    so it ends at once with the same line and code, where click would say "Aborted!" and exit 1."""
    if _working[0]:
        raise KeyboardInterrupt
    _say("interrupted,", "bold red", "nothing was changed")
    raise SystemExit(INTERRUPTED_EXIT)


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="run config YAML")],
             verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Check a config and all its inputs; report every problem at once."""
    from pipeline.inputs.check import check_inputs
    from pipeline.inputs.run_config import load_config

    _setup_logging(verbose)
    try:
        with _interruptible():
            inputs = check_inputs(load_config(config))
    except SinkzoneError as exc:
        _fail(exc)
        return
    for note in inputs.notes:
        _say("note:", "yellow", note)
    _say("ok:", "green", f"{config}: {len(inputs.rasters)} epoch(s), {len(inputs.zones.ids)} zones, "
         f"class map {inputs.class_map.name}")


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="run config YAML (or give the inputs as options)")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (overrides the config)")] = None,
    overwrite: Annotated[bool, typer.Option(help="recompute and replace even when nothing changed")] = False,
    landcover: Annotated[list[str] | None, typer.Option(help="[YEAR=]PATH of a land-cover raster; repeat")] = None,
    zones: Annotated[Path | None, typer.Option(help="zone layer (GeoPackage, Shapefile, GeoJSON)")] = None,
    zone_id: Annotated[str | None, typer.Option(help="field holding the zone id")] = None,
    zones_layer: Annotated[str | None, typer.Option(help="layer of the zone file (GeoPackage with several)")] = None,
    zones_encoding: Annotated[str | None, typer.Option(help="text encoding of a Shapefile's .dbf, e.g. GBK")] = None,
    classes: Annotated[str | None, typer.Option(help="built-in class map name or YAML file")] = None,
    scheduler: Annotated[str | None, typer.Option(help="dask.distributed scheduler address")] = None,
    pools: Annotated[str | None, typer.Option(help="carbon pools table: built-in name (baotou) or CSV")] = None,
    biomass: Annotated[list[str] | None, typer.Option(help="[YEAR=]PATH of a biomass raster, t d.m./ha")] = None,
    history: Annotated[str | None, typer.Option(help=_HISTORY_HELP + "; the run is ingested at its end")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Compute class area per zone and write sinkzones.gpkg and run.json."""
    from pipeline.core.config import Overrides
    from pipeline.inputs.run_config import load_config
    from pipeline.run import guarded_run

    _setup_logging(verbose)
    flags = Overrides(out=out, scheduler=scheduler, landcover=tuple(landcover or ()), zones=zones, zone_id=zone_id,
                      zones_layer=zones_layer, zones_encoding=zones_encoding, classes=classes, pools=pools,
                      biomass=tuple(biomass or ()), history=history)
    try:
        with _interruptible():
            cfg = load_config(config, flags)
            with _progress_bar() as hook:
                result = guarded_run.guarded_run(cfg, overwrite=overwrite, progress=hook)
    except SinkzoneError as exc:
        _fail(exc)
        return
    if result.skipped:
        _say("up to date:", "green", f"{result.out_dir} (use --overwrite to recompute)")
    else:
        _say("done:", "green", f"{result.out_dir / GPKG_NAME} and {result.out_dir / RUN_RECORD} "
             f"({len(result.zones)} zones)")
        if REGION in result.tables:
            _print_targets(result.tables[REGION])
    if result.stored is not None:
        _say("stored:" if result.stored.stored else "already stored:", "green", f"run {result.stored.run_id} in the "
             "history store")
    if result.not_stored is not None:
        _say("not stored:", "bold red", f"{result.not_stored}; the output is written: store it later with "
             f"`sinkzone ingest {result.out_dir} --history TARGET`")
        raise typer.Exit(code=NOT_STORED_EXIT)


def _print_targets(indicators: pd.DataFrame) -> None:
    """One line per region indicator that has a target, at its latest year, against that target."""
    targeted = indicators[indicators["target"].notna()].sort_values("year", kind="stable")
    for row in targeted.drop_duplicates(["indicator", "sink_type"], keep="last").sort_index().to_dict("records"):
        name = f"{row['label_zh']} {row['label_en']}" + "".join(f" ({row[c]})" for c in ("sink_type", "wetland_source")
                                                                if row.get(c))
        value = "no data" if row["value"] != row["value"] else f"{row['value']:,.2f} {row['unit']}"
        share = "" if row["pct_of_target"] != row["pct_of_target"] else f", {row['pct_of_target']:,.1f} % of it"
        marked = " [ILLUSTRATIVE input]" if row["illustrative"] else ""
        _say("indicator:", "cyan", f"{name} {row['year']}: {value}; target {row['target']:,.2f} {row['unit']} by "
             f"{int(row['target_year'])}{share}{marked}")


@app.command()
def batch(folder: Annotated[Path, typer.Argument(help="folder of run configs (*.yaml)")],
          overwrite: Annotated[bool, typer.Option(help="recompute every run even if nothing changed")] = False,
          history: Annotated[str | None, typer.Option(help=_HISTORY_HELP + "; every run is ingested")] = None,
          verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run every config in FOLDER, go on past failures, print a summary; exit 1 if any run failed (4 if every run
    finished but the history store did not take one). Each config's attempt is recorded in its history store."""
    from rich.table import Table

    from pipeline.files.paths import list_configs
    from pipeline.run import batch

    _setup_logging(verbose)
    try:
        configs = list_configs(folder)
    except SinkzoneError as exc:
        _fail(exc)
        return
    with _unwinding():
        outcomes = batch.run_batch(configs, overwrite=overwrite, history=history)
    table = Table(title=Text(f"batch {folder}: {len(outcomes)} run(s)"))
    for column in ("config", "status", "seconds", "output or error"):
        table.add_column(column, overflow="fold")
    colours = {"done": "green", "up to date": "green", "not stored": "yellow", "failed": "bold red",
               "not run": "yellow"}
    for o in outcomes:
        table.add_row(Text(o.config.name), Text(o.status, style=colours[o.status]), f"{o.seconds:.1f}",
                      Text(o.detail))
    console.print(table)
    if any(o.status == "not run" for o in outcomes):
        _say("interrupted,", "bold red", "the runs marked 'not run' did not start; finished outputs are kept")
        raise typer.Exit(code=INTERRUPTED_EXIT)
    failed = sum(o.status == "failed" for o in outcomes)
    if failed or not outcomes:
        _say("error:", "bold red", f"{failed} of {len(outcomes)} run(s) failed" if outcomes
             else f"no *.yaml config in {folder}")
        raise typer.Exit(code=1)
    if any(o.status == "not stored" for o in outcomes):
        _say("not stored:", "bold red", "the outputs are written; store the runs marked 'not stored' later with "
             "`sinkzone ingest OUTPUT_DIR... --history TARGET`")
        raise typer.Exit(code=NOT_STORED_EXIT)


@app.command()
def sample(
    config: Annotated[Path, typer.Argument(help="run config YAML (its land cover, zones and class map)")],
    out: Annotated[Path, typer.Option(help="samples.gpkg; samples.csv and samples.kml are written beside it")],
    year: Annotated[int | None, typer.Option(help="the epoch to assess (default: the latest)")] = None,
    strata_year: Annotated[int | None, typer.Option(help="stratify on this epoch's classes (default: --year)")] = None,
    n: Annotated[int | None, typer.Option("--n", help="total sample size (default: from --target-se)")] = None,
    target_se: Annotated[float, typer.Option(help="target standard error of overall accuracy")] = 0.01,
    expected_accuracy: Annotated[float, typer.Option(help="expected user's accuracy of every stratum")] = 0.8,
    min_per_stratum: Annotated[int, typer.Option(help="least points in a stratum")] = 50,
    seed: Annotated[int, typer.Option(help="random seed; the same seed draws the same points")] = 0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Draw a stratified random sample of cells inside the zones for an interpreter to label.

    With `accuracy: {change: ...}` in the config the strata are its change categories (forest_gain, ...)."""
    from rich.table import Table

    from pipeline.inputs.run_config import load_config
    from pipeline.run import sampling

    _setup_logging(verbose)
    design = sampling.Design(year=year, strata_year=strata_year, n=n, target_se=target_se,
                             expected_accuracy=expected_accuracy, min_per_stratum=min_per_stratum, seed=seed)
    try:
        with _interruptible():
            drawn = sampling.draw(load_config(config), design, out=out)
    except SinkzoneError as exc:
        _fail(exc)
        return
    table = Table(title=f"{len(drawn.points)} sample points")
    for column in ("stratum", "cells", "area (ha)", "weight", "points"):
        table.add_column(column, justify="left" if column == "stratum" else "right")
    for row in drawn.allocation.itertuples(index=False):
        table.add_row(Text(str(row.stratum)), f"{row.cells:,}", f"{row.area_ha:,.2f}", f"{row.weight:.4f}", str(row.n))
    console.print(table)
    for note in drawn.notes:
        _say("note:", "yellow", note)
    _say("done:", "green", f"{', '.join(str(f) for f in drawn.files)}; fill in the column `reference`")

users_app = typer.Typer(no_args_is_help=True, help="the web platform's users: add one, list them")
app.add_typer(users_app, name="users")
HistoryOption = Annotated[str, typer.Option("--history", help="the history store: history.gpkg or postgresql://...")]
StateOption = Annotated[Path | None, typer.Option(
    "--state", help="folder for the platform's own database and key (default: beside the GeoPackage; needed with "
                    "a postgresql:// store)")]


def _platform(history: str, state: Path | None, *, hosts: list[str]) -> None:
    """The web platform set up for this history store (its own tables beside it), or the reason it cannot be."""
    from pipeline.serve import site

    try:
        site.start(history, state=state, hosts=hosts)
    except SinkzoneError as exc:
        _fail(exc)


def _bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        _say("error:", "bold red", f"--bind {bind!r} is not HOST:PORT; give e.g. 127.0.0.1:8000")
        raise typer.Exit(code=2)
    return host.strip("[]"), int(port)


@app.command()
def serve(history: HistoryOption,
          bind: Annotated[str, typer.Option(help="HOST:PORT to listen on (0.0.0.0:8000 for the intranet)")]
          = "127.0.0.1:8000", state: StateOption = None) -> None:
    """Serve the web platform (综合管理平台) for a history store: maps, series, runs and their review."""
    from pipeline.serve import site

    host, port = _bind(bind)
    _platform(history, state, hosts=site.hosts_for(host))
    _say("serving:", "green", f"http://{bind}/ for {history}; add users with `sinkzone users add NAME --role ROLE "
         f"--history {history}` (password on standard input); Ctrl-C stops")
    site.serve(host, port)


@app.command()
def publish(history: HistoryOption,
            out: Annotated[Path, typer.Option(help="folder for the snapshot: new, empty, or an earlier snapshot "
                                                   "(replaced whole)")],
            include_drafts: Annotated[bool, typer.Option(
                "--include-drafts", help="also show figures of runs not yet reviewed, each marked 草稿 draft")] = False,
            ) -> None:
    """Publish a static, read-only public snapshot (HTML, GeoJSON, PNG, CSV) of the accepted figures, for any web
    server or a browser opening the files; no database behind it."""
    from pipeline.serve.snapshot_files import publish as publish_snapshot

    _say("publishing:", "green", f"{history} -> {out} ({'accepted and draft' if include_drafts else 'accepted'} "
         "runs' figures)")
    try:
        with _interruptible():
            folder, shown = publish_snapshot(history, out=out, include_drafts=include_drafts)
    except SinkzoneError as exc:
        _fail(exc)
        return
    if shown.left_out:
        _say("note:", "yellow", f"{shown.left_out} zone(s) have no figures that may be published and are left out")
    _say("done:", "green", f"{folder}: {len(shown.zones)} zone page(s) from run(s) "
         f"{', '.join(r['run_id'] for r in shown.runs)}; open {folder / 'index.html'} in a browser, or copy the folder "
         "to any web server (e.g. nginx's root)")


@users_app.command("add")
def users_add(name: Annotated[str, typer.Argument(help="the user's log-in name")],
              role: Annotated[str, typer.Option(help="admin | analyst | data_entry | viewer")],
              history: HistoryOption,
              counties: Annotated[str, typer.Option(help="counties A,B a data entry user works on")] = "",
              state: StateOption = None) -> None:
    """Add a user; the password is read from standard input (typed unseen on a terminal)."""
    _platform(history, state, hosts=[])
    from pipeline.serve import roles  # Django's models load once the site is set up

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    try:
        roles.add_user(name, role=role, counties=[c.strip() for c in counties.split(",") if c.strip()],
                       password=password, by=f"command line ({getpass.getuser()})")
    except SinkzoneError as exc:
        _fail(exc)
        return
    _say("added:", "green", f"{name} ({role}); log in at the platform's /login/")


@users_app.command("list")
def users_list(history: HistoryOption, state: StateOption = None) -> None:
    """List the platform's users with their roles and counties."""
    from rich.table import Table

    _platform(history, state, hosts=[])
    from pipeline.serve import roles  # Django's models load once the site is set up

    table = Table(title="users 用户")
    for column in ("name", "role", "counties"):
        table.add_column(column)
    for name, role, counties in roles.list_users():
        table.add_row(Text(name), Text(role), Text(",".join(counties)))
    Console(soft_wrap=True).print(table)


@app.command()
def ingest(outputs: Annotated[list[Path], typer.Argument(help="output folders of finished runs")],
           history: Annotated[str, typer.Option(help=_HISTORY_HELP)],
           verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Store finished runs' outputs in the history store, one transaction each; a run already stored is left.
    Exit 2 if an output was refused, 4 if the store could not take one."""
    from pipeline.record.ingest import ingest_folder

    _setup_logging(verbose)
    code = 0
    with _interruptible():
        for folder in outputs:
            try:
                done = ingest_folder(folder, target=history)
            except SinkzoneError as exc:
                _say("error:", "bold red", exc)
                code = max(code, exc.exit_code)
                continue
            _say("stored:" if done.stored else "already stored:", "green", f"{folder}: run {done.run_id}"
                 + (f", {done.figure_rows:,} figures, {done.new_zone_versions} new zone version(s)" if done.stored
                    else " (nothing changed)"))
    if code:
        raise typer.Exit(code=code)


_FORMAT = Annotated[str, typer.Option("--format", help="text, csv or json")]
_STORE = Annotated[str, typer.Option("--history", help=_HISTORY_HELP)]


def _print_table(frame: pd.DataFrame, fmt: str) -> None:
    """A table on standard output: aligned text, CSV or JSON records (user text always literal)."""
    if fmt == "csv":
        from pipeline.core.literal import csv_text

        print(frame.map(lambda v: csv_text(v) if isinstance(v, str) else v).to_csv(index=False), end="")
    elif fmt == "json":
        print(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
    else:
        print(frame.to_string(index=False) if len(frame) else "(none)")


@contextmanager
def _history(target: str, *, fmt: str = "text", create: bool = False) -> Iterator[Store]:
    """The store for one history command; a store problem ends it with its message and exit code."""
    from pipeline.record.store import open_store

    if fmt not in ("text", "csv", "json"):
        _say("error:", "bold red", f"--format {fmt!r}: use text, csv or json")
        raise typer.Exit(code=2)
    try:
        with _interruptible(), open_store(target, create=create) as store:
            yield store
    except SinkzoneError as exc:
        _fail(exc)


@history_app.command("runs")
def history_runs(history: _STORE, fmt: _FORMAT = "text") -> None:
    """Every stored run, newest first: id, name, finish time, review state, years."""
    from pipeline.record import queries

    with _history(history, fmt=fmt) as store:
        _print_table(queries.runs(store), fmt)


@history_app.command("attempts")
def history_attempts(history: _STORE, fmt: _FORMAT = "text") -> None:
    """Every config a batch tried, newest first: when, status (done, up to date, not stored, failed, not run), why,
    its run and the host."""
    from pipeline.record import attempts

    with _history(history, fmt=fmt) as store:
        _print_table(attempts.recent(store), fmt)


@history_app.command("show")
def history_show(run: Annotated[str, typer.Argument(help="run id (or a unique start of one)")], history: _STORE,
                 fmt: _FORMAT = "text") -> None:
    """One run: its record, its epochs (product, version, file hash) and its rows per table."""
    import pandas as pd

    from pipeline.record import queries

    with _history(history, fmt=fmt) as store:
        record, epochs, counts = queries.show(store, run)
    if fmt == "text":
        for key, value in record.items():
            print(f"{key}: {value}")
        _print_table(epochs, fmt)
        _print_table(counts, fmt)
    else:
        _print_table(pd.DataFrame([record.astype(str)]), fmt)


@history_app.command("coverage")
def history_coverage(history: _STORE, fmt: _FORMAT = "text") -> None:
    """Zones x years: accepted, draft or missing (全覆盖)."""
    from pipeline.record import queries

    with _history(history, fmt=fmt) as store:
        _print_table(queries.coverage(store), fmt)


@history_app.command("diff")
def history_diff(run_a: Annotated[str, typer.Argument(help="the earlier run")],
                 run_b: Annotated[str, typer.Argument(help="the later run")], history: _STORE,
                 fmt: _FORMAT = "text") -> None:
    """Per zone, year and metric the change from RUN_A to RUN_B, largest first; and which inputs differ."""
    from pipeline.record import queries

    with _history(history, fmt=fmt) as store:
        found = queries.diff(store, run_a, run_b)
    _print_table(found.figures, fmt)
    if fmt == "text":
        print("inputs that differ:")
        _print_table(found.inputs, fmt)


@history_app.command("accept")
def history_accept(run: Annotated[str, typer.Argument(help="run id")], history: _STORE,
                   by: Annotated[str | None, typer.Option(help="who accepts (default: your login)")] = None) -> None:
    """Accept a run: zone_series serves its figures before any draft's."""
    import getpass

    from pipeline.record import queries

    with _history(history) as store:
        rid = queries.review(store, run, state="accepted", by=by or getpass.getuser())
    _say("accepted:", "green", f"run {rid}")


@history_app.command("supersede")
def history_supersede(run: Annotated[str, typer.Argument(help="run id")], history: _STORE,
                      by: Annotated[str, typer.Option(help="who supersedes it")],
                      note: Annotated[str, typer.Option(help="why (kept with the run)")]) -> None:
    """Supersede a run: zone_series no longer serves its figures; they stay stored."""
    from pipeline.record import queries

    with _history(history) as store:
        rid = queries.review(store, run, state="superseded", by=by, note=note)
    _say("superseded:", "green", f"run {rid}")


@history_app.command("export")
def history_export(history: _STORE,
                   out: Annotated[Path, typer.Option(help="series.xlsx, series.csv or series.gpkg")],
                   zone: Annotated[str | None, typer.Option(help="one zone id")] = None,
                   years: Annotated[str | None, typer.Option(help="A:B, the years from A to B")] = None) -> None:
    """Write the served series (zone_series) to a workbook, CSV or GeoPackage (with the zones)."""
    from pipeline.files.output import write_series
    from pipeline.files.publish import publish_files
    from pipeline.record import queries

    if out.suffix not in (".xlsx", ".csv", ".gpkg"):
        _say("error:", "bold red", f"{out}: --out must end in .xlsx, .csv or .gpkg")
        raise typer.Exit(code=2)
    span = _years(years)
    with _history(history) as store:
        series = queries.series(store, zone=zone, years=span)
        zones = queries.zone_shapes(store, zone=zone)
        try:
            publish_files(out.parent, {out.name: lambda p: write_series(p, series=series, zones=zones)}, inputs=[])
        except SinkzoneError as exc:
            _fail(exc)
    _say("done:", "green", f"{out}: {len(series):,} figures of {series['zone_id'].nunique()} zone(s)")


def _years(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    first, _, last = text.partition(":")
    try:
        return int(first), int(last or first)
    except ValueError:
        _say("error:", "bold red", f"--years {text!r}: give A:B, e.g. 2018:2024")
        raise typer.Exit(code=2) from None


@history_app.command("migrate")
def history_migrate(history: _STORE) -> None:
    """Create the store or bring it to this sinkzone's schema (PostGIS: as the owner role)."""
    with _history(history, create=True) as store:
        version = store.schema_version()
    _say("ok:", "green", f"history store at schema version {version}")


class _progress_bar:  # noqa: N801 - used as a context manager like a function
    """A rich progress bar fed by the runner's progress hook, shown only on a terminal."""

    def __enter__(self) -> ProgressHook | None:
        if not console.is_terminal:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

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


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """A termination request (systemd, a cron timeout, `kill`) stops a run as Ctrl-C does: the staged output
    is dropped, the previous output kept, and a batch prints its summary with the rest marked not run."""
    _on_ctrl_c(signum, frame)


def main() -> None:
    signal.signal(signal.SIGINT, _on_ctrl_c)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    app()
