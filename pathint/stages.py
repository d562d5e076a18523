"""The pipeline's stages, one registry entry each: what a stage reads and writes, what defines its result,
how it runs and where its code is.

Everything that wires stages together reads :data:`STAGES`: the Snakemake rules (inputs, outputs, rerun
triggers), the stage runner for one network or a pack of networks (:mod:`pathint.packs`), the audit
(re-run into a temporary folder, then compare each output by its kind) and the code hashes
(:mod:`pathint.codedeps`, from the import graph of the stage's entry function).

A stage's run function takes keyword arguments only: ``files`` (file key -> path, inputs and outputs, keys
of :mod:`pathint.layout`), ``defines`` (the experiment settings that define the result; they trigger a
rerun when they change), ``runtime`` (settings that never change a result: device, threads, checkpoint
and log intervals) and ``log``; network stages also get ``network_id`` and ``network`` (the config dict).
It writes its outputs atomically with a provenance record and returns a few key figures for the log.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import layout, provenance
from .io import atomic_path, write_json

Log = Callable[..., None]
#: The Snakemake entry script of the per-network stages (one for all of them).
NETWORK_SCRIPT = "workflow/scripts/stage.py"


def _noop(*_: Any) -> None:
    pass


# ---------------------------------------------------------------------------------------------- run functions
def run_trajectories(*, files: Mapping[str, Path], defines: Mapping[str, Any], runtime: Mapping[str, Any] = {}, log: Log = _noop, **_: Any) -> dict:
    """Generate and store a trajectory set: the evaluation set, or a stored training set."""
    from . import seeds, trajectories

    t0 = time.perf_counter()
    kind, seed, n, steps, box = (defines[k] for k in ("kind", "seed", "n", "steps", "box"))
    params = trajectories.TrajectoryParams(**box)
    log("generating %d %s trajectories of %d steps (seed %d)", n, kind, steps, seed)
    traj = trajectories.generate(seeds.rng(seed, f"{kind}_trajectories"), n, steps, params)
    trajectories.write_hdf5(files["h5"], traj, params, seed=seed, extra_attrs={"kind": kind})
    write_json(
        files["prov"],
        provenance.record("trajectories", outputs=[files["h5"]], defines=defines, wall_time_s=time.perf_counter() - t0),
    )
    return {"n": n, "steps": steps}


def _train_runtime(runtime: Mapping[str, Any], defines: Mapping[str, Any], dataset: Path | None = None):
    from .training import TrainRuntime

    return TrainRuntime(
        device=runtime.get("device", "auto"),
        threads=runtime.get("threads"),
        checkpoint_every=runtime.get("checkpoint_every", 1000),
        log_every=runtime.get("log_every", 100),
        precision=defines.get("precision", "fp32"),
        progress=True,
        dataset_path=str(dataset) if dataset is not None else None,
    )


def _write_train_prov(files: Mapping[str, Path], cfg: Any, result: Any, defines: Mapping[str, Any],
                      params: Mapping[str, Any], wall_time_s: float) -> None:
    write_json(
        files["train_prov"],
        provenance.record(
            "train",
            inputs=[files["dataset"]] if "dataset" in files else [],
            outputs=[files["model"], files["train_log"]],
            config=cfg.to_dict(),
            defines=defines,
            params=params,
            device=result.device,
            wall_time_s=wall_time_s,
            extra={"status": result.status},
        ),
    )


def run_train(
    *, network_id: str, network: Mapping[str, Any], files: Mapping[str, Path], defines: Mapping[str, Any],
    runtime: Mapping[str, Any], log: Log = _noop,
) -> dict:
    """Train one network (model.pt, train_log.csv), resuming from its checkpoint."""
    from .config import NetworkConfig
    from .training import train

    t0 = time.perf_counter()
    cfg = NetworkConfig.from_dict(network, source=f"network {network_id}")
    result = train(cfg, Path(files["model"]).parent, runtime=_train_runtime(runtime, defines, files.get("dataset")),
                   log=log)
    log("training finished: %s", result)
    _write_train_prov(files, cfg, result, defines, {"runtime": dict(runtime)}, time.perf_counter() - t0)
    return {"status": result.status}


def run_train_group(
    *, network_ids: Sequence[str], networks: Sequence[Mapping[str, Any]], files: Sequence[Mapping[str, Path]],
    defines: Mapping[str, Any], runtime: Mapping[str, Any], log: Log = _noop,
) -> list[dict]:
    """Train networks of one shape together (:func:`pathint.grouped.train_group`): each gets the files and
    the results ``run_train`` would give it alone, and its own provenance record."""
    from .config import NetworkConfig
    from .grouped import train_group

    t0 = time.perf_counter()
    cfgs = [NetworkConfig.from_dict(n, source=f"network {i}") for i, n in zip(network_ids, networks)]
    datasets = [str(f["dataset"]) if "dataset" in f else None for f in files]
    log("training %d networks as one group: %s", len(cfgs), ", ".join(network_ids))
    results = train_group(cfgs, [Path(f["model"]).parent for f in files], _train_runtime(runtime, defines), log,
                          dataset_paths=datasets)
    wall = time.perf_counter() - t0
    for cfg, f, result in zip(cfgs, files, results):
        _write_train_prov(f, cfg, result, defines, {"runtime": dict(runtime), "group": list(network_ids)}, wall)
    return [{"status": r.status} for r in results]


def run_record(
    *, network_id: str, network: Mapping[str, Any], files: Mapping[str, Path], defines: Mapping[str, Any],
    runtime: Mapping[str, Any], log: Log = _noop,
) -> dict:
    """Record the trained network and the same network at step 0 on the evaluation set."""
    from . import recording, trajectories
    from .precision import device_name
    from .training import init_network, load_network, resolve_device

    t0 = time.perf_counter()
    dev = resolve_device(runtime.get("device", "auto"))
    net, readout, cfg, meta = load_network(files["model"], device=dev)
    status = meta.get("status", "ok")
    attrs = {"status": status, "device": device_name(dev)}
    figures: dict[str, Any] = {"status": status}
    if status != "ok":
        log("network is %s: nothing to record", status)
        recording.write_status_only(files["activations"], attrs)
    else:
        traj, _ = trajectories.read_hdf5(files["eval"])
        trained = recording.record(net, readout, traj, device=dev, batch_size=defines["batch_size"])
        net0, readout0 = init_network(cfg, device=dev)
        untrained = recording.record(net0, readout0, traj, device=dev, batch_size=defines["batch_size"])
        log("decoding error: trained %.2f cm, untrained %.2f cm", trained.error_cm, untrained.error_cm)
        recording.write_activations(
            files["activations"], trained, untrained, attrs=attrs, float16=defines.get("float16", False),
            n_examples=defines.get("n_example_trajectories", 4),
        )
        figures.update(error_cm=trained.error_cm, error_cm_untrained=untrained.error_cm)
    write_json(
        files["record_prov"],
        provenance.record(
            "record",
            inputs=[files["model"], files["eval"]],
            outputs=[files["activations"]],
            config=cfg.to_dict(),
            defines=defines,
            params={"runtime": dict(runtime)},
            device=device_name(dev),
            wall_time_s=time.perf_counter() - t0,
        ),
    )
    return figures


def run_score(
    *, network_id: str, network: Mapping[str, Any], files: Mapping[str, Path], defines: Mapping[str, Any],
    runtime: Mapping[str, Any] = {}, log: Log = _noop,
) -> dict:
    """Rate maps, grid scores, periods and participation ratios; the unit table and the summary."""
    from . import analysis, recording

    t0 = time.perf_counter()
    thresholds = tuple(defines["thresholds"])
    status = recording.read_status(files["activations"])
    if status == "ok":
        units, summary, maps = analysis.score_network(
            files["activations"],
            bins=defines["bins"],
            box=(network["box_width"], network["box_height"]),
            min_max=defines["min_max"],
            thresholds=thresholds,
            path_integration_threshold_cm=defines["path_integration_threshold_cm"],
            threads=runtime.get("threads") or 1,
            device="auto",  # the GPU when this node has one: score jobs go to CPU nodes whatever training.device says
        )
    else:
        units, summary, maps = analysis.empty_result(status, thresholds=thresholds)
        summary["threshold_cm"] = float(defines["path_integration_threshold_cm"])
    summary.update({"id": network_id, "status": status, "config": dict(network)})
    analysis.write_ratemaps(files["ratemaps"], maps, attrs={"id": network_id, "bins": defines["bins"]})
    units.insert(0, "id", network_id)
    with atomic_path(files["units"]) as tmp:
        units.to_parquet(tmp, index=False)
    write_json(files["summary"], summary)
    log(
        "%s: error %.2f cm, max score_60 %.3f (untrained %.3f)",
        status,
        summary.get("eval_error_cm", float("nan")),
        summary.get("max_score_60", float("nan")),
        summary.get("max_score_60_untrained", float("nan")),
    )
    write_json(
        files["score_prov"],
        provenance.record(
            "score",
            inputs=[files["activations"]],
            outputs=[files["ratemaps"], files["units"], files["summary"]],
            config=dict(network),
            defines=defines,
            wall_time_s=time.perf_counter() - t0,
        ),
    )
    return {k: summary.get(k) for k in ("eval_error_cm", "max_score_60", "max_score_60_untrained")}


def run_aggregate(
    *, results: str | Path, membership: Mapping[str, Mapping[str, str]], files: Mapping[str, Path],
    defines: Mapping[str, Any], log: Log = _noop, **_: Any,
) -> dict:
    """The networks, units and examples tables over every network, and the comparison with the paper."""
    from . import aggregate, comparison

    t0 = time.perf_counter()
    ids = sorted(membership)
    networks, units = aggregate.build_tables(results, ids, membership)
    with atomic_path(files["networks"]) as tmp:
        networks.to_parquet(tmp, index=False)
    with atomic_path(files["networks_csv"]) as tmp:
        networks.to_csv(tmp, index=False)
    with atomic_path(files["units"]) as tmp:
        units.to_parquet(tmp, index=False)
    aggregate.write_examples(files["examples"], results, networks, units, n_units=defines["n_example_units"])
    table = comparison.comparison_table(networks, units, defines)
    with atomic_path(files["comparison"]) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(files["comparison_md"]) as tmp:
        tmp.write_text(comparison.to_markdown(table))
    log("%d networks, %d units", len(networks), len(units))
    read = [layout.network_file(results, key, nid) for nid in ids for key in AGGREGATE_READS]
    write_json(
        files["prov"],
        provenance.record(
            "aggregate",
            inputs=read,
            outputs=[files[k] for k in ("networks", "units", "examples", "comparison")],
            defines=defines,
            params={"n_networks": len(networks)},
            wall_time_s=time.perf_counter() - t0,
        ),
    )
    return {"networks": len(networks), "units": len(units)}


#: Per-network files aggregation reads (summaries and unit tables; rate maps and example trajectories).
AGGREGATE_READS = ("summary", "units", "ratemaps", "activations")


def run_figure(*, name: str, files: Mapping[str, Path], defines: Mapping[str, Any], log: Log = _noop, **_: Any) -> dict:
    """Render figure ``name`` from the aggregate tables: PNG, PDF and an rST caption for the report."""
    from .figures import render

    t0 = time.perf_counter()
    n = render(name, files, defines)
    log("figure %s from %d networks", name, n)
    write_json(
        files["prov"],
        provenance.record(
            f"figure_{name}",
            inputs=[files[k] for k in ("networks", "units", "examples")],
            outputs=[files[k] for k in ("png", "pdf", "caption")],
            defines=defines,
            wall_time_s=time.perf_counter() - t0,
            extra={"n_networks": n},
        ),
    )
    return {"networks": n}


# ---------------------------------------------------------------------------------------------- the registry
# Each takes the experiment config (validated, defaults filled) and the experiment's box.
def eval_set_defines(config: Mapping[str, Any], box: Mapping[str, Any]) -> dict:
    ev = config["evaluation"]
    return {"kind": "eval", "seed": ev["seed"], "n": ev["n_trajectories"], "steps": ev["seq_len"], "box": dict(box)}


def training_set_defines(cfg: Any, box: Mapping[str, Any]) -> dict:
    """A stored training set (``data_mode: dataset``) of network config ``cfg``."""
    return {"kind": "train", "seed": TRAINING_SET_SEED, "n": cfg.dataset_size, "steps": cfg.seq_len, "box": dict(box)}


#: Seed of stored training sets (shared by every network with the same length, size and box).
TRAINING_SET_SEED = 1_000_003


def _training_defines(config: Mapping[str, Any], box: Mapping[str, Any]) -> dict:
    return {"precision": config["training"]["precision"]}


def _record_defines(config: Mapping[str, Any], box: Mapping[str, Any]) -> dict:
    return dict(config["evaluation"])


def _score_defines(config: Mapping[str, Any], box: Mapping[str, Any]) -> dict:
    s = config["scoring"]
    return {k: s[k] for k in ("bins", "min_max", "path_integration_threshold_cm", "thresholds")}


def _aggregate_defines(config: Mapping[str, Any], box: Mapping[str, Any]) -> dict:
    return {
        "n_example_units": config["scoring"]["n_example_units"],
        "path_integration_threshold_cm": config["scoring"]["path_integration_threshold_cm"],
        "grid_threshold": config["figures"]["grid_threshold"],
        "high_threshold": config["figures"]["high_threshold"],
        "bootstrap": config["figures"]["bootstrap"],
        "seed": config["figures"]["seed"],
        "fig3_sweep": config["figures"]["fig3_sweep"],
    }


def _figure_defines(config: Mapping[str, Any], box: Mapping[str, Any]) -> dict:
    return {**config["figures"], "decoding_threshold_cm": config["scoring"]["path_integration_threshold_cm"]}


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline.

    ``inputs`` and ``outputs`` are file keys of :mod:`pathint.layout` (per network for network stages; the
    first output is the main one, whose sha256 a pack manifest records); ``prov`` is the key of the
    provenance record the stage writes. ``defines(config)`` picks the experiment settings that define the
    result. ``script`` is the Snakemake entry point; it counts as part of the stage's code.
    """

    name: str
    entry: str
    script: str
    per_network: bool
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    prov: str
    defines: Callable[[Mapping[str, Any], Mapping[str, Any]], dict]
    upstream: str | None = None
    #: modules the entry reaches without a static import (a figure module loaded by name), whole
    modules: tuple[str, ...] = ()
    #: entry that runs the stage for several networks of one shape at once (same results); its code counts too
    group_entry: str | None = None

    @property
    def run(self) -> Callable[..., dict]:
        return _function(self.entry)

    @property
    def run_group(self) -> Callable[..., list[dict]] | None:
        return _function(self.group_entry) if self.group_entry else None

    @cached_property
    def code_files(self) -> tuple[str, ...]:
        from .codedeps import entry_files

        files = set(entry_files(self.entry, (self.script,), modules=self.modules))
        if self.group_entry:
            files |= set(entry_files(self.group_entry))
        return tuple(sorted(files))

    def code_hash(self) -> str:
        from .codedeps import code_hash

        return code_hash(self.code_files)


