"""Run the same recipe search for every readout group: one ``bench/recipe.py`` run per (setting, group, seed).

Equal effort is the point: each setting in ``--settings`` is tried on all seven Fig. 2 groups (same steps,
same evaluation points, same seeds), so no group is tuned more than another. A setting is a label and two
lists of ``key=value`` overrides, one applied to the place-code groups and one to the MSE groups; they share
everything except what the label says. Rows are appended to ``--csv`` (one per evaluation point) with the
exact ``bench/recipe.py`` command in the ``command`` column, so every row can be re-run alone.

The settings are overrides of ``--config``'s ``defaults:`` (``bench/recipe_base.yaml``). Example (two rows of
the search recorded in docs/recipe_search.md)::

    .venv/bin/python bench/recipe_grid.py --csv results/recipe_grid.csv --jobs 2 --seeds 0 \\
        --setting "G10 S3000" "encoder_gain=10 n_steps=3000" "encoder_gain=1 n_steps=3000" \\
        --setting "G100 S3000 lr6e-3" "encoder_gain=100 n_steps=3000 learning_rate=0.006" \\
                  "encoder_gain=1 n_steps=3000 learning_rate=0.003"
"""

from __future__ import annotations

import argparse
import csv
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The Fig. 2 groups of the default experiment: label, readout overrides, whether it is an MSE group.
GROUPS: tuple[tuple[str, str, bool], ...] = (
    ("Cartesian Low Dim", "readout=cartesian n_place=2", True),
    ("Cartesian High Dim", "readout=high_dim_cartesian", True),
    ("Polar High Dim", "readout=high_dim_polar", True),
    ("Gaussian", "readout=gaussian place_cell_rf=0.12", False),
    ("DoS", "readout=difference_of_softmaxes place_cell_rf=0.12 surround_scale=2.0", False),
    ("DoG", "readout=difference_of_gaussians place_cell_rf=0.12 surround_scale=2.0", False),
    ("SoD", "readout=softmax_of_differences place_cell_rf=0.12 surround_scale=2.0", False),
)


def commands(settings: list[list[str]], seeds: list[int], eval_every: int, groups: list[str] | None,
             config: str) -> list[tuple[str, list[str]]]:
    """(row label, argv) for every setting x group x seed, in that order."""
    out = []
    for label, place, mse in settings:
        for group, readout, is_mse in GROUPS:
            if groups and group not in groups:
                continue
            for seed in seeds:
                sets = readout.split() + (mse if is_mse else place).split() + [f"seed={seed}"]
                row = f"{label} | {group} | seed {seed}"
                argv = [sys.executable, str(ROOT / "bench" / "recipe.py"), "--config", config, "--threads", "1",
                        "--eval-every", str(eval_every), "--label", row, "--set", *sets]
                out.append((row, argv))
    return out


def run(row: str, argv: list[str], csv_path: Path) -> str:
    """Run one recipe.py and append its rows (with the command) to ``csv_path``; returns its last line."""
    res = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        return f"{row}: FAILED ({res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode})"
    cmd = " ".join(shlex.quote(a) for a in [".venv/bin/python", *map(str, argv[1:])]).replace(str(ROOT) + "/", "")
    lines = [ln for ln in res.stdout.splitlines() if ln and not ln.startswith("#")]
    header = next((ln for ln in res.stdout.splitlines() if ln.startswith("# ") and "untrained" in ln), "")
    rows = []
    for ln in lines:
        parts = [p.strip() for p in ln.split("|")]
        # label has 3 '|'-separated parts, then steps, train_s, err_cm, n>0.8, max, untrained max, n>0.3, loss
        setting, group, seed = parts[:3]
        rows.append([setting, group, seed.removeprefix("seed "), *parts[3:], header.lstrip("# "), cmd])
    with open(csv_path, "a", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return lines[-1] if lines else f"{row}: no rows"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setting", nargs=3, action="append", required=True, metavar=("LABEL", "PLACE", "MSE"),
                    help="a setting: label, overrides for the place-code groups, overrides for the MSE groups")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--groups", nargs="*", default=None, help="only these group labels (default: all seven)")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--jobs", type=int, default=2, help="recipe.py runs at a time (each uses one thread)")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--config", default="bench/recipe_base.yaml", help="the search's base settings (defaults:)")
    args = ap.parse_args(argv)

    csv_path = Path(args.csv)
    if not csv_path.exists():
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as fh:
            csv.writer(fh).writerow(["setting", "group", "seed", "steps", "train_s", "err_cm", "n_above_0.8",
                                     "max_s60", "untrained_max_s60", "n_above_0.3", "loss", "untrained", "command"])
    todo = commands(args.setting, args.seeds, args.eval_every, args.groups, args.config)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for line in pool.map(lambda rc: run(rc[0], rc[1], csv_path), todo):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
