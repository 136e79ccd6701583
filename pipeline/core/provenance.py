"""What a run was made from: config, input fingerprints, package versions; and its run id."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from typing import Any

import pipeline

_PACKAGES = ("numpy", "pandas", "geopandas", "shapely", "rasterio", "pyproj", "pyogrio", "dask", "distributed",
             "pydantic")


def package_versions() -> dict[str, str]:
    versions = {"sinkzone": pipeline.__version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {**versions, **_native_versions()}


def _native_versions() -> dict[str, str]:
    """The C libraries that compute: GDAL reads and warps, PROJ transforms, GEOS intersects."""
    import pyproj
    import rasterio
    import shapely

    return {"GDAL": str(rasterio.__gdal_version__), "PROJ": str(pyproj.proj_version_str),
            "GEOS": str(shapely.geos_version_string)}


def run_id(config: dict[str, Any], fingerprints: list[dict[str, Any]], *, code: str) -> str:
    """Same config, same input bytes and the same sinkzone code (`code`, a digest of its source) give the same id.

    The fingerprints keep the config's order (epochs by year), so swapping two epochs' files changes the id.
    """
    payload = {
        # where the figures are written or stored does not change them
        "config": {k: v for k, v in config.items() if k not in ("output", "history")},
        "inputs": [f["sha256"] for f in fingerprints],
        "sinkzone": pipeline.__version__,
        "code": code,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
