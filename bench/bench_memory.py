"""Peak memory (RSS) of the training, recording and scoring stages against ``pathint.memory``'s estimates.

    .venv/bin/python bench/bench_memory.py [--size NAME ...] [--list]

Each stage runs in a fresh Python process that loads what a stage job loads (``pathint.stages``) and calls
the library functions the stage calls (training with ``keep_freed_memory``, as its script does), on the CPU
with one thread; the process reports its peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and the table shows it beside the estimate and their
ratio. Training runs two steps (the first allocates the optimiser state; later steps reuse the same
buffers), recording and scoring run in full. ``tests/test_memory.py`` uses :func:`measure` at two small sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Named sizes: network keys, evaluation keys and scoring keys (the rest take the schemas' defaults).
SIZES: dict[str, dict[str, Any]] = {
    # small and fast (tests/test_memory.py): one dominated by Ng-sized buffers, the other by Np-sized ones
    "small_ng": {"network": {"n_grid": 256, "n_place": 32, "batch_size": 2000, "seq_len": 50},
                 "evaluation": {"n_trajectories": 6000, "seq_len": 50}, "scoring": {"bins": 20}},
    "small_np": {"network": {"n_grid": 64, "n_place": 2048, "batch_size": 500, "seq_len": 20},
                 "evaluation": {"n_trajectories": 1000, "seq_len": 50}, "scoring": {"bins": 44}},
    # the paper's Ng 1024 networks with its evaluation set (4000 trajectories of 50 steps, 44 bins)
    "paper_1024": {"network": {"n_grid": 1024, "n_place": 512, "batch_size": 200, "seq_len": 20},
                   "evaluation": {"n_trajectories": 4000, "seq_len": 50}, "scoring": {"bins": 44}},
    # scoring the paper's Ng 4096 networks (dos_sigma, dos_architectures): synthetic activations
    "paper_4096_score": {"network": {"n_grid": 4096, "n_place": 512}, "synthetic": True,
                         "evaluation": {"n_trajectories": 4000, "seq_len": 50}, "scoring": {"bins": 44}},
    "paper_lstm": {"network": {"n_grid": 1024, "n_place": 512, "batch_size": 200, "seq_len": 20,
                               "architecture": "LSTM", "activation": "tanh"},
                   "evaluation": {"n_trajectories": 1000, "seq_len": 50}, "scoring": {"bins": 44}},
}

STAGES = ("train", "record", "score")

_CHILD = r"""
import json, resource, sys
from pathlib import Path
args = json.loads(sys.argv[1])
stage, work = args["stage"], Path(args["work"])
# what every stage process loads (the stage registry and provenance records), then the stage's own work
# through the library functions the stages call, so the probe does not depend on the stage registry's API
import pathint.provenance, pathint.stages
if stage == "train":
    from pathint.config import NetworkConfig
    from pathint.malloc import keep_freed_memory
    from pathint.training import TrainRuntime, train
    keep_freed_memory()
    train(NetworkConfig.from_dict(args["network"]), work / "net",
          TrainRuntime(device="cpu", threads=1, checkpoint_every=1000, log_every=100), log=lambda _m: None)
elif stage == "record":
    from pathint import recording, trajectories
    from pathint.training import init_network, load_network
    ev = args["evaluation"]
    net, readout, cfg, _ = load_network(work / "net" / "model.pt")
    traj, _ = trajectories.read_hdf5(work / "eval.h5")
    trained = recording.record(net, readout, traj, batch_size=ev["batch_size"])
    net0, readout0 = init_network(cfg)
    untrained = recording.record(net0, readout0, traj, batch_size=ev["batch_size"])
    recording.write_activations(work / "activations.h5", trained, untrained, attrs={"status": "ok"},
                                float16=ev["float16"], n_examples=ev["n_example_trajectories"])
elif stage == "synthetic":  # activations of the right shape without a network (sizes too slow to record)
    import h5py, numpy as np
    ev = args["evaluation"]
    n, steps, units = ev["n_trajectories"], ev["seq_len"], args["network"]["n_grid"]
    rng = np.random.default_rng(0)
    with h5py.File(work / "activations.h5", "w") as f:
        f.attrs.update({"format": "pathint-activations-v1", "n_trajectories": n, "steps": steps, "status": "ok"})
        pos = rng.uniform(-1.1, 1.1, (n * steps, 2)).astype(np.float32)
        f.create_dataset("positions", data=pos)
        for name in ("trained", "untrained"):
            g = f.create_group(name)
            d = g.create_dataset("activations", (n * steps, units), np.float32, chunks=(min(4096, n * steps), units))
            for a in range(0, n * steps, 4096):
                b = min(a + 4096, n * steps)
                d[a:b] = rng.random((b - a, units), dtype=np.float32)
            g.create_dataset("decoded", data=pos)
            g.attrs["eval_error_cm"] = 1.0
