"""Glue for the thin Snakemake scripts: logging to the rule's log, timing, clean user errors."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from .errors import PathintError


class Job:
    """What a script needs besides the ``snakemake`` object: a logger and a wall clock."""

    def __init__(self, log: logging.Logger):
        self.log = log
        self.t0 = time.perf_counter()

    @property
    def wall_time(self) -> float:
        return time.perf_counter() - self.t0

    def info(self, msg: str, *args: Any) -> None:
        self.log.info(msg, *args)


@contextlib.contextmanager
def job(snakemake: Any) -> Iterator[Job]:
    """Send logging, stdout and stderr to the rule's log; turn a PathintError into a one-line failure."""
    log_path = Path(snakemake.log[0]) if len(snakemake.log) else None
    stream = open(log_path, "a", buffering=1) if log_path else sys.stderr
    logger = logging.getLogger(f"pathint.{snakemake.rule}")
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = stream
    j = Job(logger)
    try:
        yield j
        logger.info("done in %.1f s", j.wall_time)
    except PathintError as exc:
        logger.error("%s", exc)
        sys.stdout, sys.stderr = old_out, old_err
        print(f"pathint: {snakemake.rule}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        logger.removeHandler(handler)
        if log_path:
            stream.close()

