"""Snakemake entry point of every figure (the module pathint/figures/<name>.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821

from pathint.stages import run_figure  # noqa: E402
from pathint.workflow import job  # noqa: E402

sm = snakemake  # noqa: F821
with job(sm) as j:
    files = {**dict(sm.input.items()), **dict(sm.output.items())}
    run_figure(name=sm.wildcards.name, files=files, defines=sm.params.defines, log=j.info)
