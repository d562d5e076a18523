"""Benchmark: building one training batch's targets (DoS, B=200, T=20, Np=512) and its trajectories.

Compares ``pathint.readouts`` (torch float32) with a plain float64 numpy implementation of the same
formulas written here, in the same run, checks they agree, and prints both times and the ratio
(goal: >= 10x). Also times ``pathint.trajectories.generate`` for one batch and the top-3 decoder, and
every place code's targets for the same batch as a ratio to DoS's, with and without
:func:`pathint.readouts.exp_flushed` (torch's CPU ``exp`` is slow for results that underflow).

    .venv/bin/python bench/bench_readouts.py [--repeats 30] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pathint.config import NetworkConfig  # noqa: E402
from pathint import readouts as readouts_mod  # noqa: E402
from pathint.readouts import PLACE_CODES, make_readout  # noqa: E402
from pathint.seeds import rng as seeded_rng  # noqa: E402
from pathint.trajectories import TrajectoryParams, generate  # noqa: E402

_EXP_FLUSHED = readouts_mod.exp_flushed  # restored after the timings with plain torch.exp


def _plain_exp(on: bool) -> None:
    """Make every module of pathint.readouts that calls ``exp_flushed`` call plain ``torch.exp`` instead
    (what the code did before exp_flushed), or undo that."""
    for name, module in list(sys.modules.items()):
        if name.startswith("pathint.readouts") and getattr(module, "exp_flushed", None) in (_EXP_FLUSHED, torch.exp):
            module.exp_flushed = torch.exp if on else _EXP_FLUSHED


def dos_numpy(pos: np.ndarray, centres: np.ndarray, sigma: float, s: float) -> np.ndarray:
    """Reference DoS targets (SPEC §2), float64: softmax(-q) - softmax(-r), shift, rescale."""
    d2 = ((pos[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    q = d2 / (2 * sigma**2)
    r = d2 / (2 * (s * sigma) ** 2)

    def softmax(a: np.ndarray) -> np.ndarray:
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    z = softmax(-q) - softmax(-r)
    z = z - z.min(-1, keepdims=True)
    return z / z.sum(-1, keepdims=True)


def timeit(fn, repeats: int, sync=lambda: None) -> float:
    """Median wall time of ``fn()`` in seconds (after two warm-up calls)."""
    return timeit2(fn, repeats, sync)[0]


def timeit2(fn, repeats: int, sync=lambda: None) -> tuple[float, float]:
    """Median wall time and median process CPU time (all threads) of ``fn()`` in seconds.

    CPU time is less sensitive than wall time to other processes sharing the machine.
    """
    fn(), fn()
    sync()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)

    cfg = NetworkConfig(readout="difference_of_softmaxes", n_place=512, place_cell_rf=0.12, surround_scale=2.0)
    readout = make_readout(cfg, seeded_rng(cfg.seed, "readout")).to(device)
    params = TrajectoryParams.from_config(cfg)
    traj = generate(np.random.default_rng(0), args.batch, args.steps, params)
    n_pos = args.batch * args.steps
    pos_t = torch.from_numpy(traj.position).to(device)
    pos_np = traj.position.reshape(-1, 2).astype(np.float64)
    centres = readout.state()["param_centres"][:, 0].astype(np.float64)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {device}")
    print(f"DoS targets for one batch: B={args.batch}, T={args.steps}, Np={cfg.n_place} ({n_pos} positions)")

    t_torch, c_torch = timeit2(lambda: readout.encode(pos_t), args.repeats, sync)
    t_numpy, c_numpy = timeit2(lambda: dos_numpy(pos_np, centres, 0.12, 2.0), max(3, args.repeats // 5))
    y = readout.encode(pos_t).cpu().numpy().reshape(n_pos, -1).astype(np.float64)
    ref = dos_numpy(pos_np, centres, 0.12, 2.0)
    max_abs = float(np.abs(y - ref).max())
    max_rel = max_abs / float(np.abs(ref).max())
    print(f"  numpy float64 reference : {t_numpy * 1e3:9.3f} ms wall, {c_numpy * 1e3:9.3f} ms CPU")
    print(
        f"  pathint torch float32   : {t_torch * 1e3:9.3f} ms wall, {c_torch * 1e3:9.3f} ms CPU"
        f"  ({t_torch * 1e3 / n_pos * 1000:.3f} ms wall per 1000 positions)"
    )
    print(
        f"  speed-up                : {t_numpy / t_torch:9.1f} x wall, {c_numpy / max(c_torch, 1e-9):.1f} x CPU (goal >= 10x)"
    )
    print(f"  agreement               : max |diff| = {max_abs:.2e}, relative to max target {max_rel:.2e}")
    if device.type == "cpu" and torch.get_num_threads() > 1:
        # on a shared machine one intra-op thread is often faster than several
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        t1, c1 = timeit2(lambda: readout.encode(pos_t), args.repeats, sync)
        torch.set_num_threads(threads)
        print(
            f"  pathint, 1 thread       : {t1 * 1e3:9.3f} ms wall, {c1 * 1e3:9.3f} ms CPU  ({t_numpy / t1:.1f} x wall)"
        )
    if max_rel > 1e-4:
        raise SystemExit(f"FAIL: torch and numpy DoS targets disagree (relative {max_rel:.2e} > 1e-4)")

    z = readout.encode(pos_t)
    t_loss = timeit(lambda: readout.loss(z, z), args.repeats, sync)
    t_dec = timeit(lambda: readout.decode(z), args.repeats, sync)
    print(f"  cross-entropy loss      : {t_loss * 1e3:9.3f} ms")
    print(f"  top-3 decode            : {t_dec * 1e3:9.3f} ms")

    t_gen = timeit(lambda: generate(np.random.default_rng(1), args.batch, args.steps, params), args.repeats)
    print(f"trajectories.generate B={args.batch}, T={args.steps}: {t_gen * 1e3:.3f} ms")
    place_code_targets(pos_t, args.repeats, sync, device)
    exp_by_range(args.repeats, sync, device)


def place_code_targets(pos: torch.Tensor, repeats: int, sync, device: torch.device) -> None:
    """Each place code's targets for the batch, as a ratio to DoS's time in this run; the exponential
    codes also with plain ``torch.exp`` in place of ``exp_flushed`` (what they used before) and the two
    compared bit for bit."""
    print("place-code targets for the same batch (time / DoS time, same run):")
    t_dos = None
    for name in ("difference_of_softmaxes",) + tuple(n for n in PLACE_CODES if n != "difference_of_softmaxes"):
        extra = {"gaussian_normalisation": "none"} if name == "gaussian" else {}
        for variant in ({"gaussian_normalisation": "softmax"}, extra) if name == "gaussian" else (extra,):
            cfg = NetworkConfig(readout=name, n_place=512, place_cell_rf=0.12, surround_scale=2.0, **variant)
            ro = make_readout(cfg, seeded_rng(cfg.seed, "readout")).to(device)
            label = name + (f" ({variant['gaussian_normalisation']})" if variant else "")
            t = timeit(lambda: ro.encode(pos), repeats, sync)
            t_dos = t_dos or t
            line = f"  {label:34s}: {t / t_dos:6.2f}"
            uses_exp = name in ("difference_of_gaussians", "general_difference_of_gaussians")
            if uses_exp or variant.get("gaussian_normalisation") == "none":
                y = ro.encode(pos)
                _plain_exp(True)
                try:
                    t_plain = timeit(lambda: ro.encode(pos), repeats, sync)
                    y_plain = ro.encode(pos)
                finally:
                    _plain_exp(False)
                same = "bitwise the same" if torch.equal(y, y_plain) else f"max |diff| {float((y - y_plain).abs().max()):.1e}"
                line += f"   with torch.exp: {t_plain / t_dos:6.2f} (x{t_plain / t:.2f}), targets {same}"
            print(line)


def exp_by_range(repeats: int, sync, device: torch.device) -> None:
    """``torch.exp`` and ``exp_flushed`` of 2^20 float32 numbers drawn in ranges whose results are normal,
    subnormal or underflow to 0, as ratios to ``torch.exp`` over the normal range (same run)."""
    g = torch.Generator().manual_seed(0)
    ranges = ((-80.0, 0.0), (-103.0, -88.0), (-300.0, -110.0))
    xs = {lo_hi: torch.empty(1 << 20).uniform_(*lo_hi, generator=g).to(device) for lo_hi in ranges}
    ref = None
    print("exp of 2^20 numbers (time / torch.exp over [-80, 0], same run):")
    for (lo, hi), x in xs.items():
        t_exp = timeit(lambda: torch.exp(x), repeats, sync)
        ref = ref or t_exp
        t_fl = timeit(lambda: readouts_mod.exp_flushed(x), repeats, sync)
        print(f"  x in [{lo:6.0f}, {hi:4.0f}]: torch.exp {t_exp / ref:6.2f}, exp_flushed {t_fl / ref:6.2f}")



if __name__ == "__main__":
    main()
