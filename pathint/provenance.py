"""Provenance records: what produced an output, from what, with which code, where and how fast."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import __version__


def stage_code_hash(stage: str) -> str:
    """Content hash of the code ``stage`` depends on (:mod:`pathint.codedeps`, from the import graph)."""
    from .stages import stage as get_stage

    return get_stage(stage).code_hash()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Installed versions from package metadata (no imports: importing matplotlib or snakemake costs seconds)."""
    from importlib import metadata

    versions = {"python": platform.python_version(), "pathint": __version__}
    for name in ("numpy", "scipy", "torch", "h5py", "pandas", "pyarrow", "matplotlib", "snakemake"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


@lru_cache(maxsize=None)
def cpu_name() -> str:
    """How provenance names this processor: ``"cpu (<model name>)"``.

    Float results can differ in their last bits between processors (MKL and numpy choose code paths by
    instruction set: measured, numpy 2.5's arctan2 and MKL's GEMM on an AVX-512 machine), so the audit treats
    a re-run on another processor model as a comparison across devices.
    """
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    return f"cpu ({model})" if model else "cpu"


def json_plain(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists), so stored and current settings compare equal."""
    import json

    from .io import _json_default

    return json.loads(json.dumps(obj, default=_json_default))


def record(
    stage: str,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    outputs: Iterable[str | os.PathLike] = (),
    config: Mapping[str, Any] | None = None,
    defines: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    device: str | None = None,
    wall_time_s: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A provenance record for one job of ``stage``; write it with ``pathint.io.write_json``.

    ``defines``: the experiment settings that define the result (with the code hash and the inputs, what
    decides whether the output is current: :mod:`pathint.packs`); ``params``: anything else worth keeping
    (runtime settings). ``device``: where it ran (``pathint.precision.device_name``); default this processor.
    """
    return {
        "stage": stage,
        "code_hash": stage_code_hash(stage),
        "pathint_version": __version__,
        "versions": package_versions(),
        "device": device or cpu_name(),
        "host": socket.gethostname(),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_time_s": wall_time_s,
        "config": dict(config) if config is not None else None,
        "defines": json_plain(defines) if defines is not None else None,
        "params": dict(params) if params is not None else None,
        "inputs": {str(p): sha256_file(p) for p in inputs},
        "outputs": {str(p): sha256_file(p) for p in outputs if Path(p).exists()},
        **(dict(extra) if extra else {}),
    }
