"""A/B the training step of this checkout against the ``pathint`` package of another git revision, in one process.

Both versions' ``training_step`` run on the same batch (B 200, T 20, Np 512, DoS readout, RNN relu),
interleaved step by step (alternating which goes first), so the shared machine's load affects both alike;
the printed number is the median of the paired ratios new/reference (below 1: this checkout is faster). The reference package is extracted
with ``git archive`` into a temporary folder and imported as ``pathint_ref`` (the package uses relative
imports only).

Run: ``.venv/bin/python bench/ab_train_step.py --ref 660be93 [--ng 256 1024] [--threads 2 1] [--reps 12]``
"""

from __future__ import annotations

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

B, T, NP = 200, 20, 512


def import_revision(rev: str, into: Path):
    """Import ``pathint`` as it was at git revision ``rev`` under the name ``pathint_ref``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "pathint"], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    (into / "pathint").rename(into / "pathint_ref")
    sys.path.insert(0, str(into))
    return importlib.import_module("pathint_ref")


def make_step(pkg: str, ng: int):
    config = importlib.import_module(f"{pkg}.config")
    training = importlib.import_module(f"{pkg}.training")
    trajectories = importlib.import_module(f"{pkg}.trajectories")
    cfg = config.NetworkConfig(n_grid=ng, n_place=NP, batch_size=B, seq_len=T, learning_rate=1e-4)
    model, readout = training.init_network(cfg, torch.device("cpu"))
    opt = training.make_optimizer(cfg, model.parameters())
    traj = trajectories.online_batch(0, 0, B, T, trajectories.TrajectoryParams.from_config(cfg))
    vel, pos, p0 = (torch.from_numpy(a) for a in (traj.velocity, traj.position, traj.initial_position))
    return lambda: training.training_step(model, readout, opt, vel, pos, p0)


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True, help="git revision of the reference (e.g. a commit id)")
    ap.add_argument("--ng", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--threads", type=int, nargs="+", default=None, help="default: torch's and 1")
    ap.add_argument("--reps", type=int, default=12)
    args = ap.parse_args(argv)
    default_threads = torch.get_num_threads()
    threads = args.threads or sorted({default_threads, 1}, reverse=True)
    with tempfile.TemporaryDirectory() as tmp:
        import_revision(args.ref, Path(tmp))
        print(f"torch {torch.__version__}; B={B} T={T} Np={NP} DoS, RNN relu; this checkout vs {args.ref}; "
              f"median of {args.reps} paired ratios")
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            for ng in args.ng:
                new, ref = make_step("pathint", ng), make_step("pathint_ref", ng)
                for _ in range(2):  # warm-up
                    new(), ref()
                t_new, t_ref = [], []
                for rep in range(args.reps):  # ABBA order: whichever runs second is not favoured
                    if rep % 2 == 0:
                        t_new.append(_time(new))
                        t_ref.append(_time(ref))
                    else:
                        t_ref.append(_time(ref))
                        t_new.append(_time(new))
                ratio = statistics.median(a / b for a, b in zip(t_new, t_ref))
                print(f"{n_threads:2d} thr Ng={ng:5d}: this {statistics.median(t_new) * 1e3:7.1f} ms, "
                      f"ref {statistics.median(t_ref) * 1e3:7.1f} ms, this/ref = {ratio:.3f}")
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
