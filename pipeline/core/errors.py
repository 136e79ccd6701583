"""One exception hierarchy: every problem a user can cause is a SinkzoneError with a message naming
the file and what to do. The command line turns these into a message and a non-zero exit code."""


INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report a Ctrl-C
NOT_STORED_EXIT = 4  # the run's output is written, but the history store did not take it


class SinkzoneError(Exception):
    """Base of every error sinkzone raises on purpose."""

    exit_code = 2


class ConfigError(SinkzoneError):
    """The run configuration is malformed: unknown keys, wrong types, impossible values."""


class InputError(SinkzoneError):
    """An input file is missing, unreadable or unusable."""


class MissingFileError(InputError):
    """An input path does not exist."""


class RasterError(InputError):
    """A land-cover or biomass raster cannot be used as given."""


class MissingCRSError(InputError):
    """A raster or vector file has no coordinate reference system."""


class ZoneError(InputError):
    """The zone layer is unusable: duplicate or missing ids, no usable geometry, no overlap."""


class ClassMapError(InputError):
    """The class map is malformed or does not cover the codes found in the raster."""


class TableError(InputError):
    """A factor table (carbon pools, species, plan sheet) is malformed or incomplete."""


class OutputError(SinkzoneError):
    """The output folder cannot be written, or another run holds it."""


class StoreError(SinkzoneError):
    """The history store cannot be used as asked: not a history store, written by a newer sinkzone, a role that may
    not do this, or an output folder that cannot be ingested (no complete run.json, files that do not match it)."""


class StoreUnavailable(StoreError):
    """The history store cannot be reached (server down, wrong password) or another writer holds it too long.

    A run that finished keeps its own output and exits with this code; `sinkzone ingest` catches up later."""

    exit_code = NOT_STORED_EXIT


class PlatformError(SinkzoneError):
    """The web platform cannot start or do as asked: no history store, an unsafe key file, an unknown user or role."""


class ValidationFailed(SinkzoneError):
    """Several problems were found at once; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) found:\n" + "\n".join(f"  - {p}" for p in problems))


class InternalError(SinkzoneError):
    """An unexpected failure inside sinkzone (a bug); the traceback is kept in the run log."""

    exit_code = 3
