"""Search for a fast training recipe: train ONE network and evaluate it every few hundred steps.

Trains with :func:`pathint.training.train` (the pipeline's own loop, so what is measured is what the
default experiment runs), stopping at each evaluation step through ``stop_after`` and resuming from the
checkpoint written there. At each evaluation the network is recorded on a fixed, seeded evaluation set
(``--eval-n`` trajectories of ``--eval-T`` steps; the same set for every recipe), rate maps of ``--bins``
bins are built and scored with the NFL min-max 60° grid score (``pathint.scores.grid_scores``), and one
table row is printed:

    setting | steps | train_s | err_cm | n>0.8 | max_s60 | untrained_max_s60 | n>0.3 | loss

``train_s`` is the wall time of training only (sum of the train() calls, excluding evaluation), so it
depends on machine load: report ``steps`` too. ``untrained_max_s60`` is the same score for the network at
step 0 (the untrained baseline, computed once). Rows also go to ``--csv`` (appended) when given.

Examples (defaults are config.yaml's ``defaults:``; any NetworkConfig key can be set with ``--set``)::

    .venv/bin/python bench/recipe.py --set readout=difference_of_softmaxes n_grid=256 \\
        learning_rate=3e-3 lr_schedule=cosine lr_warmup_steps=200 n_steps=3000 --eval-every 500
    .venv/bin/python bench/recipe.py --set readout=cartesian n_place=2 n_steps=1000 --eval-every 250
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from pathint.config import NetworkConfig, load_yaml  # noqa: E402
from pathint.layout import NETWORK_FILES  # noqa: E402
from pathint.ratemaps import rate_maps  # noqa: E402
from pathint.recording import record  # noqa: E402
from pathint.scores import grid_scores  # noqa: E402
from pathint.seeds import rng  # noqa: E402
from pathint.training import TrainRuntime, init_network, train  # noqa: E402
from pathint.trajectories import TrajectoryParams, generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Seed of the evaluation trajectories: fixed, and independent of every network seed.
EVAL_SEED = 12345
COLUMNS = ("setting", "steps", "train_s", "err_cm", "n_above_0.8", "max_s60", "untrained_max_s60", "n_above_0.3", "loss")


def parse_value(text: str):
    """A ``--set`` value: int, float, else YAML (bool, string)."""
    import yaml

    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def build_config(sets: list[str], config_path: Path) -> tuple[NetworkConfig, str]:
    """config.yaml ``defaults:`` overridden by ``key=value`` pairs; returns (config, short setting label)."""
    base = dict((load_yaml(config_path) or {}).get("defaults") or {})
    label = []
    for item in sets:
        if "=" not in item:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        base[k] = parse_value(v)
        label.append(f"{k}={v}")
    if base.get("readout") == "cartesian":
        base.setdefault("n_place", 2)
    return NetworkConfig.from_dict(base, "bench/recipe.py settings"), " ".join(label) or "defaults"


def evaluate(model, readout, traj, bins: int, box: tuple[float, float]) -> dict:
    """Decoding error (cm) and min-max 60° grid scores of ``model`` on ``traj``."""
    rec = record(model, readout, traj, device="cpu", batch_size=500)
    maps = rate_maps(rec.positions, rec.activations, bins, box)
    s60, _ = grid_scores(maps, min_max=True)
    return {"err_cm": rec.error_cm, "s60": s60}


def fmt_row(r: dict) -> str:
    return (f"{r['setting']} | {r['steps']:6d} | {r['train_s']:7.1f} | {r['err_cm']:6.1f} | {r['n_above_0.8']:4d} | "
            f"{r['max_s60']:.3f} | {r['untrained_max_s60']:.3f} | {r['n_above_0.3']:4d} | {r['loss']:.4f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="NetworkConfig overrides")
    ap.add_argument("--config", default=str(ROOT / "config.yaml"), help="experiment config whose defaults: are the base")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--eval-n", type=int, default=1000, help="evaluation trajectories")
    ap.add_argument("--eval-T", type=int, default=50, help="steps per evaluation trajectory")
    ap.add_argument("--bins", type=int, default=44)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stop-when", type=float, default=None, metavar="CM",
                    help="stop once err_cm < CM and a unit scores > 0.8")
    ap.add_argument("--label", default=None, help="setting label for the table (default: the --set pairs)")
    ap.add_argument("--csv", default=None, help="append rows to this CSV")
    ap.add_argument("--out", default=None, help="training directory (default: a temporary one, removed)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    cfg, label = build_config(args.set, Path(args.config))
    label = args.label or label
    box = (cfg.box_width, cfg.box_height)
    traj = generate(rng(EVAL_SEED, "recipe_eval"), args.eval_n, args.eval_T, TrajectoryParams.from_config(cfg))

    model0, readout0 = init_network(cfg, "cpu")
    base = evaluate(model0, readout0, traj, args.bins, box)
    untrained_max = float(np.max(base["s60"]))
    print(f"# {cfg.id}: {label}; untrained: err {base['err_cm']:.1f} cm, max s60 {untrained_max:.3f}, "
          f"{int(np.sum(base['s60'] > 0.8))} units > 0.8", flush=True)
    print("# " + " | ".join(COLUMNS), flush=True)

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="recipe_"))
    out.mkdir(parents=True, exist_ok=True)
    runtime = TrainRuntime(device="cpu", threads=args.threads, checkpoint_every=args.eval_every,
                           log_every=args.eval_every, progress=False)
    quiet = lambda s: None  # noqa: E731
    train_s, rows = 0.0, []
    try:
        for stop in list(range(args.eval_every, cfg.n_steps, args.eval_every)) + [cfg.n_steps]:
            t0 = time.perf_counter()
            res = train(cfg, out, runtime, quiet, stop_after=stop if stop < cfg.n_steps else None)
            train_s += time.perf_counter() - t0
            if stop < cfg.n_steps:
                state = torch.load(out / NETWORK_FILES["checkpoint"], map_location="cpu", weights_only=True)["state_dict"]
            else:
                state = torch.load(out / NETWORK_FILES["model"], map_location="cpu", weights_only=True)["state_dict"]
            model, readout = init_network(cfg, "cpu")
            model.load_state_dict(state)
            ev = evaluate(model, readout, traj, args.bins, box)
            row = {
                "setting": label, "steps": res.steps, "train_s": train_s, "err_cm": ev["err_cm"],
                "n_above_0.8": int(np.sum(ev["s60"] > 0.8)), "max_s60": float(np.max(ev["s60"])),
                "untrained_max_s60": untrained_max, "n_above_0.3": int(np.sum(ev["s60"] > 0.3)),
                "loss": res.final_loss,
            }
            rows.append(row)
            print(fmt_row(row), flush=True)
            if args.csv:
                new = not Path(args.csv).exists()
                with open(args.csv, "a", newline="") as fh:
                    w = csv.DictWriter(fh, fieldnames=COLUMNS)
                    if new:
                        w.writeheader()
                    w.writerow(row)
            if res.status == "diverged":
                print("# diverged", flush=True)
                break
            if args.stop_when is not None and row["err_cm"] < args.stop_when and row["n_above_0.8"] > 0:
                break
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
