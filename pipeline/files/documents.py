"""YAML documents (run configs, class maps) as Python values, whatever encoding a bureau's editor saved them in."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import ConfigError, MissingFileError
from pipeline.core.text import decode_text, encoding_note
from pipeline.files.paths import checked_path

log = logging.getLogger(__name__)


def read_yaml(path: Path) -> Any:
    """A YAML file's content; text that is not UTF-8 is read as GB18030, with a note in the log."""
    checked_path(str(path), source="the command line")
    if not path.is_file():
        raise MissingFileError(f"{path}: file not found")
    try:
        text, encoding = decode_text(path.read_bytes())
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: neither UTF-8 nor GB18030 text ({exc.reason} at byte {exc.start}); "
                          "save it as UTF-8") from exc
    note = encoding_note(path, encoding)
    if note is not None:
        log.warning(note)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: nested too deeply to be a run config; check its brackets and indentation") from exc
