"""Grid-score throughput: ``pathint.scores.grid_scores`` against DeepMind's scorer and the plain reference.

    .venv/bin/python bench/bench_scores.py [--deepmind DIR] [--bins 44 32 20] [--maps 256] [--rounds 3]
    .venv/bin/python bench/bench_scores.py --stage [--ng 1024 4096] [--samples 100000]

DeepMind's ``GridScorer.get_scores`` (``scores.py`` of https://github.com/google-deepmind/grid-cells, the
field's standard scorer) is imported from a clone of that repository named by ``--deepmind DIR`` or
``PATHINT_DEEPMIND_GRID_CELLS=DIR``; nothing of it is copied into this project. Without it the benchmark
says how to get it and compares with the plain reference (``grid_scores_reference``) only.

Per map size: maps/s of DeepMind's scorer (as a user runs it: one process, one map at a time; its numpy
and scipy calls are single-threaded), of the plain reference, and of ``grid_scores`` with 1 and 2 threads,
timed in interleaved rounds on the same noisy hexagonal maps (best round of each); their ratios (goal:
≥ 50× DeepMind at 44×44 on 2 cores); and the largest score differences, for the 60° score in both forms
(min–max, the NFL choice, through DeepMind's own ``min_max=True``; mean, its default) and the 90° score,
on hexagonal, square, band, noise, NaN-holed and constant maps (tolerance 1e-9; exit status 1 beyond).
BLAS runs single-threaded throughout, as in the pipeline (Snakemake sets OPENBLAS_NUM_THREADS to the
rule's threads, 1 for scoring); ``grid_scores``' threads are its own. ``--keep-freed-memory`` applies
``pathint.malloc.keep_freed_memory`` to the process first (both scorers then run with it), as the training
entry points do: ``grid_scores`` allocates many MB-sized temporaries, and glibc's defaults page-fault them in
afresh every chunk.

Degenerate maps (a band without noise, a constant that is not a short binary fraction, a narrow field, a
field on a large offset) are listed separately: there DeepMind's one-pass variance cancels and its scores
are rounding noise or NaN, so they are compared with the plain reference only.

``--stage``: wall time of the score stage's science (``pathint.analysis.score_network``: rate maps, grid
scores of the trained and untrained maps, periods, participation ratios) per network at Ng units, on a
synthetic recording of ``--samples`` positions (the default configuration records 2000 × 50).
"""

from __future__ import annotations

import os

# Before numpy loads: single-threaded BLAS, as the pipeline's score rule runs it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")  # DeepMind's scores.py imports pyplot

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import scipy.ndimage as ndi  # noqa: E402

from pathint.provenance import cpu_name  # noqa: E402
from pathint.scores import grid_scores, grid_scores_reference  # noqa: E402

DEEPMIND_URL = "https://github.com/google-deepmind/grid-cells"
DEEPMIND_ENV = "PATHINT_DEEPMIND_GRID_CELLS"
TOLERANCE = 1e-9
GOAL = 50.0


# --------------------------------------------------------------------------------------------------
# maps


def lattice(n: int, period: float, angle_deg: float, phase, square: bool = False) -> np.ndarray:
    """Hexagonal (3 plane waves 60° apart) or square (2 waves) lattice of ``period`` bins."""
    x = np.arange(n)[:, None] - phase[0]
    y = np.arange(n)[None, :] - phase[1]
    k = 2 * np.pi / period if square else 4 * np.pi / (np.sqrt(3) * period)
    dirs = (0, 90) if square else (30, 90, 150)
    out = np.zeros((n, n))
    for d in dirs:
        th = np.deg2rad(d + angle_deg)
        out += np.cos(k * (np.cos(th) * x + np.sin(th) * y))
    return out


