"""GPU-hours of an experiment config (default: configs/paper.yaml), one network at a time and grouped.

An estimate, not a measurement: every network's training costs ``n_steps`` x its step's floating-point
operations (products only, forward and backward, counted per architecture below), divided by an achieved
fp32 rate. The rates are fractions of the GPU's fp32 peak:

- one at a time: the fractions the RNN's step reached on the H100 (docs/performance.md, "GPU"): 24 % at
  Ng 1024 (3.3-5.0 ms per step, launch-bound), 62 % at Ng 4096 (15.1 ms), 13 % at Ng 256; other sizes take
  the nearest. Three-layer cells are assumed to run at the RNN's fraction at their size (not measured);
- grouped: ``--group-fraction`` (default 0.6, what one Ng 4096 product stream reached: a group's batched
  products are at least that large), never below the one-at-a-time fraction.

``--one-ms`` / ``--group-ms`` replace the model by measured milliseconds per network-step for the RNN at
Ng 1024 (e.g. from ``bench/bench_grouped.py --device cuda``); other architectures and sizes are scaled by
their FLOPs. Prints the table docs/slurm.md quotes.

    .venv/bin/python bench/paper_gpu_hours.py [--config configs/paper.yaml] [--peak-tflops 48.2]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pathint.config import check_experiment, experiment_networks, load_yaml  # noqa: E402

#: fraction of the fp32 peak one network's step reached on the H100, by Ng (docs/performance.md "GPU")
ONE_AT_A_TIME = {256: 0.128, 1024: 0.24, 4096: 0.624}
GATES = {"RNN": 1, "SRNN": 1, "GRU": 3, "UGRNN": 2, "LSTM": 4}


def step_flops(arch: str, ng: int, n_out: int, b: int, t: int) -> float:
    """Products of one training step: 3 passes (forward, input gradient, weight gradient) of every dense
    map over the B·T rows; the 2-unit velocity input and the start-position encoder are left out."""
    rows = b * t
    square = 2 * rows * ng * ng  # one pass of an Ng x Ng map
    decoder = 3 * 2 * rows * ng * n_out
    if arch == "RNN":
        return 3 * square + decoder
    g = GATES[arch]
    # input projection (Ng -> G Ng), recurrent matrix (Ng -> G Ng), the head's dense layer (Ng -> Ng)
    return 3 * g * square + 3 * g * square + 3 * square + decoder


def fraction_one(ng: int) -> float:
    return ONE_AT_A_TIME[min(ONE_AT_A_TIME, key=lambda n: abs(n - ng))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "paper.yaml"))
    ap.add_argument("--peak-tflops", type=float, default=48.2, help="fp32 peak (the H100's measured, docs/performance.md)")
    ap.add_argument("--group-fraction", type=float, default=0.6)
    ap.add_argument("--one-ms", type=float, default=None, help="measured ms per step, RNN Ng 1024, one at a time")
    ap.add_argument("--group-ms", type=float, default=None, help="measured ms per network-step, RNN Ng 1024, grouped")
    args = ap.parse_args()
    cfg = check_experiment(load_yaml(args.config), args.config)
    nets = experiment_networks(cfg, ROOT)
    peak = args.peak_tflops * 1e12
    ref = step_flops("RNN", 1024, 512, 200, 20)
    rows: dict[tuple, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0])
    for n in nets:
        c = n.config
        f = step_flops(c.architecture, c.n_grid, c.n_out, c.batch_size, c.seq_len)
        if args.one_ms is not None:
            one = args.one_ms * 1e-3 * f / ref
        else:
            one = f / (fraction_one(c.n_grid) * peak)
        if args.group_ms is not None:
            grp = args.group_ms * 1e-3 * f / ref
        else:
            grp = f / (max(args.group_fraction, fraction_one(c.n_grid)) * peak)
        r = rows[(c.n_grid, c.architecture)]
        r[0] += 1
        r[1] += c.n_steps * f
        r[2] += c.n_steps * one / 3600
        r[3] += c.n_steps * grp / 3600
        r[4] += c.n_steps
    print(f"{args.config}: {len(nets)} networks; fp32 peak {args.peak_tflops} TFLOP/s")
    print(f"{'Ng':>5} {'arch':<6} {'networks':>8} {'GFLOP/step':>10} {'GPU-h one at a time':>20} {'GPU-h grouped':>14}")
    tot = [0, 0.0, 0.0]
    for (ng, arch), (count, flop_steps, one_h, grp_h, steps) in sorted(rows.items()):
        per = flop_steps / steps / 1e9  # mean over the networks' steps (readouts differ in size)
        print(f"{ng:>5} {arch:<6} {count:>8} {per:>10.0f} {one_h:>20,.0f} {grp_h:>14,.0f}")
        tot[0] += count
        tot[1] += one_h
        tot[2] += grp_h
    print(f"{'all':>5} {'':<6} {tot[0]:>8} {'':>10} {tot[1]:>20,.0f} {tot[2]:>14,.0f}   ({tot[1] / tot[2]:.1f}x)")


if __name__ == "__main__":
    main()
