"""A/B the training step of this checkout against the ``pathint`` package of another git revision, in one process.

Both versions' ``training_step`` run on the same batch (B 200, T 20, Np 512, DoS readout, RNN relu),
interleaved step by step (alternating which goes first), so the shared machine's load affects both alike;
timing starts after ``WARMUP_STEPS`` steps of each, with freed memory kept in the heap as in training. The
printed number is the median of the paired ratios new/reference (below 1: this checkout is faster). The
reference package is extracted with ``git archive`` into a temporary folder and imported as ``pathint_ref``
(the package uses relative imports only).

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench_train_step import WARMUP_STEPS, B, NP, T, _time, make_step  # noqa: E402  (bench/ is this script's folder)

from pathint.malloc import keep_freed_memory  # noqa: E402

CPU = torch.device("cpu")


def import_revision(rev: str, into: Path):
    """Import ``pathint`` as it was at git revision ``rev`` under the name ``pathint_ref``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "pathint"], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    (into / "pathint").rename(into / "pathint_ref")
    sys.path.insert(0, str(into))
    return importlib.import_module("pathint_ref")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True, help="git revision of the reference (e.g. a commit id)")
    ap.add_argument("--ng", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--threads", type=int, nargs="+", default=None, help="default: torch's and 1")
    ap.add_argument("--reps", type=int, default=12)
    args = ap.parse_args(argv)
    kept = keep_freed_memory()  # as the training entry points do; both versions share the process
    default_threads = torch.get_num_threads()
    threads = args.threads or sorted({default_threads, 1}, reverse=True)
    with tempfile.TemporaryDirectory() as tmp:
        import_revision(args.ref, Path(tmp))
        print(f"torch {torch.__version__}; B={B} T={T} Np={NP} DoS, RNN relu; this checkout vs {args.ref}; "
              f"median of {args.reps} paired ratios; freed memory kept in the heap: {'yes' if kept else 'no'}")
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            for ng in args.ng:
                steps = {"new": make_step(ng, CPU), "ref": make_step(ng, CPU, "pathint_ref")}
                for _ in range(WARMUP_STEPS):
                    steps["new"](), steps["ref"]()
                times = {"new": [], "ref": []}
                for rep in range(args.reps):  # alternating order: whichever runs second is not favoured
                    for name in ("new", "ref") if rep % 2 == 0 else ("ref", "new"):
                        times[name].append(_time(steps[name], CPU))
                t_new, t_ref = times["new"], times["ref"]
                ratio = statistics.median(a / b for a, b in zip(t_new, t_ref))
                print(f"{n_threads:2d} thr Ng={ng:5d}: this {statistics.median(t_new) * 1e3:7.1f} ms, "
                      f"ref {statistics.median(t_ref) * 1e3:7.1f} ms, this/ref = {ratio:.3f}")
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
