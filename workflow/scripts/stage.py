"""Snakemake entry point of every per-network stage (train, record, score): one network, or one pack."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821

from pathint.malloc import keep_freed_memory  # noqa: E402
from pathint.packs import run_unit  # noqa: E402
from pathint.workflow import job  # noqa: E402

sm = snakemake  # noqa: F821
p = sm.params
# a training process only trains: reuse freed buffers instead of page-faulting every step (pathint.malloc)
kept = keep_freed_memory() if p.stage == "train" else None
with job(sm) as j:
    if kept is not None:
        j.info("malloc keeps freed memory for reuse: %s", "yes" if kept else "no (not glibc)")
    # Runtime settings come from the config, not from the rule's params: they never change a result, so
    # changing them must not trigger a rerun (params do).
    training = sm.config["training"]
    runtime = {"device": training["device"], "threads": sm.threads,
               "checkpoint_every": training["checkpoint_every"], "log_every": training["log_every"]}
    run_unit(
        p.stage,
        p.members,
        sm.config["results"],
        p.defines,
        runtime,
        manifest=sm.output.get("manifest"),
        upstream=sm.input.get("upstream"),
        group_size=training["group_size"],
        group_memory_mb=training["group_memory_mb"],
        log=j.info,
    )