def _function(entry: str) -> Callable[..., Any]:
    module, _, function = entry.partition(":")
    return getattr(importlib.import_module(module), function)


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("trajectories", "pathint.stages:run_trajectories", "workflow/scripts/trajectories.py", False,
              inputs=(), outputs=("h5",), prov="prov", defines=eval_set_defines),
        Stage("train", "pathint.stages:run_train", NETWORK_SCRIPT, True,
              inputs=("dataset",), outputs=("model", "train_log"), prov="train_prov", defines=_training_defines,
              group_entry="pathint.stages:run_train_group"),
        Stage("record", "pathint.stages:run_record", NETWORK_SCRIPT, True,
              inputs=("model", "eval"), outputs=("activations",), prov="record_prov", defines=_record_defines,
              upstream="train"),
        Stage("score", "pathint.stages:run_score", NETWORK_SCRIPT, True,
              inputs=("activations",), outputs=("ratemaps", "units", "summary"), prov="score_prov",
              defines=_score_defines, upstream="record"),
        Stage("aggregate", "pathint.stages:run_aggregate", "workflow/scripts/aggregate.py", False,
              inputs=AGGREGATE_READS, outputs=("networks", "networks_csv", "units", "examples", "comparison",
                                                "comparison_md"),
              prov="prov", defines=_aggregate_defines),
    )
}

