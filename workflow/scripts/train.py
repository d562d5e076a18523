"""Snakemake entry point: train one network (resumes from its checkpoint if one exists)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821

from pathint.malloc import keep_freed_memory  # noqa: E402
from pathint.stages import run_train  # noqa: E402
from pathint.workflow import job  # noqa: E402

sm = snakemake  # noqa: F821
kept = keep_freed_memory()  # this process only trains: reuse freed buffers instead of page-faulting every step
with job(sm) as j:
    j.info("malloc keeps freed memory for reuse: %s", "yes" if kept else "no (not glibc)")
    run_train(
        sm.params.network,
        Path(sm.output.model).parent,
        sm.output.prov,
        runtime=sm.params.runtime,
        threads=sm.threads,
        dataset=sm.input.get("dataset"),
        inputs=list(sm.input),
        log=j.info,
    )