elif stage == "score":
    from pathint import analysis
    from pathint.io import atomic_path, write_json
    sc = args["scoring"]
    units, summary, maps = analysis.score_network(work / "activations.h5", bins=sc["bins"], min_max=sc["min_max"],
                                                  thresholds=tuple(sc["thresholds"]))
    analysis.write_ratemaps(work / "ratemaps.h5", maps, attrs={"bins": sc["bins"]})
    with atomic_path(work / "units.parquet") as tmp:
        units.to_parquet(tmp, index=False)
    write_json(work / "summary.json", summary)
def peak_mb():
    # VmHWM belongs to this process's own address space; ru_maxrss survives exec and so reports the parent's
    # peak when the parent (a pytest run, say) had used more memory than this probe does
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mb": peak_mb()}))
"""


def _run(stage: str, work: Path, payload: Mapping[str, Any]) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps({"stage": stage, "work": str(work), **payload})],
        capture_output=True, text=True, env=env, cwd=work,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{stage} probe failed:\n{proc.stderr[-3000:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["peak_mb"])


def settings(size: Mapping[str, Any]) -> tuple[dict, dict, dict]:
    """(network dict, evaluation section, scoring section) of a named size, defaults filled in."""
    from pathint.config import check_experiment

    network = {"n_steps": 2, **size.get("network", {})}
    cfg = check_experiment({"sweeps": ["x"], "evaluation": dict(size.get("evaluation", {})),
                            "scoring": dict(size.get("scoring", {}))})
    return network, cfg["evaluation"], cfg["scoring"]


def measure(size: Mapping[str, Any], stages: tuple[str, ...] = STAGES, work: str | Path | None = None) -> dict[str, float]:
    """Measured peak RSS in MB of ``stages`` (of "train", "record", "score", in that order) at ``size``.

    The stages a measured one needs run first (recording needs a trained network, scoring activations).
    A size with ``"synthetic": True`` measured for scoring alone scores random activations of its shape
    instead (recording Ng 4096 on the paper's evaluation set takes too long on a CPU).
    """
    network, evaluation, scoring = settings(size)
    payload = {"network": network, "evaluation": evaluation, "scoring": scoring}
    last = max(STAGES.index(s) for s in stages)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        tmp_path = Path(tmp)
        if last >= 1:
            from pathint import seeds, trajectories

            params = trajectories.TrajectoryParams()
            traj = trajectories.generate(seeds.rng(1, "eval_trajectories"), evaluation["n_trajectories"],
                                         evaluation["seq_len"], params)
            trajectories.write_hdf5(tmp_path / "eval.h5", traj, params, seed=1)
        if size.get("synthetic") and stages == ("score",):
            _run("synthetic", tmp_path, payload)
            return {"score": _run("score", tmp_path, payload)}
        peaks = {stage: _run(stage, tmp_path, payload) for stage in STAGES[: last + 1]}
        return {stage: peaks[stage] for stage in stages}


def estimate(size: Mapping[str, Any]) -> dict[str, float]:
    """``pathint.memory``'s estimates in MB for the same stages."""
    from pathint.config import NetworkConfig
    from pathint.memory import estimate_mb

    network, evaluation, scoring = settings(size)
    cfg = NetworkConfig.from_dict(network)
    return {stage: estimate_mb(cfg, stage, evaluation=evaluation, scoring=scoring) for stage in ("train", "record", "score")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", action="append", choices=sorted(SIZES), help="sizes to run (default: all)")
    ap.add_argument("--json", action="store_true", help="one JSON line per size instead of a table")
    args = ap.parse_args()
    print(f"{'size':<18} {'stage':<7} {'measured MB':>12} {'estimate MB':>12} {'estimate/measured':>18}")
    for name in args.size or sorted(SIZES):
        size = SIZES[name]
        got = measure(size, ("score",) if size.get("synthetic") else STAGES)
        est = {stage: mb for stage, mb in estimate(size).items() if stage in got}
        if args.json:
            print(json.dumps({"size": name, "measured": got, "estimate": est}))
            continue
        for stage in got:
            print(f"{name:<18} {stage:<7} {got[stage]:>12.0f} {est[stage]:>12.0f} {est[stage] / got[stage]:>18.2f}")


if __name__ == "__main__":
    main()
