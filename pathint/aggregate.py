"""Aggregate per-network results into the tables the figures read.

Figures never read raw runs: they read ``networks`` (one row per network), ``units`` (one row per unit of
every scored network) and ``examples`` (a few rate maps and decoded trajectories per network).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import layout
from .errors import DataError
from .io import read_json

#: Per-unit columns copied from the network row so that figures can filter units without a join.
UNIT_CONTEXT = ("group", "sweeps", "readout", "place_cell_rf", "surround_scale", "architecture", "activation", "path_integrates")


def _flatten_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in cfg.items()}


def network_row(summary: Mapping[str, Any], membership: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the networks table: id, group, sweeps, the config, then the summary's figures."""
    row: dict[str, Any] = {"id": summary["id"], "group": membership["group"], "sweeps": membership["sweeps"]}
    row.update(_flatten_config(summary.get("config", {})))
    for k, v in summary.items():
        if k not in ("id", "config"):
            row[k] = v
    if row.get("status") != "ok":
        row["path_integrates"] = False
    return row


def select_example_units(score_60: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` units: the best half by score, the rest spread evenly over the score ranks."""
    n = len(score_60)
    if n == 0:
        return np.zeros(0, dtype=int)
    finite = np.where(np.isfinite(score_60), score_60, -np.inf)
    order = np.argsort(-finite, kind="stable")
    top = list(order[: max(1, k // 2)])
    rest = order[len(top) :]
    if len(rest):
        picks = np.linspace(0, len(rest) - 1, min(k - len(top), len(rest))).round().astype(int)
        top += list(rest[np.unique(picks)])
    return np.asarray(top[:k], dtype=int)


def build_tables(
    results: str | Path, ids: Sequence[str], membership: Mapping[str, Mapping[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every network's summary and unit table; return (networks, units)."""
    rows, unit_frames = [], []
    for nid in ids:
        summary = read_json(layout.network_file(results, "summary", nid))
        row = network_row(summary, membership[nid])
        rows.append(row)
        if row.get("status") == "ok":
            path = layout.network_file(results, "units", nid)
            try:
                units = pd.read_parquet(path)
            except Exception as exc:  # pyarrow raises several types for a damaged file
                raise DataError(f"{path}: cannot read the unit table ({exc}); delete it and rerun") from exc
            for col in UNIT_CONTEXT:
                units[col] = row.get(col)
            unit_frames.append(units)
    networks = pd.DataFrame(rows)
    units = pd.concat(unit_frames, ignore_index=True) if unit_frames else pd.DataFrame(columns=["id", "unit", "score_60"])
    # A drawn sigma or s is a JSON string; keep the column one type so parquet can store it.
    for df in (networks, units):
        for col in ("place_cell_rf", "surround_scale"):
            if col in df and df[col].map(lambda v: isinstance(v, str)).any():
                df[col] = df[col].map(lambda v: v if isinstance(v, str) else json.dumps(v))
    return networks, units


def network_examples(results: str | Path, network_id: str, score_60: np.ndarray, score_60_untrained: np.ndarray,
                     n_units: int) -> dict[str, np.ndarray]:
    """Example rate maps (best units plus a spread over score ranks) and decoded trajectories of one network."""
    import h5py

    from .analysis import read_ratemaps

    maps, _ = read_ratemaps(layout.network_file(results, "ratemaps", network_id))
    pick = select_example_units(score_60, n_units)
    pick0 = select_example_units(score_60_untrained, n_units)
    out = {
        "ratemaps": maps["trained"][pick].astype(np.float32),
        "units": pick.astype(np.int64),
        "score_60": score_60[pick].astype(np.float64),
        "untrained_ratemaps": maps["untrained"][pick0].astype(np.float32),
        "untrained_score_60": score_60_untrained[pick0].astype(np.float64),
    }
    path = layout.network_file(results, "activations", network_id)
    try:
        with h5py.File(path, "r") as f:
            if "examples" in f:
                true = f["examples/true"][()]
                out.update(decoded=f["examples/decoded_trained"][()], true=true, initial=true[:, 0])
    except OSError as exc:
        raise DataError(f"{path}: cannot read the example trajectories ({exc}); delete it and rerun") from exc
    return out


def write_examples(path: str | Path, results: str | Path, networks: pd.DataFrame, units: pd.DataFrame, n_units: int) -> None:
    """The examples file the figures read (format defined in :mod:`pathint.figures.common`)."""
    from .figures.common import write_examples as write

    data = {}
    by_id = {nid: g.sort_values("unit") for nid, g in units.groupby("id")} if len(units) else {}
    for nid in networks["id"] if len(networks) else []:
        if nid not in by_id:
            continue  # diverged or empty: nothing to show
        g = by_id[nid]
        data[nid] = network_examples(results, nid, g["score_60"].to_numpy(), g["score_60_untrained"].to_numpy(), n_units)
    write(path, data)

