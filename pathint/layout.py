"""Where every file of an experiment lives, relative to its ``results:`` folder.

The one place that spells out paths: the Snakemake rules, the stage runner, aggregation and the audit all
build their paths here. Each function returns a concrete path for a network id (or pack, dataset, figure),
or, given ``wildcard=...``, the Snakemake pattern with that wildcard in place of the id.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

#: Files of one network, under ``networks/<id>/``; the key is how stages, rules and the audit name them.
NETWORK_FILES: dict[str, str] = {
    "model": "model.pt",
    "train_log": "train_log.csv",
    "checkpoint": "checkpoint.pt",
    "activations": "activations.h5",
    "ratemaps": "ratemaps.h5",
    "units": "units.parquet",
    "summary": "summary.json",
}

#: Files shared by the networks of an experiment.
SHARED_FILES: dict[str, str] = {
    "eval": "data/eval.h5",
    "eval_prov": "data/eval.prov.json",
}

#: The aggregate tables the figures read.
TABLE_FILES: dict[str, str] = {
    "networks": "tables/networks.parquet",
    "networks_csv": "tables/networks.csv",
    "units": "tables/units.parquet",
    "examples": "tables/examples.h5",
    "comparison": "tables/paper_comparison.csv",
    "comparison_md": "tables/paper_comparison.md",
    "prov": "tables/aggregate.prov.json",
}

#: What a figure job writes, by kind; ``{name}`` is the figure's name.
FIGURE_FILES: dict[str, str] = {
    "png": "figures/{name}.png",
    "pdf": "figures/{name}.pdf",
    "caption": "figures/{name}.caption.rst",
    "prov": "figures/{name}.prov.json",
}


def _unit(value: str | None, wildcard: str | None) -> str:
    if wildcard is not None:
        return "{" + wildcard + "}"
    if value is None:
        raise ValueError("need a value or a wildcard")
    return value


def network_dir(results: str | Path, network_id: str | None = None, *, wildcard: str | None = None) -> str:
    return f"{results}/networks/{_unit(network_id, wildcard)}"


def network_file(results: str | Path, key: str, network_id: str | None = None, *, wildcard: str | None = None) -> str:
    """``networks/<id>/<file>`` for a key of :data:`NETWORK_FILES` or ``"<stage>_prov"``."""
    return f"{network_dir(results, network_id, wildcard=wildcard)}/{network_file_name(key)}"


def network_file_name(key: str) -> str:
    """File name of a network file key: :data:`NETWORK_FILES`, or ``"<stage>_prov"`` for a stage's record."""
    if key.endswith("_prov"):
        return f"{key.removesuffix('_prov')}.prov.json"
    try:
        return NETWORK_FILES[key]
    except KeyError:
        raise KeyError(f"unknown network file {key!r}; expected one of {sorted(NETWORK_FILES)} or '<stage>_prov'") from None


def shared_file(results: str | Path, key: str) -> str:
    return f"{results}/{SHARED_FILES[key]}"


def training_set_key(cfg: Any) -> str:
    """Stored training sets are shared by networks with the same length, size and box."""
    blob = json.dumps([cfg.seq_len, cfg.dataset_size, cfg.box_width, cfg.box_height, cfg.periodic])
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def training_set(results: str | Path, key: str | None = None, *, wildcard: str | None = None, prov: bool = False) -> str:
    name = f"data/train_{_unit(key, wildcard)}"
    return f"{results}/{name}.prov.json" if prov else f"{results}/{name}.h5"


def manifest(results: str | Path, stage: str, pack: str | None = None, *, wildcard: str | None = None) -> str:
    """A pack job's manifest: the sha256 of each of its networks' main output (``pathint.packs``)."""
    return f"{results}/packs/{stage}/{_unit(pack, wildcard)}.json"


def table(results: str | Path, key: str) -> str:
    return f"{results}/{TABLE_FILES[key]}"


def figure_file(results: str | Path, kind: str, name: str | None = None, *, wildcard: str | None = None) -> str:
    return f"{results}/" + FIGURE_FILES[kind].replace("{name}", _unit(name, wildcard))


def log(results: str | Path, stage: str, unit: str | None = None, *, wildcard: str | None = None) -> str:
    return f"{results}/logs/{stage}/{_unit(unit, wildcard)}.log"


def benchmark(results: str | Path, stage: str, unit: str | None = None, *, wildcard: str | None = None) -> str:
    return f"{results}/benchmarks/{stage}/{_unit(unit, wildcard)}.tsv"
