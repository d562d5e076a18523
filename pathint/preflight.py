"""Checks made once before any job runs, beyond the schemas: config files, the output folder and memory.

``check_experiment`` and ``experiment_networks`` (pathint.config) validate every key and build the networks;
:func:`preflight` then checks what needs the file system or the machine:

* every configuration file is re-read with the project's YAML loader, which refuses duplicate keys
  (Snakemake's own loader keeps the last value silently);
* ``results:`` is a folder this process can write, or one it can create (nothing is created here, so
  validating leaves no trace);
* each network's memory estimate per stage (pathint.memory) fits the stage's ``mem_mb`` and, for local runs,
  this machine's memory;
* for local runs, ``training.device: cuda`` has a CUDA device to run on.

``python -m pathint validate`` and the workflow (``workflow/rules/common.smk``) call it; every failure is a
``ConfigError`` with a one-line message naming the file, key or networks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import ConfigError


def check_results_folder(results: str | os.PathLike, source: str = "config") -> None:
    """Raise ConfigError unless ``results`` is a writable folder or could be created as one.

    Decided with ``os.access`` on the folder or on its nearest existing parent, so nothing is created or
    written (a validation leaves no folder behind). Relative paths are taken from the working directory,
    as the workflow takes them.
    """
    path = Path(results)
    where = f"{source}: key 'results'"
    if path.is_symlink() and not path.exists():
        raise ConfigError(f"{where}: {str(results)!r} is a broken symbolic link; expected a folder for the outputs")
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{where}: {str(results)!r} is a file, not a folder; expected a folder for the outputs")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"{where}: folder {str(results)!r} is not writable by this user")
        return
    parent = path.absolute().parent
    while not parent.exists() and not parent.is_symlink():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{where}: {str(results)!r} cannot be created because {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: {str(results)!r} cannot be created: folder {str(parent)!r} is not writable by this user")


def check_local_device(config: Mapping[str, Any], source: str = "config") -> None:
    """For a run on this machine: ``training.device: cuda`` needs a CUDA device torch can see."""
    device = str(config.get("training", {}).get("device", "auto"))
    if not device.startswith("cuda"):
        return
    import torch  # only here: importing torch takes seconds, and only this case needs it

    if not torch.cuda.is_available():
        raise ConfigError(
            f"{source}: key 'training.device': {device!r} but torch sees no CUDA device on this machine (a local "
            "run); use 'auto' or 'cpu'"
        )


def check_config_files(paths: Iterable[str | os.PathLike]) -> None:
    """Re-read configuration files with the project's loader: duplicate keys and bad YAML name the file and line."""
    from .config import load_yaml

    for p in paths:
        load_yaml(p)


def preflight(
    config: Mapping[str, Any],
    networks: Iterable[Any],
    source: str = "config",
    *,
    configfiles: Iterable[str | os.PathLike] = (),
    local: bool = True,
    machine_mb: float | None = None,
) -> None:
    """Every check of this module, for a validated ``config`` (defaults filled in) and its networks.

    ``local``: the jobs run on this machine (Snakemake's local executor, ``pathint validate`` by default),
    so the largest job must also fit this machine's memory (``machine_mb``, default: its physical memory).
    On a cluster only the rules' ``mem_mb`` limits apply.
    """
    from . import memory

    check_config_files(configfiles)
    check_results_folder(config.get("results", "results"), source)
    if local:
        check_local_device(config, source)
    if local and machine_mb is None:
        machine_mb = memory.machine_memory_mb()
    memory.check_memory(
        [getattr(n, "config", n) for n in networks],
        memory.rule_limits(config),
        evaluation=config.get("evaluation", {}),
        scoring=config.get("scoring", {}),
        machine_mb=machine_mb if local else None,
        device=memory.training_device(config, local),
        source=source,
    )


def snakemake_runs_locally(workflow: Any) -> bool:
    """Whether a Snakemake run executes its jobs on this machine, decided while the Snakefile is parsed.

    The executor is chosen after parsing, so this reads what the command line already fixed: a cluster
    executor needs ``--jobs`` (``resource_settings.nodes``; the SLURM profile sets ``jobs: 400``), while the
    local executor turns ``--jobs`` into ``--cores`` and leaves ``nodes`` unset. The Snakefile is parsed again
    inside every cluster job and in local job subprocesses: those are not the main process and need no
    second check against the machine.
    """
    if not getattr(workflow, "is_main_process", True):
        return False
    settings = getattr(workflow, "resource_settings", None)
    return getattr(settings, "nodes", None) is None