def noisy_hexagonal(count: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Rectified hexagonal lattices (random period N/8…N/3, angle, phase) plus uniform noise of 0.3."""
    return np.stack(
        [
            np.maximum(lattice(n, rng.uniform(n / 8, n / 3), rng.uniform(0, 60), rng.random(2)), 0)
            + 0.3 * rng.random((n, n))
            for _ in range(count)
        ]
    )


def families(n: int, rng: np.random.Generator, per: int = 4) -> dict[str, np.ndarray]:
    """The agreement maps: ``per`` of each kind (constants: 0, 0.5, 1, 3, where DeepMind is exact)."""
    x = np.arange(n)[:, None] * np.ones((1, n))

    def holed() -> np.ndarray:
        m = noisy_hexagonal(1, n, rng)[0]
        m[rng.random((n, n)) < 0.15] = np.nan
        return m

    return {
        "hexagonal": noisy_hexagonal(per, n, rng),
        "square": np.stack([lattice(n, rng.uniform(n / 8, n / 3), rng.uniform(0, 90), rng.random(2), True)
                            + 0.3 * rng.random((n, n)) for _ in range(per)]),
        "band": np.stack([np.cos(2 * np.pi * x / rng.uniform(n / 8, n / 3) + rng.uniform(0, 6.3))
                          + 0.2 * rng.random((n, n)) for _ in range(per)]),
        "noise": np.stack([ndi.gaussian_filter(rng.random((n, n)), rng.uniform(0.5, 3)) for _ in range(per)]),
        "NaN-holed": np.stack([holed() for _ in range(per)]),
        "constant": np.stack([np.full((n, n), c) for c in (0.0, 0.5, 1.0, 3.0)]),
    }


def degenerate(n: int) -> dict[str, np.ndarray]:
    """Maps on which DeepMind's one-pass variance cancels (compared with the plain reference only)."""
    x = np.arange(n)[:, None] * np.ones((1, n))
    y = np.ones((n, 1)) * np.arange(n)[None, :]
    return {
        "band, no noise": np.cos(2 * np.pi * x / (n / 3.3)),
        "constant 0.37": np.full((n, n), 0.37),
        "narrow field": np.exp(-((x - 0.3 * n) ** 2 + (y - 0.6 * n) ** 2) / (2 * 1.2**2)),
        "field on offset 5": 5.0 + 0.01 * np.exp(-((x - 0.5 * n) ** 2 + (y - 0.5 * n) ** 2) / (2 * (0.1 * n) ** 2)),
    }


# --------------------------------------------------------------------------------------------------
# DeepMind's scorer


def load_deepmind(directory: str | None):
    """DeepMind's ``scores`` module from a clone of grid-cells, or None and the reason."""
    directory = directory or os.environ.get(DEEPMIND_ENV)
    if not directory:
        return None, f"not given (--deepmind DIR or {DEEPMIND_ENV}=DIR)"
    path = Path(directory) / "scores.py"
    if not path.is_file():
        return None, f"{path} not found"
    spec = importlib.util.spec_from_file_location("deepmind_grid_cells_scores", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, str(path)


class DeepMind:
    """DeepMind's GridScorer with the masks of its own examples: rings 0.2–linspace(0.4, 1.0, 10) of N."""

    def __init__(self, module, n: int):
        masks = list(zip([0.2] * 10, np.linspace(0.4, 1.0, 10).tolist()))
        box = ((-1.1, 1.1), (-1.1, 1.1))  # not used by get_scores
        self.mean = module.GridScorer(n, box, masks, min_max=False)
        self.min_max = module.GridScorer(n, box, masks, min_max=True)

    def scores(self, maps: np.ndarray, min_max: bool) -> np.ndarray:
        scorer = self.min_max if min_max else self.mean
        with warnings.catch_warnings():  # its sqrt of negative variances and scipy.ndimage.interpolation
            warnings.simplefilter("ignore")
            return np.array([scorer.get_scores(m)[:2] for m in maps], dtype=np.float64)


def how_to_get_deepmind() -> str:
    return (
        "DeepMind's scorer is not available here, so only the plain reference is compared. To add it:\n"
        f"    git clone {DEEPMIND_URL} /tmp/grid-cells\n"
        "    .venv/bin/python bench/bench_scores.py --deepmind /tmp/grid-cells\n"
        f"(or {DEEPMIND_ENV}=/tmp/grid-cells; it needs numpy, scipy and matplotlib, all installed here)"
    )


# --------------------------------------------------------------------------------------------------
# throughput and agreement


def best_time(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def bench_size(n: int, args, dm_module) -> tuple[float | None, float, bool]:
    """Prints one map size's figures; returns (ratio to DeepMind at 1 thread or None, to reference, ok)."""
    rng = np.random.default_rng(args.seed + n)
    maps = noisy_hexagonal(args.maps, n, rng)
    dm = DeepMind(dm_module, n) if dm_module else None
    grid_scores(maps[:2], min_max=False)  # per-size operators are built once and cached
    n_dm = min(args.deepmind_maps, args.maps)
    n_ref = min(args.reference_maps, args.maps)
    times: dict[str, list[float]] = {"dm": [], "ref": [], "t1": [], "t2": []}
    for r in range(args.rounds):
        if dm:
            times["dm"].append(best_time(dm.scores, maps[:n_dm], False) / n_dm)
        times["t1"].append(best_time(lambda: grid_scores(maps, False, threads=1, device="cpu")) / args.maps)
        times["t2"].append(best_time(lambda: grid_scores(maps, False, threads=2, device="cpu")) / args.maps)
        sub = maps[(r * n_ref) % args.maps :][:n_ref]
        times["ref"].append(best_time(lambda: [grid_scores_reference(m, min_max=False) for m in sub]) / n_ref)
    rate = {k: 1.0 / min(v) for k, v in times.items() if v}
    print(f"\n{n}×{n} bins, {args.maps} noisy hexagonal maps, best of {args.rounds} interleaved rounds:")
    if dm:
        print(f"  DeepMind GridScorer.get_scores {rate['dm']:10.1f} maps/s  ({n_dm} maps a round; 1 thread)")
    print(f"  plain grid_scores_reference    {rate['ref']:10.2f} maps/s  ({n_ref} maps a round; 1 thread)")
    for t in ("t1", "t2"):
        line = f"  grid_scores, threads={t[1]}          {rate[t]:10.1f} maps/s  "
        if dm:
            line += f"{rate[t] / rate['dm']:6.1f}× DeepMind, "
        print(line + f"{rate[t] / rate['ref']:7.0f}× reference")
    ratio_dm = rate["t1"] / rate["dm"] if dm else None
    if dm:
        paired = np.array(times["dm"]) / np.array(times["t1"])
        print(f"  per-round ratio to DeepMind at 1 thread: {paired.min():.1f}–{paired.max():.1f}×")

    # Agreement: DeepMind and the reference on the map families, the reference alone on degenerate maps.
    fam = families(n, np.random.default_rng(args.seed + 1000 + n))
    stack = np.concatenate(list(fam.values()))
    kinds = np.concatenate([[k] * len(v) for k, v in fam.items()])
    ok = True
    worst = {}
    for min_max in (True, False):
        ours = np.column_stack(grid_scores(stack, min_max, device="cpu"))
        ref = np.array([grid_scores_reference(m, min_max) for m in stack])
        worst[("ref", min_max)] = np.abs(ours - ref).max(axis=0)
        if dm:
            theirs = dm.scores(stack, min_max)
            d = np.abs(ours - theirs)
            worst[("dm", min_max)] = d.max(axis=0)
            worst[("dm-kind", min_max)] = kinds[np.argmax(d.max(axis=1))]
    for who, name in (("dm", "DeepMind"), ("ref", "the plain reference")):
        if (who, True) not in worst:
            continue
        d60mm, d90 = worst[(who, True)]
        d60mean = worst[(who, False)][0]
        d90 = max(d90, worst[(who, False)][1])
        big = max(d60mm, d60mean, d90)
        ok &= big <= TOLERANCE
        print(f"  max |grid_scores − {name}| on {len(stack)} maps ({', '.join(fam)}): 60° min–max {d60mm:.1e}, "
              f"60° mean {d60mean:.1e}, 90° {d90:.1e}" + ("" if big <= TOLERANCE else "  > 1e-9: FAIL"))
    deg = degenerate(n)
    dstack = np.stack(list(deg.values()))
    ours = np.column_stack(grid_scores(dstack, True, device="cpu"))
    ref = np.array([grid_scores_reference(m, True) for m in dstack])
    theirs = dm.scores(dstack, True) if dm else None
    d = np.abs(ours - ref).max()
    ok &= d <= TOLERANCE
    print(f"  degenerate maps, min–max 60° / 90° (reference; DeepMind where given; |ours − reference| {d:.1e}):")
    for i, name in enumerate(deg):
        line = f"    {name:18s} reference {ref[i, 0]:+.6f} / {ref[i, 1]:+.6f}"
        if theirs is not None:
            line += f"   DeepMind {theirs[i, 0]:+.6f} / {theirs[i, 1]:+.6f}"
        print(line)
    return ratio_dm, rate["t1"] / rate["ref"], ok


# --------------------------------------------------------------------------------------------------
# score stage


def bench_stage(ng: int, samples: int, seed: int) -> None:
    """Wall time of ``score_network`` on a synthetic recording of ``ng`` units and ``samples`` positions."""
    from pathint import analysis, ratemaps
    from pathint.recording import Recording, write_activations
    from pathint.scores import grid_scores_with_sac

    bins, box = 44, (2.2, 2.2)
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-1.1, 1.1, (samples, 2)).astype(np.float32)
    idx = ratemaps.bin_index(pos, bins, box)
    recs = []
    for _ in range(2):  # trained, untrained: half noisy grids, half smooth random fields, sampled with noise
        fields = np.concatenate([np.maximum(noisy_hexagonal(ng // 2, bins, rng) - 0.3, 0),
                                 3 * ndi.gaussian_filter(rng.random((ng - ng // 2, bins, bins)), (0, 2, 2))])
        act = fields.reshape(ng, -1).astype(np.float32)[:, idx].T.copy()
        act += 0.2 * rng.standard_normal(act.shape, dtype=np.float32)
        recs.append(Recording(act, pos, pos, 5.0, samples // 50, 50))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "activations.h5"
        write_activations(path, recs[0], recs[1], {"network_id": "bench"})
        maps = [ratemaps.rate_maps(r.positions, r.activations, bins, box) for r in recs]
        del recs
        grid_scores(maps[0][:2])
        t0 = time.perf_counter()
        analysis.score_network(path, bins=bins, box=box)
        total = time.perf_counter() - t0
    t0 = time.perf_counter()
    grid_scores_with_sac(maps[0], device="cpu")
    grid_scores(maps[1], device="cpu")
    scoring = time.perf_counter() - t0
    print(f"  Ng {ng:5d}: score stage {total:6.1f} s per network ({2 * ng} maps of 44×44, {samples} samples); "
          f"grid scores alone {scoring:5.1f} s ({2 * ng / scoring:.0f} maps/s, 1 thread)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deepmind", metavar="DIR", help=f"clone of {DEEPMIND_URL} (default: ${DEEPMIND_ENV})")
    ap.add_argument("--bins", type=int, nargs="+", default=[44, 32, 20])
    ap.add_argument("--maps", type=int, default=256, help="maps timed for grid_scores")
    ap.add_argument("--deepmind-maps", type=int, default=24, help="maps timed for DeepMind's scorer per round")
    ap.add_argument("--reference-maps", type=int, default=4, help="maps timed for the plain reference per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stage", action="store_true", help="time the score stage per network instead")
    ap.add_argument("--ng", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--keep-freed-memory", action="store_true", help="pathint.malloc.keep_freed_memory() first")
    args = ap.parse_args()

    kept = False
    if args.keep_freed_memory:
        from pathint.malloc import keep_freed_memory

        kept = keep_freed_memory()
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs; BLAS single-threaded (OPENBLAS_NUM_THREADS=1); "
          f"malloc: {'keeps freed memory' if kept else 'glibc defaults'}")
    if args.stage:
        print("score stage (pathint.analysis.score_network, 1 thread, numpy path):")
        for ng in args.ng:
            bench_stage(ng, args.samples, args.seed)
        return
    dm_module, where = load_deepmind(args.deepmind)
    print(f"DeepMind's scorer: {where}")
    if dm_module is None:
        print(how_to_get_deepmind())
    ok = True
    summary = []
    for n in args.bins:
        ratio_dm, ratio_ref, good = bench_size(n, args, dm_module)
        ok &= good
        summary.append((n, ratio_dm, ratio_ref))
    print("\nsummary, grid_scores at 1 thread:")
    for n, ratio_dm, ratio_ref in summary:
        dm_part = f"{ratio_dm:.1f}× DeepMind" if ratio_dm is not None else "DeepMind not measured"
        goal = ""
        if n == 44 and ratio_dm is not None:
            goal = f"  (goal ≥ {GOAL:.0f}×: {'met' if ratio_dm >= GOAL else 'NOT met'})"
        print(f"  {n}×{n}: {dm_part}, {ratio_ref:.0f}× the plain reference{goal}")
    if not ok:
        raise SystemExit("FAIL: grid_scores differs from DeepMind's scorer or the reference by more than 1e-9")


if __name__ == "__main__":
    main()
