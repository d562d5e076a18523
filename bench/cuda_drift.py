"""How far a network trained (and recorded) on the GPU lands from the same network on the CPU.

``pathint audit`` re-runs a stage stored from a GPU on this machine's GPU, or on the CPU where there is none;
a re-run on another device model that is not bitwise equal is compared with
``pathint.audit.CROSS_DEVICE_TOLERANCE``. This script measures whether that tolerance holds:
one network of the default experiment (a DoS network unless ``--network``) is trained for several lengths
on both devices, and the full-length GPU network is recorded on both devices on the evaluation set.

Prints, per length, the largest weight difference (absolute, and relative to the largest weight), the final
losses and decoding errors, and the audit's cross-device verdict on training (INCONCLUSIVE unless what must
agree differs); then the recording differences, how many decoded positions flipped, and that verdict. Needs a CUDA device. Run: ``python bench/cuda_drift.py [--steps 10 100 1500] [--network ID]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from pathint.audit import (  # noqa: E402
    DECODE_FLIP_FRACTION,
    CROSS_DEVICE_TOLERANCE,
    Comparison,
    _compare_arrays,
    compare_model,
    compare_train_log,
    weights_gap,
)
from pathint.config import experiment_networks, load_experiment  # noqa: E402
from pathint.recording import record  # noqa: E402
from pathint.seeds import rng  # noqa: E402
from pathint.training import TrainRuntime, load_network, train  # noqa: E402
from pathint.trajectories import TrajectoryParams, generate  # noqa: E402

GPU = "cuda"


def _weights_gap(a: Path, b: Path) -> tuple[float, float]:
    return weights_gap(*(torch.load(p, weights_only=True, map_location="cpu")["state_dict"] for p in (a, b)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "config.yaml"))
    ap.add_argument("--network", default=None, help="network id (default: the first DoS network)")
    ap.add_argument("--steps", type=int, nargs="+", default=None, help="training lengths (default: 10, 100 and the config's)")
    ap.add_argument("--eval", type=int, nargs=2, default=(2000, 50), metavar=("N", "T"), help="evaluation trajectories")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        ap.error(f"needs a CUDA device; torch {torch.__version__} sees none")
    nets = experiment_networks(load_experiment(args.config), ROOT)
    net = next(n for n in nets if (n.id == args.network if args.network else n.config.readout == "difference_of_softmaxes"))
    lengths = args.steps or [10, 100, net.config.n_steps]
    print(f"network {net.id} ({net.config.architecture} {net.config.activation} Ng {net.config.n_grid}, {net.config.readout}); "
          f"{torch.cuda.get_device_name()}, torch {torch.__version__}, audit tolerance {CROSS_DEVICE_TOLERANCE:g} (rtol = atol)")
    tmp = Path(tempfile.mkdtemp(prefix="pathint-drift-"))
    for n in lengths:
        cfg = dataclasses.replace(net.config, n_steps=n)
        res = {d: train(cfg, tmp / f"{n}-{d}", TrainRuntime(device=d, progress=False, log_every=max(1, n // 10)), log=lambda _m: None)
               for d in (GPU, "cpu")}
        absd, reld = _weights_gap(tmp / f"{n}-{GPU}/model.pt", tmp / f"{n}-cpu/model.pt")
        cmp = Comparison("train")
        compare_model(tmp / f"{n}-{GPU}/model.pt", tmp / f"{n}-cpu/model.pt", CROSS_DEVICE_TOLERANCE, cmp, cross_device=True)
        compare_train_log(tmp / f"{n}-{GPU}/train_log.csv", tmp / f"{n}-cpu/train_log.csv", CROSS_DEVICE_TOLERANCE, cmp, cross_device=True)
        print(f"{n:6d} steps: max |Δw| {absd:.3g} ({reld:.3g} of the largest weight); loss gpu {res[GPU].final_loss:.5g} "
              f"cpu {res['cpu'].final_loss:.5g}; error gpu {res[GPU].final_error_cm:.3f} cpu {res['cpu'].final_error_cm:.3f} cm; "
              f"wall gpu {res[GPU].wall_time_s:.1f} s cpu {res['cpu'].wall_time_s:.1f} s; audit train comparison: "
              + (("INCONCLUSIVE" if cmp.inconclusive else "MATCH") if cmp.ok
                 else f"DIFFER in {len(cmp.differences)} of {cmp.compared} ({cmp.differences[0]})")
              + "".join(f"; {note}" for note in cmp.notes))
    model_path = tmp / f"{lengths[-1]}-{GPU}/model.pt"
    traj = generate(rng(0, "cuda-drift-eval"), args.eval[0], args.eval[1], TrajectoryParams.from_config(net.config))
    recs = {d: record(*load_network(model_path, device=d)[:2], traj, device=d) for d in (GPU, "cpu")}
    for name in ("activations", "decoded"):
        a, b = getattr(recs[GPU], name).astype(np.float64), getattr(recs["cpu"], name).astype(np.float64)
        rows = ~np.isclose(a, b, rtol=CROSS_DEVICE_TOLERANCE, atol=CROSS_DEVICE_TOLERANCE).all(axis=1)
        cmp = Comparison("record")
        _compare_arrays(name, getattr(recs[GPU], name), getattr(recs["cpu"], name), CROSS_DEVICE_TOLERANCE, cmp,
                        flips=DECODE_FLIP_FRACTION if name == "decoded" else 0.0)
        print(f"record {name}: max |Δ| {np.abs(a - b).max():.3g} (values up to {np.abs(b).max():.3g}); {rows.sum()} of "
              f"{rows.size} rows beyond the tolerance; audit record comparison: {'MATCH' if cmp.ok else 'DIFFER'}")
    print(f"decoding error of the {lengths[-1]}-step GPU network: gpu {recs[GPU].error_cm:.4f} cm, cpu {recs['cpu'].error_cm:.4f} cm")


if __name__ == "__main__":
    main()
