"""Snakemake entry point: one stage (train, record or score) for every network of one pack."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821

from pathint.malloc import keep_freed_memory  # noqa: E402
from pathint.packs import run_stage_pack  # noqa: E402
from pathint.workflow import job  # noqa: E402

sm = snakemake  # noqa: F821
# a training pack's process only trains: reuse freed buffers instead of page-faulting every step (train.py)
kept = keep_freed_memory() if sm.params.stage == "train" else None
with job(sm) as j:
    p = sm.params
    if kept is not None:
        j.info("malloc keeps freed memory for reuse: %s", "yes" if kept else "no (not glibc)")
    run_stage_pack(
        p.stage,
        networks=p.networks,
        results=Path(sm.output.manifest).parents[2],  # <results>/packs/<stage>/<pack>.json
        manifest=sm.output.manifest,
        upstream=sm.input.get("upstream"),
        eval_h5=sm.input.get("eval"),
        runtime=p.get("runtime"),
        threads=sm.threads,
        evaluation=p.get("evaluation"),
        scoring=p.get("scoring"),
        box=p.get("box"),
        datasets=p.get("datasets"),
        log=j.info,
    )
