"""Submission to a real (single-node, throw-away) SLURM through profiles/slurm.

The cluster comes from ci/slurm/start_slurm.sh (root, Debian packages; skipped with a message otherwise), with
two partitions `cpu` and `gpu` over one node and two fake GPUs (gres on mknod-made character devices), without
accounting, so snakemake is told `--slurm-status-command squeue` and the assertions read `squeue` (finished
jobs stay listed for MinJobAge = 1 h).

- a tiny workflow (tests/data/slurm_retry) checks that a failing job is reported failed and that a job failing
  on its first attempt succeeds on its retry, with runtime growing per attempt;
- the smoke experiment runs with `training.gpu: true`: train and record jobs must land on the gpu partition with
  a GPU gres, the others on cpu without one. To stay within a few minutes on 2 cores it runs two of the smoke
  sweeps (3 networks) up to the aggregate tables (11 SLURM jobs, 4 dependency levels);
  PATHINT_SLURM_FULL_SMOKE=1 runs the whole smoke experiment to its figures (48 jobs, ~10 minutes).

Run: `.venv/bin/python -m pytest tests/test_slurm.py -m slurm -q` (about 4-6 minutes on 2 cores).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START = ROOT / "ci" / "slurm" / "start_slurm.sh"
STOP = ROOT / "ci" / "slurm" / "stop_slurm.sh"
PROFILE = ROOT / "profiles" / "slurm"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
# Cluster sized so the profile's requests fit one small machine: train asks --gpus=1 --cpus-per-gpu=4 and
# aggregate 32 GB. Nothing enforces CPUs or memory here (no cgroups), so advertising more is harmless.
CLUSTER_ENV = {
    "PATHINT_SLURM_DIR": "/tmp/pathint-slurm",
    "PATHINT_SLURM_ACCT": "none",
    "PATHINT_SLURM_CPUS": "8",
    "PATHINT_SLURM_MEM_MB": "64000",
    "PATHINT_SLURM_GPUS": "2",
}
# Options every run needs on this cluster (not in the profile: a real cluster has accounting and sacct).
SLURM_ARGS = [
    "--executor", "slurm",
    "--profile", str(PROFILE),
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "1",
    "--slurm-keep-successful-logs",
]
PIPELINE_WAIT_S = float(os.environ.get("PATHINT_SLURM_PIPELINE_WAIT_S", "0"))
FULL_SMOKE = os.environ.get("PATHINT_SLURM_FULL_SMOKE") == "1"
SMOKE_SUBSET = ["sweeps/smoke/cartesian.yaml", "sweeps/smoke/dos_ideal.yaml"]

pytestmark = pytest.mark.slurm


def _run(cmd: list[str], cwd: Path, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cluster():
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("the SLURM test starts daemons and needs root (run as root on a Debian 12 CI machine)")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("SLURM is not installed and there is no apt-get to install it (Debian 12 packages)")
    env = {**os.environ, **CLUSTER_ENV}
    res = _run(["bash", str(START)], ROOT, timeout=300, env=env)
    if res.returncode == 3:
        pytest.skip(f"SLURM packages unavailable: {res.stderr.strip()[-500:]}")
    if res.returncode == 4:  # a real cluster's configuration in /etc/slurm: never replaced
        pytest.skip(res.stderr.strip()[-500:])
    assert res.returncode == 0, f"start_slurm.sh failed:\n{res.stdout}\n{res.stderr}"
    yield env
    # Leave the daemons running only when asked (faster reruns while developing).
    if os.environ.get("PATHINT_SLURM_KEEP") != "1":
        _run(["bash", str(STOP)], ROOT, timeout=120, env=env)
        # a slurm.conf left behind makes every later snakemake start wait ~9 s (ci/slurm/stop_slurm.sh)
        conf = Path("/etc/slurm/slurm.conf")
        assert not conf.exists() or "pathint" not in (conf.read_text().splitlines() or [""])[0], f"{conf} left behind"


def _last_job_id() -> int:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True, text=True, check=True)
    ids = [int(x) for x in out.stdout.split() if x.isdigit()]
    return max(ids, default=0)


def _jobs_since(first: int) -> list[dict[str, str]]:
    """Jobs with id > first, from squeue (states of finished jobs too: MinJobAge is 1 h on this cluster)."""
    fields = ["JobID", "State", "Partition", "TimeLimit", "Comment", "tres-per-job", "tres-per-node"]
    fmt = ",".join(f"{f}:|" for f in fields)
    out = subprocess.run(["squeue", "-h", "-t", "all", "-O", fmt], capture_output=True, text=True, check=True)
    jobs = []
    for line in out.stdout.splitlines():
        vals = [v.strip() for v in line.split("|")][: len(fields)]
        row = dict(zip(fields, vals))
        if row["JobID"].isdigit() and int(row["JobID"]) > first:
            jobs.append(row)
    return sorted(jobs, key=lambda r: int(r["JobID"]))


def _rule(job: dict[str, str]) -> str:
    # the plugin writes `--comment rule_<name>[_wildcards_...]`
    return job["Comment"].removeprefix("rule_").split("_wildcards_")[0]


def test_failed_job_is_reported_and_retry_succeeds(cluster, tmp_path):
    first = _last_job_id()
    t0 = time.monotonic()
    res = _run(
        [str(SNAKEMAKE), "--snakefile", str(ROOT / "tests/data/slurm_retry/Snakefile"), *SLURM_ARGS,
         "--retries", "1", "--slurm-logdir", str(tmp_path / "slurm_logs")],
        tmp_path, timeout=300,
    )
    log = res.stdout + res.stderr
    assert res.returncode != 0, f"a workflow with a failing job must fail:\n{log[-3000:]}"
    assert "Error in rule broken" in log
    assert (tmp_path / "flaky.txt").read_text().strip() == "ok"
    assert not (tmp_path / "broken.txt").exists()
    assert (tmp_path / "attempts.log").read_text().split() == ["attempt", "1", "attempt", "2"]

    jobs = _jobs_since(first)
    flaky = [j for j in jobs if _rule(j) == "flaky"]
    broken = [j for j in jobs if _rule(j) == "broken"]
    assert [j["State"] for j in flaky] == ["FAILED", "COMPLETED"], jobs
    # runtime=lambda wc, attempt: 2 * attempt -> sbatch -t 2, then -t 4
    assert [j["TimeLimit"] for j in flaky] == ["2:00", "4:00"], jobs
    assert [j["State"] for j in broken] == ["FAILED", "FAILED"], jobs  # first try + one retry
    print(f"retry/failure workflow on SLURM: {time.monotonic() - t0:.0f} s, {len(jobs)} SLURM jobs")


def _pipeline_ready() -> bool:
    if not (ROOT / "Snakefile").is_file() or not (ROOT / "configs/smoke.yaml").is_file():
        return False
    res = _run([str(SNAKEMAKE), "-n", "--quiet", "--nolock", "--configfile", "configs/smoke.yaml",
                "--config", "results=/tmp/pathint-slurm-dryrun"], ROOT, timeout=300)
    return res.returncode == 0


def test_smoke_pipeline_on_slurm_with_gpu_gres(cluster, tmp_path):
    deadline = time.monotonic() + PIPELINE_WAIT_S
    while not _pipeline_ready():
        if time.monotonic() > deadline:
            pytest.skip("the pipeline (Snakefile, configs/smoke.yaml) does not plan yet: "
                        "`snakemake -n --configfile configs/smoke.yaml` fails")
        time.sleep(30)
    # training.gpu: true makes train and record request resources gpu=1 (SLURM --gpus=1); the code still runs
    # on the CPU (device cpu), the fake GPU only exercises the scheduling.
    results = tmp_path / "results"
    overrides = tmp_path / "slurm_overrides.yaml"
    text = f"results: {results}\ntraining:\n  gpu: true\n  device: cpu\n"
    if not FULL_SMOKE:
        text += "sweeps:\n" + "".join(f"  - {s}\n" for s in SMOKE_SUBSET)
    overrides.write_text(text)
    targets = [] if FULL_SMOKE else [str(results / "tables" / "networks.parquet")]
    first = _last_job_id()
    t0 = time.monotonic()
    res = _run(
        [str(SNAKEMAKE), *SLURM_ARGS, "--configfile", "configs/smoke.yaml", str(overrides),
         "--slurm-logdir", str(tmp_path / "slurm_logs"), "--retries", "0", *targets],
        ROOT, timeout=900 if FULL_SMOKE else 420,
    )
    log = res.stdout + res.stderr
    assert res.returncode == 0, f"smoke pipeline failed on SLURM:\n{log[-4000:]}"
    if FULL_SMOKE:
        assert list((results / "figures").glob("*.png")), "no figure was made"
    else:
        assert (results / "tables" / "networks.parquet").is_file()

    jobs = _jobs_since(first)
    assert jobs, "no SLURM job was submitted"
    assert all(j["State"] == "COMPLETED" for j in jobs), jobs
    by_rule: dict[str, list[dict[str, str]]] = {}
    for j in jobs:
        by_rule.setdefault(_rule(j), []).append(j)
    assert by_rule.get("train") and by_rule.get("record") and by_rule.get("score"), sorted(by_rule)
    if not FULL_SMOKE:
        assert len(by_rule["train"]) == 3 and len(by_rule["aggregate"]) == 1, sorted(by_rule)
    for rule in ("train", "record"):
        for j in by_rule[rule]:
            assert j["Partition"] == "gpu", j
            assert "gpu:1" in j["tres-per-job"] + j["tres-per-node"], f"{rule} job without a GPU: {j}"
    for rule, js in by_rule.items():
        if rule not in ("train", "record"):
            for j in js:
                assert "gpu" not in j["tres-per-job"] + j["tres-per-node"], f"{rule} got a GPU: {j}"
                assert j["Partition"] == "cpu", j
    # the plugin kept one SLURM log per job (--slurm-keep-successful-logs): what a user reads first
    assert len(list((tmp_path / "slurm_logs").glob("rule_train/**/*.log"))) == len(by_rule["train"])
    print(f"smoke pipeline on SLURM: {time.monotonic() - t0:.0f} s, {len(jobs)} SLURM jobs "
          f"({', '.join(f'{r} {len(v)}' for r, v in sorted(by_rule.items()))})")
