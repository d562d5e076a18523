"""Snakemake entry point: write a trajectory set (the evaluation set, or a stored training set)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821

from pathint.stages import run_trajectories  # noqa: E402
from pathint.workflow import job  # noqa: E402

sm = snakemake  # noqa: F821
with job(sm) as j:
    run_trajectories(files=dict(sm.output.items()), defines=sm.params.defines, log=j.info)
