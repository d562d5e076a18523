# Helpers and configuration validation, shared by every stage.
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("8.0")

sys.path.insert(0, workflow.basedir)
from pathint.config import check_experiment, experiment_networks  # noqa: E402
from pathint.errors import ConfigError  # noqa: E402
from pathint.packs import pack_name, pack_of  # noqa: E402
from pathint.preflight import preflight, snakemake_runs_locally  # noqa: E402
from pathint.provenance import stage_code_hash  # noqa: E402

CONFIG_SOURCE = ", ".join(map(str, workflow.overwrite_configfiles)) or "config.yaml"
try:
    # our own check first: one-line messages naming the file, key, value and what is allowed
    check_experiment(config, CONFIG_SOURCE)
    validate(config, Path(workflow.basedir) / "pathint/schemas/config.schema.yaml")
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
EVALUATION = config["evaluation"]
SCORING = config["scoring"]
FIGURES = config["figures"]
PACKS = config["packing"]["packs"]
PACK_MEMBERS = {}
if PACKS:
    for _id in NETWORKS:
        PACK_MEMBERS.setdefault(pack_name(pack_of(_id, PACKS)), []).append(_id)
# Code content hashes: a rule reruns when the code it depends on changes (params trigger), and a fresh
# clone beside finished results reruns nothing (no dependence on file modification times of code).
CODE = {
    stage: stage_code_hash(stage)
    for stage in ("trajectories", "train", "record", "score", "aggregate")
}

_first = next(iter(NETWORKS.values())).config
BOX = {k: getattr(_first, k) for k in ("box_width", "box_height", "periodic")}


wildcard_constraints:
    id="[0-9a-f]{10}",
    pack="[0-9]{5}",
    dataset="[0-9a-f]{10}",


def net(wildcards):
    return NETWORKS[wildcards.id]


def net_config(wildcards):
    return NETWORKS[wildcards.id].config.to_dict()


def dataset_key(cfg):
    """Stored training sets are shared by networks with the same length, size and box."""
    import hashlib
    import json

    blob = json.dumps(
        [cfg.seq_len, cfg.dataset_size, cfg.box_width, cfg.box_height, cfg.periodic]
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


DATASETS = {
    dataset_key(n.config): n.config
    for n in NETWORKS.values()
    if n.config.data_mode == "dataset"
}


def train_inputs(wildcards):
    cfg = NETWORKS[wildcards.id].config
    if cfg.data_mode == "dataset":
        return {"dataset": f"{R}/data/train_{dataset_key(cfg)}.h5"}
    return {}


def network_runtime(network_id, attempt):
    """Minutes per attempt: training.runtime_min is for Ng 1024 and 200,000 steps; scale by both."""
    cfg = NETWORKS[network_id].config
    work = cfg.n_steps / 200_000 * (cfg.n_grid / 1024) ** 2
    return attempt * max(10, round(TRAINING["runtime_min"] * work))


def train_runtime(wildcards, attempt):
    return network_runtime(wildcards.id, attempt)


def gpu_resource():
    return 1 if TRAINING["gpu"] else 0


def network_ids():
    return list(NETWORKS)


def membership():
    return {
        i: {"group": n.group, "sweeps": ";".join(n.sweeps)} for i, n in NETWORKS.items()
    }


def summaries():
    """What aggregation reads: per-network summaries, or the score manifests of packed runs."""
    if PACKS:
        return [f"{R}/packs/score/{p}.json" for p in sorted(PACK_MEMBERS)]
    return [f"{R}/networks/{i}/summary.json" for i in NETWORKS]


def pack_networks(wildcards):
    return {i: NETWORKS[i].config.to_dict() for i in PACK_MEMBERS[wildcards.pack]}


def pack_datasets(wildcards):
    return {
        i: f"{R}/data/train_{dataset_key(NETWORKS[i].config)}.h5"
        for i in PACK_MEMBERS[wildcards.pack]
        if NETWORKS[i].config.data_mode == "dataset"
    }


def pack_train_inputs(wildcards):
    return sorted(set(pack_datasets(wildcards).values()))


def pack_train_runtime(wildcards, attempt):
    return sum(network_runtime(i, attempt) for i in PACK_MEMBERS[wildcards.pack])


def all_figures():
    return expand(
        f"{R}/figures/{{name}}.{{ext}}", name=FIGURES["make"], ext=("png", "pdf")
    )


FIGURE_TABLES = {
    "networks": f"{R}/tables/networks.parquet",
    "units": f"{R}/tables/units.parquet",
    "examples": f"{R}/tables/examples.h5",
}


def figure_outputs(name):
    return {
        "png": report(
            f"{R}/figures/{name}.png",
            caption=str(Path(f"{R}/figures/{name}.caption.rst").resolve()),
            category="Figures",
        ),
        "pdf": f"{R}/figures/{name}.pdf",
        "caption": f"{R}/figures/{name}.caption.rst",
        "prov": f"{R}/figures/{name}.prov.json",
    }
