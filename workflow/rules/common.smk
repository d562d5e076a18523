# Helpers and configuration validation, shared by every stage. Paths come from pathint.layout, what each
# stage reads, writes and depends on from the stage registry pathint.stages.STAGES.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")

sys.path.insert(0, workflow.basedir)
from pathint import layout  # noqa: E402
from pathint.config import check_experiment, experiment_networks  # noqa: E402
from pathint.errors import ConfigError  # noqa: E402
from pathint.figures import names as figure_names  # noqa: E402
from pathint.packs import pack_name, pack_of  # noqa: E402
from pathint.preflight import preflight, snakemake_runs_locally  # noqa: E402
from pathint.stages import STAGES, figure_stage, training_set_defines  # noqa: E402

CONFIG_SOURCE = ", ".join(map(str, workflow.overwrite_configfiles)) or "config.yaml"
try:
    # one-line messages naming the file, key, value and what is allowed; defaults filled in
    config.update(check_experiment(config, CONFIG_SOURCE))
    NETWORKS = {
        n.id: n
        for n in experiment_networks(
            config, base_dir=workflow.basedir, source=CONFIG_SOURCE
        )
    }
    # config files (duplicate keys), the results folder and every job's memory (pathint/preflight.py)
    preflight(
        config,
        NETWORKS.values(),
        CONFIG_SOURCE,
        configfiles=workflow.configfiles,
        local=snakemake_runs_locally(workflow),
    )
except ConfigError as exc:
    sys.exit(f"pathint: invalid configuration: {exc}")

R = config["results"]
TRAINING = config["training"]
FIGURES = config["figures"]
# Per-network stages run one job per network ({id}), or one per pack ({pack}): with packing.packs: P,
# network <id> is in pack int(id, 16) % P; with training.group_size: K > 1, a pack is a group of at most K
# networks of one shape (pathint.grouped.plan_groups), trained together in one process.
PACK_MEMBERS = {}
if config["packing"]["packs"]:
    for _id in NETWORKS:
        PACK_MEMBERS.setdefault(
            pack_name(pack_of(_id, config["packing"]["packs"])), []
        ).append(_id)
elif TRAINING["group_size"] > 1:
    from pathint.grouped import plan_groups

    _ids = list(NETWORKS)
    _groups = plan_groups(
        [NETWORKS[i].config for i in _ids],
        max_size=TRAINING["group_size"],
        memory_mb=TRAINING["group_memory_mb"],
    )
    for _k, _g in enumerate(_groups):
        PACK_MEMBERS[pack_name(_k)] = [_ids[i] for i in _g]
PACKS = bool(PACK_MEMBERS)
UNIT = "pack" if PACKS else "id"

_first = next(iter(NETWORKS.values())).config
BOX = {k: getattr(_first, k) for k in ("box_width", "box_height", "periodic")}
# What defines each stage's result (rerun triggers, with the code hash): never runtime settings
# such as threads, memory, time limits, checkpoint or log intervals.
DEFINES = {name: st.defines(config, BOX) for name, st in STAGES.items()}
# Content hashes of each stage's code (pathint.codedeps: from the import graph of its entry
# function), so a rule reruns when code it depends on changes and a fresh clone beside finished
# results reruns nothing (code modification times do not matter).
CODE = {name: st.code_hash() for name, st in STAGES.items()}

DATASETS = {
    layout.training_set_key(n.config): n.config
    for n in NETWORKS.values()
    if n.config.data_mode == "dataset"
}


wildcard_constraints:
    id="[0-9a-f]{10}",
    pack="[0-9]{5}",
    dataset="[0-9a-f]{10}",
    name="|".join(figure_names()),


def members(wildcards):
    """Network id -> config of the unit (one network, or a pack) a job runs."""
    ids = PACK_MEMBERS[wildcards.pack] if PACKS else [wildcards.id]
    return {i: NETWORKS[i].config.to_dict() for i in ids}


def stage_outputs(stage):
    """Per-network files (with the provenance record), or the pack's manifest."""
    if PACKS:
        return {"manifest": layout.manifest(R, stage, wildcard="pack")}
    st = STAGES[stage]
    return {
        k: layout.network_file(R, k, wildcard="id") for k in st.outputs + (st.prov,)
    }


def stage_inputs(stage):
    """Input function of a per-network stage: upstream outputs (or manifest) and shared files."""
    st = STAGES[stage]

    def inputs(wildcards):
        out = {}
        ids = list(members(wildcards))
        for key in st.inputs:
            if key == "eval":
                out[key] = layout.shared_file(R, "eval")
            elif key == "dataset":
                sets = sorted(
                    {
                        layout.training_set(R, layout.training_set_key(c))
                        for c in (NETWORKS[i].config for i in ids)
                        if c.data_mode == "dataset"
                    }
                )
                if sets:
                    out[key] = sets
            elif PACKS:
                out["upstream"] = layout.manifest(R, st.upstream, wildcards.pack)
            else:
                out[key] = layout.network_file(R, key, wildcards.id)
        return out

    return inputs


def stage_params(stage):
    return {
        "stage": stage,
        "members": members,
        "defines": DEFINES[stage],
        "code": CODE[stage],
    }


def network_runtime(network_id, attempt):
    """Minutes per attempt: training.runtime_min is for Ng 1024 and 200,000 steps; scale by both."""
    cfg = NETWORKS[network_id].config
    work = cfg.n_steps / 200_000 * (cfg.n_grid / 1024) ** 2
    return attempt * max(10, round(TRAINING["runtime_min"] * work))


def stage_runtime(stage):
    """SLURM time limit (minutes) of a job: the sum over its networks."""

    def runtime(wildcards, attempt):
        ids = list(members(wildcards))
        if stage != "train":
            return 30 * attempt * len(ids)
        times = [network_runtime(i, attempt) for i in ids]
        if TRAINING["gpu"] and TRAINING["group_size"] > 1:
            # a group's step on a GPU takes little longer than one network's: an estimate (docs/slurm.md)
            return 2 * max(times)
        return sum(times)

    return runtime


def gpu_resource():
    return 1 if TRAINING["gpu"] else 0


def membership():
    return {
        i: {"group": n.group, "sweeps": ";".join(n.sweeps)} for i, n in NETWORKS.items()
    }


def aggregate_inputs():
    """Every file aggregation reads: the per-network files, or the manifests of the packs holding them."""
    if PACKS:
        return [
            layout.manifest(R, stage, p)
            for stage in ("record", "score")
            for p in sorted(PACK_MEMBERS)
        ]
    return [
        layout.network_file(R, key, i)
        for i in NETWORKS
        for key in STAGES["aggregate"].inputs
    ]


def all_figures():
    return [
        layout.figure_file(R, kind, name)
        for name in FIGURES["make"]
        for kind in ("png", "pdf")
    ]


FIGURE_TABLES = {k: layout.table(R, k) for k in ("networks", "units", "examples")}
FIGURE_DEFINES = figure_stage("fig2").defines(config, BOX)
FIGURE_CODE = {name: figure_stage(name).code_hash() for name in figure_names()}
