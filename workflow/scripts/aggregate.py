"""Snakemake entry point: the networks, units and examples tables and the comparison with the paper."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821

from pathint.stages import run_aggregate  # noqa: E402
from pathint.workflow import job  # noqa: E402

sm = snakemake  # noqa: F821
with job(sm) as j:
    run_aggregate(results=sm.config["results"], membership=sm.params.membership, files=dict(sm.output.items()),
                  defines=sm.params.defines, log=j.info)
