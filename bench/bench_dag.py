#!/usr/bin/env python
"""Planning cost of the paper-scale experiment: `snakemake -n` over configs/paper.yaml.

Runs `snakemake -n --quiet rules --nolock --configfile <config> --config results=<empty temp dir>` (so every job
is planned, none is found done) and prints wall time, CPU time, peak RSS of the snakemake process, the number of
networks and of jobs (with `packing.packs`, one job per pack and stage). Reference, measured in the same run: the same command on
configs/smoke.yaml, i.e. snakemake's fixed start-up cost; the difference divided by the job count is the
marginal planning cost per job, which is what grows with the sweep.

Target: <= 60 s wall and <= 1.5 GB on 2 cores.

    .venv/bin/python bench/bench_dag.py                      # paper config, 2 cores
    .venv/bin/python bench/bench_dag.py --profile 25         # + cProfile: the 25 most expensive functions
    .venv/bin/python bench/bench_dag.py --configfile X.yaml  # any other experiment config
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TARGET_WALL_S = 60.0
TARGET_RSS_GB = 1.5


@dataclass
class Plan:
    wall_s: float
    cpu_s: float
    max_rss_gb: float
    jobs: dict[str, int]

    @property
    def n_jobs(self) -> int:
        return self.jobs.get("total", 0)


def parse_job_stats(text: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake dry run as {rule: count} (with 'total')."""
    stats: dict[str, int] = {}
    block = text.split("Job stats:", 1)
    if len(block) < 2:
        return stats
    for line in block[1].splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d+)\s*$", line)
        if not m:
            break
        stats[m.group(1)] = int(m.group(2))
    return stats


def plan(configfile: str, cores: int, profile_out: Path | None = None) -> Plan:
    """Dry-run the workflow on `configfile` into an empty results dir, limited to `cores` CPUs."""
    with tempfile.TemporaryDirectory(prefix="pathint-bench-dag-") as tmp:
        cmd = [str(SNAKEMAKE), "-n", "--quiet", "rules", "--nolock", "--configfile", configfile,
               "--config", f"results={tmp}/results"]
        if profile_out is not None:
            cmd = [sys.executable, "-m", "cProfile", "-o", str(profile_out), *cmd]
        cpus = sorted(os.sched_getaffinity(0))[:cores]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        out = proc.stdout.read()
        # wait4 gives this child's own rusage (ru_maxrss in KiB on Linux), not all children's so far
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"snakemake -n failed on {configfile} (exit {proc.returncode}):\n{out[-3000:]}")
    jobs = parse_job_stats(out)
    if not jobs:
        sys.exit(f"no 'Job stats' table in the snakemake output for {configfile}:\n{out[-2000:]}")
    return Plan(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20, jobs)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", default="configs/paper.yaml")
    ap.add_argument("--reference", default="configs/smoke.yaml", help="small config: snakemake start-up cost")
    ap.add_argument("--cores", type=int, default=2, help="CPUs the dry runs may use (sched_setaffinity)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also run under cProfile and print the N most expensive functions (cumulative)")
    args = ap.parse_args(argv)

    ref = plan(args.reference, args.cores)
    print(f"reference {args.reference}: {ref.wall_s:.1f} s wall, {ref.cpu_s:.1f} s CPU, "
          f"{ref.max_rss_gb:.2f} GB, {ref.n_jobs} jobs")
    run = plan(args.configfile, args.cores)
    sys.path.insert(0, str(ROOT))
    from pathint.config import experiment_networks, load_experiment

    nets = len(experiment_networks(load_experiment(ROOT / args.configfile), ROOT))
    per_job_ms = 1e3 * (run.cpu_s - ref.cpu_s) / max(1, run.n_jobs - ref.n_jobs)
    print(f"{args.configfile}: {nets} networks, {run.n_jobs} jobs "
          f"({', '.join(f'{k} {v}' for k, v in run.jobs.items() if k != 'total')})")
    print(f"  planning wall time   {run.wall_s:8.1f} s   (target {TARGET_WALL_S:.0f} s: ratio {run.wall_s / TARGET_WALL_S:.2f})")
    print(f"  CPU time             {run.cpu_s:8.1f} s   (= {run.cpu_s / max(run.wall_s, 1e-9):.2f} cores busy)")
    print(f"  peak RSS             {run.max_rss_gb:8.2f} GB  (target {TARGET_RSS_GB} GB: ratio {run.max_rss_gb / TARGET_RSS_GB:.2f})")
    print(f"  vs reference         {run.wall_s / ref.wall_s:8.1f} x wall, marginal CPU {per_job_ms:.2f} ms per job")
    ok = run.wall_s <= TARGET_WALL_S and run.max_rss_gb <= TARGET_RSS_GB
    print(f"  target {'met' if ok else 'MISSED'}")

    if args.profile:
        import pstats

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "plan.prof"
            plan(args.configfile, args.cores, out)
            pstats.Stats(str(out)).sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()
