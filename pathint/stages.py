"""One function per pipeline stage, shared by the Snakemake scripts and by ``pathint audit``.

Each takes plain paths and parameters (never the ``snakemake`` object), writes its outputs atomically with
a provenance record, and returns a small dict of key figures for the log.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import provenance
from .config import NetworkConfig
from .io import atomic_path, write_json

Log = Callable[..., None]


def _noop(*_: Any) -> None:
    pass


def eval_seed(seed: int, kind: str) -> int:
    from .seeds import derive

    return derive(seed, f"{kind}_trajectories")


def run_trajectories(
    h5: str | Path, prov: str | Path, *, kind: str, seed: int, n: int, steps: int, box: Mapping[str, Any], log: Log = _noop
) -> dict:
    """Generate and store a trajectory set (the evaluation set, or a stored training set)."""
    from . import seeds, trajectories

    t0 = time.perf_counter()
    params = trajectories.TrajectoryParams(**box)
    log("generating %d %s trajectories of %d steps (seed %d)", n, kind, steps, seed)
    traj = trajectories.generate(seeds.rng(seed, f"{kind}_trajectories"), n, steps, params)
    trajectories.write_hdf5(h5, traj, params, seed=seed, extra_attrs={"kind": kind})
    write_json(
        prov,
        provenance.record(
            "trajectories",
            outputs=[h5],
            params={"kind": kind, "seed": seed, "n": n, "steps": steps, **box},
            wall_time_s=time.perf_counter() - t0,
        ),
    )
    return {"n": n, "steps": steps}


def run_train(
    network: Mapping[str, Any],
    out_dir: str | Path,
    prov: str | Path,
    *,
    runtime: Mapping[str, Any],
    threads: int | None = None,
    dataset: str | None = None,
    inputs: Sequence[str] = (),
    log: Log = _noop,
) -> dict:
    """Train one network into ``out_dir`` (model.pt, train_log.csv), resuming from its checkpoint."""
    from .training import TrainRuntime, train

    t0 = time.perf_counter()
    cfg = NetworkConfig.from_dict(network, source=f"network {Path(out_dir).name}")
    rt = TrainRuntime(
        device=runtime.get("device", "auto"),
        threads=threads,
        checkpoint_every=runtime.get("checkpoint_every", 1000),
        log_every=runtime.get("log_every", 100),
        precision=runtime.get("precision", "fp32"),
        progress=True,
        dataset_path=dataset,
    )
    result = train(cfg, Path(out_dir), runtime=rt, log=log)
    log("training finished: %s", result)
    out_dir = Path(out_dir)
    write_json(
        prov,
        provenance.record(
            "train",
            inputs=list(inputs),
            outputs=[out_dir / "model.pt", out_dir / "train_log.csv"],
            config=cfg.to_dict(),
            params={"runtime": dict(runtime), "threads": threads},
            device=str(getattr(result, "device", runtime.get("device", "auto"))),
            wall_time_s=time.perf_counter() - t0,
            extra={"status": getattr(result, "status", None)},
        ),
    )
    return {"status": getattr(result, "status", None)}


def run_record(
    model: str | Path,
    eval_h5: str | Path,
    activations: str | Path,
    prov: str | Path,
    *,
    evaluation: Mapping[str, Any],
    device: str = "auto",
    log: Log = _noop,
) -> dict:
    """Record the trained network and the same network at step 0 on the evaluation set."""
    from . import recording, trajectories
    from .precision import device_name
    from .training import init_network, load_network, resolve_device

    t0 = time.perf_counter()
    dev = resolve_device(device)
    net, readout, cfg, meta = load_network(model, device=dev)
    status = meta.get("status", "ok")
    attrs = {"status": status, "device": device_name(dev)}
    figures: dict[str, Any] = {"status": status}
    if status != "ok":
        log("network is %s: nothing to record", status)
        recording.write_status_only(activations, attrs)
    else:
        traj, _ = trajectories.read_hdf5(eval_h5)
        trained = recording.record(net, readout, traj, device=dev, batch_size=evaluation["batch_size"])
        net0, readout0 = init_network(cfg, device=dev)
        untrained = recording.record(net0, readout0, traj, device=dev, batch_size=evaluation["batch_size"])
        log("decoding error: trained %.2f cm, untrained %.2f cm", trained.error_cm, untrained.error_cm)
        recording.write_activations(
            activations,
            trained,
            untrained,
            attrs=attrs,
            float16=evaluation.get("float16", False),
            n_examples=evaluation.get("n_example_trajectories", 4),
        )
        figures.update(error_cm=trained.error_cm, error_cm_untrained=untrained.error_cm)
    write_json(
        prov,
        provenance.record(
            "record",
            inputs=[model, eval_h5],
            outputs=[activations],
            config=cfg.to_dict(),
            params={"evaluation": dict(evaluation)},
            device=device_name(dev),
            wall_time_s=time.perf_counter() - t0,
        ),
    )
    return figures


def run_score(
    activations: str | Path,
    ratemaps: str | Path,
    units_path: str | Path,
    summary_path: str | Path,
    prov: str | Path,
    *,
    network_id: str,
    network: Mapping[str, Any],
    scoring: Mapping[str, Any],
    box: Mapping[str, Any],
    log: Log = _noop,
) -> dict:
    """Rate maps, grid scores, periods and participation ratios; the unit table and the summary."""
    from . import analysis, recording

    t0 = time.perf_counter()
    thresholds = tuple(scoring["thresholds"])
    status = recording.read_status(activations)
    if status == "ok":
        units, summary, maps = analysis.score_network(
            activations,
            bins=scoring["bins"],
            box=(box["box_width"], box["box_height"]),
            min_max=scoring["min_max"],
            thresholds=thresholds,
            path_integration_threshold_cm=scoring["path_integration_threshold_cm"],
        )
    else:
        units, summary, maps = analysis.empty_result(status, thresholds=thresholds)
        summary["threshold_cm"] = float(scoring["path_integration_threshold_cm"])
    summary.update({"id": network_id, "status": status, "config": dict(network)})
    analysis.write_ratemaps(ratemaps, maps, attrs={"id": network_id, "bins": scoring["bins"]})
    units.insert(0, "id", network_id)
    with atomic_path(units_path) as tmp:
        units.to_parquet(tmp, index=False)
    write_json(summary_path, summary)
    log(
        "%s: error %.2f cm, max score_60 %.3f (untrained %.3f)",
        status,
        summary.get("eval_error_cm", float("nan")),
        summary.get("max_score_60", float("nan")),
        summary.get("max_score_60_untrained", float("nan")),
    )
    write_json(
        prov,
        provenance.record(
            "score",
            inputs=[activations],
            outputs=[ratemaps, units_path, summary_path],
            config=dict(network),
            params={"id": network_id, "scoring": dict(scoring)},
            wall_time_s=time.perf_counter() - t0,
        ),
    )
    return {k: summary.get(k) for k in ("eval_error_cm", "max_score_60", "max_score_60_untrained")}