#: The stages run once per network, in order.
NETWORK_STAGES: tuple[str, ...] = tuple(name for name, s in STAGES.items() if s.per_network)

#: The Snakemake entry point of every figure.
FIGURE_SCRIPT = "workflow/scripts/figure.py"


def figure_stage(name: str) -> Stage:
    """The stage that renders figure ``name`` (one per figure module of :mod:`pathint.figures`)."""
    return Stage(f"figure_{name}", "pathint.stages:run_figure", FIGURE_SCRIPT, False,
                 inputs=("networks", "units", "examples"), outputs=("png", "pdf", "caption"), prov="prov",
                 defines=_figure_defines, modules=(f"pathint.figures.{name}",))


def stage(name: str) -> Stage:
    """A stage by name: a key of :data:`STAGES`, or ``figure_<name>``."""
    if name.startswith("figure_"):
        return figure_stage(name.removeprefix("figure_"))
    try:
        return STAGES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; expected one of {list(STAGES)} or figure_<name>") from None


def network_files(results: str | Path, network_id: str, st: Stage, network: Mapping[str, Any]) -> dict[str, Path]:
    """Every file ``st`` reads or writes for one network, by key (shared inputs included)."""
    from .config import NetworkConfig

    files: dict[str, Path] = {}
    for key in st.inputs + st.outputs + (st.prov,):
        if key == "eval":
            files[key] = Path(layout.shared_file(results, "eval"))
        elif key == "dataset":
            cfg = NetworkConfig.from_dict(network, source=f"network {network_id}", validated=True)
            if cfg.data_mode == "dataset":
                files[key] = Path(layout.training_set(results, layout.training_set_key(cfg)))
        else:
            files[key] = Path(layout.network_file(results, key, network_id))
    return files
