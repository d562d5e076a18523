"""Per-network scoring: rate maps, grid scores and summary of one recorded network (SPEC §4)."""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np
import pandas as pd

from .io import atomic_path
from .ratemaps import rate_maps
from .recording import _attr_value, read_activations
from .scores import (
    grid_period_orientation,
    grid_scores,
    grid_scores_with_sac,
    participation_ratio,
    ratemap_participation_ratio,
)

#: Rows of activity used for the activity participation ratio (its cost is min(S,U)²·max(S,U)).
PR_MAX_SAMPLES = 10_000


def _max(x: np.ndarray) -> float:
    return float(np.max(x)) if x.size else float("nan")


def score_network(
    activations_path: str | os.PathLike,
    bins: int = 44,
    box: tuple[float, float] = (2.2, 2.2),
    min_max: bool = True,
    thresholds: tuple[float, ...] = (0.3, 0.8, 1.2),
    path_integration_threshold_cm: float = 10.0,
    threads: int = 1,
    device: str = "auto",
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, np.ndarray]]:
    """Score every unit of one network, trained and at initialisation.

    Grid scores run on the GPU when torch sees one (``device="auto"``) and otherwise with numpy on
    ``threads`` threads (:func:`pathint.scores.grid_scores`).

    Returns ``(units, summary, maps)``:

    * ``units``: one row per unit — unit, score_60, score_90, period_m, orientation_deg, mean_activity
      (trained), score_60_untrained, score_90_untrained.
    * ``summary``: eval_error_cm, eval_error_cm_untrained, path_integrates (error < threshold),
      threshold_cm, n_units, max_score_60, max_score_90, max_score_60_untrained, units_above_{t:g} and
      units_above_{t:g}_untrained (60° score > t) for each threshold, participation_ratio_activity and
      participation_ratio_ratemaps (trained network; rate maps smoothed with σ = 2 bins).
    * ``maps``: {"trained": (U, N, N), "untrained": (U, N, N)} float32 rate maps, NaN = unvisited.
    """
    trained, untrained, _ = read_activations(activations_path)
    maps = {
        "trained": rate_maps(trained.positions, trained.activations, bins, box, dtype=np.float64),
        "untrained": rate_maps(untrained.positions, untrained.activations, bins, box, dtype=np.float64),
    }
    s60, s90, sac = grid_scores_with_sac(maps["trained"], min_max=min_max, threads=threads, device=device)
    u60, u90 = grid_scores(maps["untrained"], min_max=min_max, threads=threads, device=device)
    period, orientation = grid_period_orientation(maps["trained"], bin_size_m=box[0] / bins, sac=sac)
    del sac
    n_units = trained.activations.shape[1]
    units = pd.DataFrame(
        {
            "unit": np.arange(n_units, dtype=np.int64),
            "score_60": s60,
            "score_90": s90,
            "period_m": period,
            "orientation_deg": orientation,
            "mean_activity": trained.activations.mean(axis=0, dtype=np.float64),
            "score_60_untrained": u60,
            "score_90_untrained": u90,
        }
    )
    summary: dict[str, Any] = {
        "eval_error_cm": float(trained.error_cm),
        "eval_error_cm_untrained": float(untrained.error_cm),
        "path_integrates": bool(trained.error_cm < path_integration_threshold_cm),
        "threshold_cm": float(path_integration_threshold_cm),
        "n_units": int(n_units),
        "max_score_60": _max(s60),
        "max_score_90": _max(s90),
        "max_score_60_untrained": _max(u60),
    }
    for t in thresholds:
        summary[f"units_above_{t:g}"] = int(np.sum(s60 > t))
        summary[f"units_above_{t:g}_untrained"] = int(np.sum(u60 > t))
    summary["participation_ratio_activity"] = participation_ratio(trained.activations, PR_MAX_SAMPLES)
    summary["participation_ratio_ratemaps"] = ratemap_participation_ratio(maps["trained"], sigma_bins=2.0)
    return units, summary, {k: v.astype(np.float32) for k, v in maps.items()}


def empty_result(status: str, thresholds: tuple[float, ...] = (0.3, 0.8, 1.2)):
    """``score_network``'s result for a network with nothing to score (e.g. diverged): no units, NaN figures."""
    units = pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "unit" else "float64") for c in
         ("unit", "score_60", "score_90", "period_m", "orientation_deg", "mean_activity", "score_60_untrained", "score_90_untrained")}
    )
    nan = float("nan")
    summary: dict[str, Any] = {
        "eval_error_cm": nan,
        "eval_error_cm_untrained": nan,
        "path_integrates": False,
        "threshold_cm": nan,
        "n_units": 0,
        "max_score_60": nan,
        "max_score_90": nan,
        "max_score_60_untrained": nan,
        "participation_ratio_activity": nan,
        "participation_ratio_ratemaps": nan,
    }
    for t in thresholds:
        summary[f"units_above_{t:g}"] = 0
        summary[f"units_above_{t:g}_untrained"] = 0
    return units, summary, {}


def write_ratemaps(path: str | os.PathLike, maps: dict[str, np.ndarray], attrs: dict | None = None) -> None:
    """Write ``maps`` ({"trained": (U,N,N), "untrained": ...}) as float32 HDF5 datasets, atomically."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in (attrs or {}).items():
                f.attrs[key] = _attr_value(value)
            for name, arr in maps.items():
                f.create_dataset(name, data=np.asarray(arr, dtype=np.float32), compression="gzip", compression_opts=4)


def read_ratemaps(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read ``(maps, attrs)`` written by :func:`write_ratemaps`; a bad file raises DataError naming it."""
    from .errors import DataError
    from .recording import _from_attr

    try:
        with h5py.File(path, "r") as f:
            maps = {name: f[name][...] for name in f.keys()}
            attrs = {k: _from_attr(v) for k, v in f.attrs.items()}
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: unreadable or incomplete rate-map file ({exc}); delete it and rerun") from exc
    return maps, attrs
