"""Runtime faults: killed jobs, truncated files and diverging networks lose nothing and fake nothing.

* SIGKILL during training at random moments (and exactly inside a checkpoint or ``model.pt`` write), then
  rerun until finished: weights and log identical to an uninterrupted run.
* SIGKILL inside the HDF5 write of recording and scoring: no file under the final name, an older complete
  file survives; through Snakemake (whole process group, or the job's Python alone) every HDF5 under a
  final name opens, and the rerun completes with outputs equal to a clean run's.
* Truncated or corrupted inputs (eval.h5, activations.h5, model.pt): one-line DataError naming the file,
  also through Snakemake.
* A diverging network: marked diverged, the sweep completes, the figures count it as not path integrating.

What each fault did is tabulated in docs/faults.md.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from pathint.config import NetworkConfig
from pathint.errors import DataError
from pathint.stages import run_record, run_score, run_trajectories
from pathint.training import TrainRuntime, load_network, train
from pipeline_utils import ROOT, copy_repo, snakemake

PY = sys.executable
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")

# ---------------------------------------------------------------------- training under SIGKILL
#: A network big enough that training takes a few seconds (so random kills land mid-run), with dropout so
#: that the per-step random streams are exercised by the resume as well.
KILL_NET = dict(readout="difference_of_softmaxes", n_place=32, n_grid=32, batch_size=16, seq_len=8, n_steps=200,
                seed=5, input_dropout=0.2, learning_rate=1e-3)
KILL_RT = dict(device="cpu", threads=1, checkpoint_every=7, log_every=5, progress=False)

#: Child process: train KILL_NET into argv[1], optionally killing itself inside the N-th atomic write of
#: argv[2] ("checkpoint.pt" or "model.pt") after writing half of the bytes. Prints "ready" once imported.
TRAIN_CHILD = """
import json, os, signal, sys
import torch
from pathint.config import NetworkConfig
from pathint.training import TrainRuntime, train
import pathint.readouts, pathint.trajectories, pathint.models  # imported lazily by train(): warm them first
out, target, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
if target != "-":
    real_save, count = torch.save, [0]
    def save(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        if os.path.basename(str(f)).startswith("." + target + ".tmp-"):
            count[0] += 1
            if count[0] == nth:  # the write was cut short: half the bytes, then the process dies
                os.truncate(f, os.path.getsize(f) // 2)
                os.kill(os.getpid(), signal.SIGKILL)
    torch.save = save
cfg = NetworkConfig(**json.loads(os.environ["KILL_NET"]))
print("ready", flush=True)
train(cfg, out, TrainRuntime(**json.loads(os.environ["KILL_RT"])), log=lambda m: None)
"""


def _train_child(out: Path, target: str = "-", nth: int = 0) -> subprocess.Popen:
    env = dict(ENV, KILL_NET=json.dumps(KILL_NET), KILL_RT=json.dumps(KILL_RT))
    return subprocess.Popen([PY, "-c", TRAIN_CHILD, str(out), target, str(nth)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _log_without_timing(path: Path) -> list[list[str]]:
    """train_log.csv rows without ``seconds_per_step`` (a wall-clock timing, the only column that varies)."""
    rows = [line.split(",") for line in path.read_text().splitlines()]
    col = rows[0].index("seconds_per_step")
    return [r[:col] + r[col + 1:] for r in rows]


def _assert_same_training(a: Path, b: Path) -> None:
    ma, mb = (torch.load(d / "model.pt", map_location="cpu", weights_only=True) for d in (a, b))
    assert ma["state_dict"].keys() == mb["state_dict"].keys()
    for k in ma["state_dict"]:
        assert torch.equal(ma["state_dict"][k], mb["state_dict"][k]), k
    for k in ("status", "steps", "final_loss", "final_error_cm", "config"):
        assert ma[k] == mb[k], k
    assert _log_without_timing(a / "train_log.csv") == _log_without_timing(b / "train_log.csv")
    assert not (b / "checkpoint.pt").exists()


@pytest.fixture(scope="module")
def reference_training(tmp_path_factory) -> Path:
    """The uninterrupted run, in a child process like the killed ones (same thread settings)."""
    out = tmp_path_factory.mktemp("reference") / "net"
    proc = _train_child(out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


def _debris(d: Path) -> list[Path]:
    return sorted(d.glob(".*.tmp-*")) if d.exists() else []


def _wait_for_checkpoints(path: Path, proc: subprocess.Popen, k: int) -> None:
    """Return once ``path`` has been (re)written ``k`` times, or the process has ended."""
    def stamp() -> int | None:
        try:
            return path.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    last, seen = stamp(), 0
    while seen < k and proc.poll() is None:
        now = stamp()
        if now is not None and now != last:
            seen, last = seen + 1, now
        time.sleep(0.002)


def _kill_at_random_moments(out: Path, rnd: random.Random, n_kills: int = 6) -> tuple[int, list[int], bool]:
    """Train into ``out`` and SIGKILL the run ``n_kills`` times at seeded random moments, then let a last run
    finish. Returns (kills that landed during training, checkpoint step after each, whether a kill came too
    late: the run had already written ``model.pt``, which happens when this process is starved by other
    load long enough for the child to run to the end)."""
    kills, progress = 0, []
    for attempt in range(40):
        proc = _train_child(out)
        assert proc.stdout.readline().strip() == "ready"
        if kills < n_kills:
            if attempt > 0:
                _wait_for_checkpoints(out / "checkpoint.pt", proc, rnd.randint(1, 4))
            time.sleep(rnd.uniform(0.0, 0.15))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            returncode = proc.wait()
            assert returncode in (0, -signal.SIGKILL), proc.stderr.read()
            if returncode == 0 or (out / "model.pt").exists():  # model.pt is written last, atomically
                return kills, progress, True
            kills += 1
            # what a killed run leaves: at most a checkpoint (always complete) and temporary debris
            if (out / "checkpoint.pt").exists():
                ck = torch.load(out / "checkpoint.pt", weights_only=True)
                assert ck["step"] % KILL_RT["checkpoint_every"] == 0 and ck["step"] >= max(progress, default=0)
                progress.append(ck["step"])
            continue
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        return kills, progress, False
    raise AssertionError("training did not finish in 40 runs")


@pytest.mark.slow
def test_training_killed_at_random_moments_ends_identical(tmp_path, reference_training):
    """Six SIGKILLs at seeded random moments (the first before any checkpoint, the others a random number
    of checkpoints into each run plus a random delay, so some land inside a checkpoint write), then a
    final uninterrupted rerun: the same weights and log as one clean run."""
    rnd = random.Random(20221128)
    for sequence in range(3):  # a sequence whose run finished before a kill landed is started afresh
        out = tmp_path / f"net{sequence}"
        kills, progress, too_late = _kill_at_random_moments(out, rnd)
        if not too_late:
            break
        # even so, the rerun that a failed job gets ends with the clean run's result
        proc = _train_child(out)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        _assert_same_training(reference_training, out)
    assert not too_late, "in three sequences a run finished before the kills landed (machine too loaded?)"
    assert kills >= 5, f"only {kills} kills landed during training"
    assert len(set(progress)) >= 4, f"kills did not land at different stages: checkpoints {progress}"
    _assert_same_training(reference_training, out)
    assert _debris(out) == [], "stale temporary files of a killed run were not cleaned up"


@pytest.mark.slow
def test_kill_inside_checkpoint_and_model_writes(tmp_path, reference_training):
    """Killed with half a file written (first checkpoint, a later one, model.pt): the final names stay
    complete, the half-written temporary file is ignored and then removed, and resume is unharmed."""
    out = tmp_path / "net"
    every, n = KILL_RT["checkpoint_every"], KILL_NET["n_steps"]
    step = 0
    for target, nth in (("checkpoint.pt", 1), ("checkpoint.pt", 4), ("model.pt", 1)):
        proc = _train_child(out, target, nth)
        proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL
        debris = _debris(out)
        assert len(debris) == 1 and debris[0].name.startswith(f".{target}.tmp-"), debris
        assert not (out / "model.pt").exists()
        # the previous checkpoint is intact (none before the first one was written)
        step = step + (nth - 1) * every if target == "checkpoint.pt" else (n - 1) // every * every
        if step:
            assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == step
        else:
            assert not (out / "checkpoint.pt").exists()
    proc = _train_child(out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    _assert_same_training(reference_training, out)
    assert _debris(out) == []


def _tiny(**kw) -> NetworkConfig:
    base = dict(readout="difference_of_softmaxes", n_place=16, n_grid=16, batch_size=8, seq_len=5, n_steps=15, seed=2)
    return NetworkConfig(**{**base, **kw})


QUIET = TrainRuntime(device="cpu", checkpoint_every=4, log_every=3, progress=False)


def test_an_unreadable_checkpoint_restarts_training_from_zero(tmp_path):
    """A checkpoint damaged from outside (never by a kill: writes are atomic) costs time, not correctness."""
    cfg = _tiny()
    train(cfg, tmp_path / "clean", QUIET, log=lambda m: None)
    train(cfg, tmp_path / "bad", QUIET, log=lambda m: None, stop_after=9)
    ck = tmp_path / "bad/checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:100])
    messages: list[str] = []
    res = train(cfg, tmp_path / "bad", QUIET, log=messages.append)
    assert res.status == "ok" and res.resumed_from is None
    assert any("checkpoint.pt" in m and "restarts from step 0" in m for m in messages)
    assert (tmp_path / "bad/checkpoint.pt.corrupt").exists()
    _assert_same_training(tmp_path / "clean", tmp_path / "bad")


# ---------------------------------------------------------------------- recording and scoring under SIGKILL
EVAL = {"n_trajectories": 30, "seq_len": 12, "batch_size": 30, "n_example_trajectories": 2}
SCORING = {"bins": 20, "min_max": True, "thresholds": [0.3, 0.8], "path_integration_threshold_cm": 150}
BOX = {"box_width": 2.2, "box_height": 2.2, "periodic": False}


@pytest.fixture(scope="module")
def stage_inputs(tmp_path_factory) -> Path:
    """A trained tiny network, the evaluation set, and one clean record + score of them."""
    d = tmp_path_factory.mktemp("stages")
    cfg = _tiny()
    train(cfg, d / "net", QUIET, log=lambda m: None)
    run_trajectories(files={"h5": d / "eval.h5", "prov": d / "eval.prov.json"},
                     defines={"kind": "eval", "seed": 1, "n": EVAL["n_trajectories"], "steps": EVAL["seq_len"], "box": BOX})
    _record(d / "net/model.pt", d / "eval.h5", d / "clean", cfg)
    _score(d / "clean/activations.h5", d / "clean", cfg)
    (d / "network.json").write_text(json.dumps(cfg.to_dict()))
    return d


def _record(model: Path, eval_h5: Path, out: Path, cfg: NetworkConfig) -> None:
    run_record(network_id=cfg.id, network=cfg.to_dict(), defines=EVAL, runtime={"device": "cpu"},
               files={"model": model, "eval": eval_h5, "activations": out / "activations.h5",
                      "record_prov": out / "record.prov.json"})


def _score(activations: Path, out: Path, cfg: NetworkConfig) -> None:
    run_score(network_id=cfg.id, network=cfg.to_dict(), defines=SCORING,
              files={"activations": activations, "ratemaps": out / "ratemaps.h5", "units": out / "units.parquet",
                     "summary": out / "summary.json", "score_prov": out / "score.prov.json"})


#: Child process: run one stage, killing itself (SIGKILL) when the N-th HDF5 dataset is being created.
STAGE_CHILD = """
import json, os, signal, sys
from pathlib import Path
import h5py
stage, d, out, nth = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
real, count = h5py.Group.create_dataset, [0]
def create_dataset(self, *a, **k):
    count[0] += 1
    if count[0] == nth:
        self.file.flush()  # some bytes on disk, the file not closed: a truncated HDF5 file
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, *a, **k)
h5py.Group.create_dataset = create_dataset
from pathint.config import NetworkConfig
from pathint.stages import run_record, run_score
cfg = NetworkConfig.from_dict(json.loads((d / "network.json").read_text()))
if stage == "record":
    run_record(network_id=cfg.id, network=cfg.to_dict(), defines=json.loads(os.environ["EVAL"]), runtime={"device": "cpu"},
               files={"model": d / "net/model.pt", "eval": d / "eval.h5", "activations": out / "activations.h5",
                      "record_prov": out / "record.prov.json"})
else:
    run_score(network_id=cfg.id, network=cfg.to_dict(), defines=json.loads(os.environ["SCORING"]),
              files={"activations": d / "clean/activations.h5", "ratemaps": out / "ratemaps.h5",
                     "units": out / "units.parquet", "summary": out / "summary.json", "score_prov": out / "score.prov.json"})
"""


def _stage_child(stage: str, d: Path, out: Path, nth: int) -> subprocess.CompletedProcess:
    env = dict(ENV, EVAL=json.dumps(EVAL), SCORING=json.dumps(SCORING))
    return subprocess.run([PY, "-c", STAGE_CHILD, stage, str(d), str(out), str(nth)], env=env, capture_output=True,
                          text=True, timeout=300)


def _h5_equal(a: Path, b: Path) -> None:
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names: list[str] = []
        fa.visit(names.append)
        other: list[str] = []
        fb.visit(other.append)
        assert names == other
        for n in names:
            if isinstance(fa[n], h5py.Dataset):
                assert np.array_equal(fa[n][()], fb[n][()], equal_nan=True), n


@pytest.mark.slow
@pytest.mark.parametrize("stage,final", [("record", "activations.h5"), ("score", "ratemaps.h5")])
def test_kill_inside_an_hdf5_write_leaves_no_truncated_output(tmp_path, stage_inputs, stage, final):
    out = tmp_path / "out"
    out.mkdir()
    proc = _stage_child(stage, stage_inputs, out, nth=2)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (out / final).exists(), "a truncated file carries the final name"
    debris = _debris(out)
    assert [p.name.split(".tmp-")[0] for p in debris] == [f".{final}"]
    # a complete file from an earlier run survives a killed rewrite untouched
    shutil.copy(stage_inputs / "clean" / final, out / final)
    before = (out / final).read_bytes()
    proc = _stage_child(stage, stage_inputs, out, nth=1)
    assert proc.returncode == -signal.SIGKILL
    assert (out / final).read_bytes() == before
    # the rerun (no kill) completes and equals the clean run
    (out / final).unlink()
    proc = _stage_child(stage, stage_inputs, out, nth=10**9)
    assert proc.returncode == 0, proc.stderr
    _h5_equal(stage_inputs / "clean" / final, out / final)
    if stage == "score":
        pd.testing.assert_frame_equal(pd.read_parquet(stage_inputs / "clean/units.parquet"),
                                      pd.read_parquet(out / "units.parquet"))


# ---------------------------------------------------------------------- truncated / corrupted inputs
def _truncate(path: Path, keep: float = 0.5) -> None:
    os.truncate(path, int(path.stat().st_size * keep))


def _scribble(path: Path) -> None:
    """Overwrite the HDF5 superblock (the first 512 bytes) with noise."""
    data = bytearray(path.read_bytes())
    data[:512] = np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _one_line_naming(exc: pytest.ExceptionInfo, path: Path) -> None:
    msg = str(exc.value)
    assert str(path) in msg and "\n" not in msg, msg


@pytest.mark.parametrize("damage", [_truncate, _scribble], ids=["truncated", "corrupted"])
def test_damaged_eval_set_raises_one_line_naming_it(tmp_path, stage_inputs, damage):
    bad = tmp_path / "eval.h5"
    shutil.copy(stage_inputs / "eval.h5", bad)
    damage(bad)
    cfg = NetworkConfig.from_dict(json.loads((stage_inputs / "network.json").read_text()))
    with pytest.raises(DataError) as exc:
        _record(stage_inputs / "net/model.pt", bad, tmp_path / "out", cfg)
    _one_line_naming(exc, bad)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("damage", [_truncate, _scribble], ids=["truncated", "corrupted"])
def test_damaged_activations_raise_one_line_naming_them(tmp_path, stage_inputs, damage):
    bad = tmp_path / "activations.h5"
    shutil.copy(stage_inputs / "clean/activations.h5", bad)
    damage(bad)
    cfg = NetworkConfig.from_dict(json.loads((stage_inputs / "network.json").read_text()))
    with pytest.raises(DataError) as exc:
        _score(bad, tmp_path / "out", cfg)
    _one_line_naming(exc, bad)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_truncated_model_raises_one_line_naming_it(tmp_path, stage_inputs):
    bad = tmp_path / "model.pt"
    shutil.copy(stage_inputs / "net/model.pt", bad)
    _truncate(bad)
    with pytest.raises(DataError) as exc:
        load_network(bad)
    _one_line_naming(exc, bad)


# ---------------------------------------------------------------------- through Snakemake
FAULTS_CONFIG = """results: results/faults
defaults: {n_grid: 16, n_place: 32, batch_size: 16, seq_len: 8, n_steps: 60, learning_rate: 0.001}
sweeps: [sweeps/faults/dos.yaml, sweeps/faults/diverging.yaml]
training: {device: cpu, threads: 1, checkpoint_every: 10, log_every: 5}
evaluation: {n_trajectories: 40, seq_len: 20, batch_size: 40, n_example_trajectories: 2}
scoring: {bins: 20, path_integration_threshold_cm: 150, n_example_units: 4}
figures: {make: [fig2], bootstrap: 20}
"""
SWEEPS = {
    "dos.yaml": "name: faults_dos\nfixed: {readout: difference_of_softmaxes}\ngrid: {seed: [0]}\n",
    # plain SGD at a learning rate of a million: the loss is non-finite within a few steps
    "diverging.yaml": "name: faults_diverging\nfixed: {readout: cartesian, n_place: 2, optimizer: sgd, "
    "learning_rate: 1.0e+6, activation: linear}\ngrid: {seed: [0]}\n",
}
CONFIG_ARGS = ("--configfile", "configs/faults.yaml")
RES = "results/faults"


def faults_repo(dest: Path) -> Path:
    """A copy of the repository with the two-network fault experiment (one DoS, one diverging)."""
    copy_repo(dest)
    (dest / "sweeps/faults").mkdir(parents=True, exist_ok=True)
    for name, text in SWEEPS.items():
        (dest / "sweeps/faults" / name).write_text(text)
    (dest / "configs/faults.yaml").write_text(FAULTS_CONFIG)
    return dest


def network_ids(work: Path) -> dict[str, str]:
    """{"dos": id, "diverging": id} from ``python -m pathint networks``."""
    out = subprocess.run([PY, "-m", "pathint", "networks", "--config", "configs/faults.yaml"], cwd=work, env=ENV,
                         capture_output=True, text=True, check=True).stdout
    ids = {}
    for line in out.splitlines():
        nid, *_rest = line.split()
        ids["diverging" if "faults_diverging" in line else "dos"] = nid
    return ids


_PIPELINE: dict[str, tuple[Path, dict[str, str]]] = {}


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The fault experiment run once, cleanly, through Snakemake. tests/test_audit.py imports this fixture;
    pytest would then set it up once per module, so the run is cached here to happen once per session."""
    if "run" not in _PIPELINE:
        work = faults_repo(tmp_path_factory.mktemp("faults_clean"))
        snakemake(work, "--cores", "2", *CONFIG_ARGS)
        _PIPELINE["run"] = (work, network_ids(work))
    return _PIPELINE["run"]


def clone_results(src: Path, dest: Path) -> Path:
    """A copy of a finished workdir (code, config and results; Snakemake's metadata too)."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


@pytest.mark.slow
@pytest.mark.pipeline
def test_diverging_network_is_marked_and_the_sweep_goes_on(tiny_pipeline):
    work, ids = tiny_pipeline
    res = work / RES
    summary = json.loads((res / "networks" / ids["diverging"] / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["path_integrates"] is False
    assert json.loads((res / "networks" / ids["dos"] / "summary.json").read_text())["status"] == "ok"
    nets = pd.read_parquet(res / "tables/networks.parquet").set_index("id")
    assert nets.loc[ids["diverging"], "status"] == "diverged"
    assert not nets.loc[ids["diverging"], "path_integrates"]
    assert bool(nets.loc[ids["dos"], "path_integrates"])  # the lax smoke threshold of 150 cm
    units = pd.read_parquet(res / "tables/units.parquet")
    assert ids["diverging"] not in set(units["id"]) and ids["dos"] in set(units["id"])
    for ext in ("png", "pdf"):
        assert (res / f"figures/fig2.{ext}").stat().st_size > 1000
    caption = (res / "figures/fig2.caption.rst").read_text()
    # the diverged Cartesian network is counted (N = 1) as a failure (fraction 0)
    assert "Cartesian Low Dim: 1," in caption and "Cartesian Low Dim: 0.00" in caption
    meta = load_network(res / "networks" / ids["diverging"] / "model.pt")[3]
    assert meta["status"] == "diverged" and meta["diverged_step"] >= 1


def _all_hdf5_complete(res: Path) -> list[Path]:
    """Every HDF5 file under a final name opens and reads completely; returns them."""
    found = []
    for p in sorted(res.rglob("*.h5")):
        if ".tmp-" in p.name:
            continue
        with h5py.File(p, "r") as f:
            f.visititems(lambda _n, o: o[()] if isinstance(o, h5py.Dataset) else None)
        found.append(p)
    return found


def _start(work: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "snakemake", "--cores", "1", *CONFIG_ARGS, *args], cwd=work, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_for(path_glob: str, work: Path, proc: subprocess.Popen, timeout: float = 240) -> Path:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        hits = sorted(work.glob(path_glob))
        if hits:
            return hits[0]
        assert proc.poll() is None, f"snakemake ended before {path_glob} appeared"
        time.sleep(0.02)
    raise AssertionError(f"{path_glob} did not appear")


def _job_pids(session: int, word: str) -> list[int]:
    """Processes of ``session`` whose command line mentions ``word`` (the job's own python)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == session:
            continue
        try:
            if os.getsid(int(d.name)) == session and word in (d / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(d.name))
        except (OSError, ProcessLookupError):
            continue
    return pids


@pytest.mark.slow
@pytest.mark.pipeline
def test_killed_recording_and_scoring_are_redone(tiny_pipeline, tmp_path):
    """Kill Snakemake's whole process group while recording, then only the scoring job's python; rerun."""
    clean, ids = tiny_pipeline
    work = clone_results(clean, tmp_path / "work")
    res = work / RES
    for nid in ids.values():  # keep training, redo everything after it
        for name in ("activations.h5", "record.prov.json", "ratemaps.h5", "units.parquet", "summary.json",
                     "score.prov.json"):
            (res / "networks" / nid / name).unlink()
    shutil.rmtree(res / "tables")
    shutil.rmtree(res / "figures")
    shutil.rmtree(res / "logs")

    # 1. SIGKILL to Snakemake and its jobs while the first record job runs
    proc = _start(work)
    _wait_for(f"{RES}/logs/record/*.log", work, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _all_hdf5_complete(res)
    # a killed Snakemake leaves its lock: the documented recovery is --unlock, then the same command
    assert any((work / ".snakemake/locks").iterdir())
    snakemake(work, *CONFIG_ARGS, "--unlock")

    # 2. SIGKILL to the python of the first scoring job only; Snakemake sees the job fail
    proc = _start(work)
    _wait_for(f"{RES}/logs/score/*.log", work, proc)
    t0 = time.monotonic()
    while not (pids := _job_pids(proc.pid, ".score.py")) and proc.poll() is None and time.monotonic() - t0 < 60:
        time.sleep(0.01)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert proc.wait(timeout=300) != 0 or not pids  # the job may have finished before it was found
    _all_hdf5_complete(res)

    # 3. the rerun (rerun-incomplete is in the default profile) completes
    snakemake(work, *CONFIG_ARGS, "--cores", "2")
    found = {p.relative_to(work) for p in _all_hdf5_complete(res)}
    for nid in ids.values():
        assert Path(RES) / "networks" / nid / "activations.h5" in found
        assert Path(RES) / "networks" / nid / "ratemaps.h5" in found
    for nid in ids.values():
        a, b = clean / RES / "networks" / nid, res / "networks" / nid
        _h5_equal(a / "activations.h5", b / "activations.h5")
        _h5_equal(a / "ratemaps.h5", b / "ratemaps.h5")
        pd.testing.assert_frame_equal(pd.read_parquet(a / "units.parquet"), pd.read_parquet(b / "units.parquet"))
        assert json.loads((a / "summary.json").read_text()) == json.loads((b / "summary.json").read_text())
    pd.testing.assert_frame_equal(pd.read_parquet(clean / RES / "tables/networks.parquet"),
                                  pd.read_parquet(res / "tables/networks.parquet"))
    assert (res / "figures/fig2.png").exists()


@pytest.mark.slow
@pytest.mark.pipeline
def test_truncated_inputs_through_snakemake_give_one_line_naming_the_file(tiny_pipeline, tmp_path):
    clean, ids = tiny_pipeline
    work = clone_results(clean, tmp_path / "work")
    bad = work / RES / "networks" / ids["dos"] / "activations.h5"
    _truncate(bad)
    proc = snakemake(work, *CONFIG_ARGS, "--cores", "1", check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    rel = str(bad.relative_to(work))
    lines = [line for line in text.splitlines() if line.startswith("pathint: score: ")]
    assert lines and rel in lines[0] and "truncated" in lines[0], text[-3000:]
    assert "Traceback (most recent call last)" not in text
    # nothing half-written under the final names of the failed job
    assert not (work / RES / "networks" / ids["dos"] / "ratemaps.h5").exists()
