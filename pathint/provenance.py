"""Provenance records: what produced an output, from what, with which code, where and how fast."""

from __future__ import annotations

import ast
import hashlib
import os
import platform
import socket
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import __version__

ROOT = Path(__file__).resolve().parent.parent

#: Source each stage's results depend on: whole files, or ``file::function`` for one function of a module
#: shared by several stages. Editing one reruns that stage and what follows it, nothing upstream.
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "trajectories": ("pathint/trajectories.py", "pathint/seeds.py", "pathint/stages.py::run_trajectories", "workflow/scripts/trajectories.py"),
    "train": (
        "pathint/trajectories.py",
        "pathint/seeds.py",
        "pathint/readouts.py",
        "pathint/models.py",
        "pathint/precision.py",
        "pathint/training.py",
        "pathint/stages.py::run_train",
        "workflow/scripts/train.py",
    ),
    "record": (
        "pathint/recording.py",
        "pathint/readouts.py",
        "pathint/models.py",
        "pathint/precision.py",
        "pathint/training.py",
        "pathint/stages.py::run_record",
        "workflow/scripts/record.py",
    ),
    "score": ("pathint/analysis.py", "pathint/scores.py", "pathint/ratemaps.py", "pathint/stages.py::run_score", "workflow/scripts/score.py"),
    "aggregate": ("pathint/aggregate.py", "workflow/scripts/aggregate.py"),
}


def figure_code(name: str) -> tuple[str, ...]:
    return ("pathint/figures/common.py", f"pathint/figures/{name}.py", f"workflow/scripts/figure_{name}.py")


def _source(ref: str, root: Path) -> bytes:
    rel, _, func = ref.partition("::")
    p = root / rel
    if not p.exists():
        return b"<missing>"
    text = p.read_text()
    if not func:
        return text.encode()
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == func:
            return (ast.get_source_segment(text, node) or "").encode()
    return b"<missing function>"


def code_hash(files: Iterable[str], root: Path = ROOT) -> str:
    """sha1 over the contents (not the mtimes) of ``files`` (``path`` or ``path::function``)."""
    h = hashlib.sha1()
    for ref in sorted(files):
        h.update(ref.encode() + b"\0" + _source(ref, root) + b"\0")
    return h.hexdigest()[:12]


def stage_code_hash(stage: str) -> str:
    files = figure_code(stage.removeprefix("figure_")) if stage.startswith("figure_") else STAGE_CODE[stage]
    return code_hash(files)


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


def record(
    stage: str,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    outputs: Iterable[str | os.PathLike] = (),
    config: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    device: str | None = None,
    wall_time_s: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A provenance record for one job of ``stage``; write it with ``pathint.io.write_json``.

    ``device``: where it ran (``pathint.precision.device_name``); default this processor (``cpu_name``).
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
        "params": dict(params) if params is not None else None,
        "inputs": {str(p): sha256_file(p) for p in inputs},
        "outputs": {str(p): sha256_file(p) for p in outputs if Path(p).exists()},
        **(dict(extra) if extra else {}),
    }
