"""This run's numbers beside the paper's: the Fig. 2 fractions and the Fig. 3 period-to-σ slope.

The paper's values are read from its published figures (SPEC §7, ±0.02). Every fraction of this run comes
with its percentile bootstrap interval and its N, and every grid fraction with its *untrained twin*: the
same networks at initialisation, the baseline a grid-unit count has to beat. The aggregate stage writes
:func:`comparison_table` to ``tables/paper_comparison.csv`` (and ``.md``); Fig. 2 and Fig. 3 draw from the
same functions.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .figures.common import (bootstrap_fraction_ci, bootstrap_rng, dos_theory_period, fixed_column,
                             group_networks, kde_mode, path_integrates, resolve_params, select_sweep,
                             units_of)

#: Fig. 2 of the paper, per group: networks, fraction with decoding error < 10 cm, and among those the
#: fractions whose best unit's 60° score exceeds 0.8 and 1.2 (SPEC §7).
PAPER_FIG2: dict[str, dict[str, float]] = {
    "Cartesian Low Dim": {"n": 2516, "pi": 0.65, "grid": 0.00, "high": 0.0},
    "Cartesian High Dim": {"n": 3793, "pi": 0.54, "grid": 0.005, "high": 0.0},
    "Polar High Dim": {"n": 1171, "pi": 0.72, "grid": 0.24, "high": 0.08},
    "Gaussian": {"n": 1265, "pi": 0.90, "grid": 0.08, "high": 0.015},
    "DoG": {"n": 1103, "pi": 0.17, "grid": 0.16, "high": 0.013},
    "DoS": {"n": 1689, "pi": 0.93, "grid": 0.91, "high": 0.39},
    "SoD": {"n": 71, "pi": 1.00, "grid": 0.04, "high": 0.01},
}
#: Fig. 3 of the paper: grid period ≈ 7.5–9 σ (DoS σ sweep, s = 2).
PAPER_PERIOD_PER_SIGMA = (7.5, 9.0)


def fraction_table(networks: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Per group (in ``params['groups']`` order): N, fraction path integrating and grid fractions with CIs.

    Columns: group, n, pi (fraction), pi_lo, pi_hi, n_pi, grid, grid_lo, grid_hi, high, high_lo, high_hi,
    grid_untrained, high_untrained (the same path-integrating networks at initialisation), units and
    units_untrained (mean number of units above the grid threshold per path-integrating network, trained
    and at initialisation; NaN when the networks table has no such count). Diverged networks count as
    failing; grid fractions are among networks that path integrate.
    """
    p = resolve_params(params)
    rows = []
    for gi, group in enumerate(p["groups"]):
        nets = group_networks(networks, group)
        pi = path_integrates(nets, p["decoding_threshold_cm"]) if len(nets) else np.zeros(0, bool)

        def best(column: str) -> np.ndarray:
            if not len(nets) or column not in nets:
                return np.zeros(int(pi.sum()))
            return pd.to_numeric(nets[column], errors="coerce").to_numpy(float)[pi]

        trained, untrained = best("max_score_60"), best("max_score_60_untrained")
        row: dict[str, Any] = {"group": group, "n": len(nets), "n_pi": int(pi.sum())}
        for k, (key, values) in enumerate((("pi", pi), ("grid", trained > p["grid_threshold"]),
                                           ("high", trained > p["high_threshold"]))):
            f, lo, hi = bootstrap_fraction_ci(values, p["bootstrap"], bootstrap_rng(p, gi, k), p["ci_level"])
            row.update({key: f, f"{key}_lo": lo, f"{key}_hi": hi})
        for key, t in (("grid", p["grid_threshold"]), ("high", p["high_threshold"])):
            row[f"{key}_untrained"] = float(np.mean(untrained > t)) if untrained.size else math.nan
        # how many units, not only whether one: the mean count per passing network, and its untrained twin
        count = f"units_above_{p['grid_threshold']:g}"
        for key, column in (("units", count), ("units_untrained", f"{count}_untrained")):
            values = best(column)
            row[key] = float(np.mean(values)) if values.size else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_networks(networks: pd.DataFrame, sweep: str) -> pd.DataFrame:
    """Networks of a σ sweep with a fixed σ (``sigma`` and ``s`` columns added)."""
    nets = select_sweep(networks, sweep).copy()
    nets["sigma"] = fixed_column(nets, "place_cell_rf")
    nets["s"] = fixed_column(nets, "surround_scale")
    return nets[np.isfinite(nets["sigma"].to_numpy(float))]


def grid_periods(networks: pd.DataFrame, units: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Units of path-integrating σ-sweep networks with score_60 > grid threshold and a finite period.

    Columns: id, sigma, period_m.
    """
    p = resolve_params(params)
    nets = sweep_networks(networks, p["fig3_sweep"])
    if len(nets):
        nets = nets[path_integrates(nets, p["decoding_threshold_cm"])]
    u = units_of(units, nets)
    if len(u) == 0:
        return pd.DataFrame({"id": pd.Series(dtype=object), "sigma": pd.Series(dtype=float),
                             "period_m": pd.Series(dtype=float)})
    score = pd.to_numeric(u["score_60"], errors="coerce").to_numpy(float)
    period = pd.to_numeric(u["period_m"], errors="coerce").to_numpy(float)
    keep = (score > p["grid_threshold"]) & np.isfinite(period) & (period > 0)
    sig = dict(zip(nets["id"], nets["sigma"]))
    out = pd.DataFrame({"id": u["id"].to_numpy()[keep], "period_m": period[keep]})
    out["sigma"] = out["id"].map(sig).astype(float)
    return out


def mode_table(periods: pd.DataFrame) -> pd.DataFrame:
    """KDE mode of the period per σ: columns sigma, mode_m, n_units, n_networks, ratio (to previous σ)."""
    rows = []
    for sigma, g in periods.groupby("sigma", sort=True):
        rows.append({"sigma": float(sigma), "mode_m": kde_mode(g["period_m"].to_numpy(float)),
                     "n_units": len(g), "n_networks": g["id"].nunique()})
    t = pd.DataFrame(rows, columns=["sigma", "mode_m", "n_units", "n_networks"])
    t["ratio"] = t["mode_m"] / t["mode_m"].shift(1)
    return t


def slope_through_origin(sigma: np.ndarray, period: np.ndarray) -> float:
    """Least-squares slope of ``period = slope · σ`` (NaN without points)."""
    sigma, period = np.asarray(sigma, float), np.asarray(period, float)
    ok = np.isfinite(sigma) & np.isfinite(period)
    if not ok.any():
        return math.nan
    return float(np.sum(sigma[ok] * period[ok]) / np.sum(sigma[ok] ** 2))


def period_slope(periods: pd.DataFrame, params: Mapping[str, Any], n_boot: int = 200) -> tuple[float, float, float]:
    """Slope of the per-σ KDE period modes against σ, with a bootstrap interval over units within each σ.

    Needs two σ values with grid units; otherwise NaNs.
    """
    p = resolve_params(params)
    modes = mode_table(periods)
    if len(modes) < 2:
        return math.nan, math.nan, math.nan
    slope = slope_through_origin(modes["sigma"], modes["mode_m"])
    rng = bootstrap_rng(p, 99)
    groups = [(float(s), g["period_m"].to_numpy(float)) for s, g in periods.groupby("sigma", sort=True)]
    boot = np.empty(n_boot)
    for b in range(n_boot):
        m = [kde_mode(rng.choice(x, size=x.size, replace=True)) for _, x in groups]
        boot[b] = slope_through_origin(np.array([s for s, _ in groups]), np.array(m))
    alpha = (1.0 - p["ci_level"]) / 2.0
    lo, hi = np.nanquantile(boot, [alpha, 1.0 - alpha])
    return slope, float(lo), float(hi)


def comparison_table(networks: pd.DataFrame, units: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """One row per compared number: quantity, group, n, ours, ours_lo, ours_hi, untrained, paper, paper_n.

    ``untrained`` is the same fraction for the same networks at initialisation (grid fractions only).
    """
    p = resolve_params(params)
    rows = []
    table = fraction_table(networks, p)
    labels = {
        "pi": f"fraction with decoding error < {p['decoding_threshold_cm']:g} cm",
        "grid": f"of those, fraction with best unit > {p['grid_threshold']:g}",
        "high": f"of those, fraction with best unit > {p['high_threshold']:g}",
    }
    for key, what in labels.items():
        for r in table.itertuples():
            paper = PAPER_FIG2.get(r.group, {})
            rows.append({
                "quantity": what, "group": r.group, "n": r.n if key == "pi" else r.n_pi,
                "ours": getattr(r, key), "ours_lo": getattr(r, f"{key}_lo"), "ours_hi": getattr(r, f"{key}_hi"),
                "untrained": math.nan if key == "pi" else getattr(r, f"{key}_untrained"),
                "paper": paper.get(key, math.nan), "paper_n": paper.get("n", math.nan),
            })
    for r in table.itertuples():
        rows.append({
            "quantity": f"units with 60° score > {p['grid_threshold']:g} per network that path integrates (mean)",
            "group": r.group, "n": r.n_pi, "ours": r.units, "ours_lo": math.nan, "ours_hi": math.nan,
            "untrained": r.units_untrained, "paper": math.nan, "paper_n": math.nan,
        })
    periods = grid_periods(networks, units, p)
    slope, lo, hi = period_slope(periods, p)
    nets = sweep_networks(networks, p["fig3_sweep"])
    s_values = np.unique(nets["s"].to_numpy(float)[np.isfinite(nets["s"].to_numpy(float))]) if len(nets) else []
    theory = float(dos_theory_period(1.0, s_values[0])) if len(s_values) == 1 and s_values[0] > 1 else math.nan
    rows.append({
        "quantity": f"grid period / σ (KDE modes of units > {p['grid_threshold']:g}, sweep '{p['fig3_sweep']}')",
        "group": "DoS", "n": len(periods), "ours": slope, "ours_lo": lo, "ours_hi": hi, "untrained": math.nan,
        "paper": float(np.mean(PAPER_PERIOD_PER_SIGMA)), "paper_n": math.nan, "theory": theory,
    })
    return pd.DataFrame(rows, columns=["quantity", "group", "n", "ours", "ours_lo", "ours_hi", "untrained", "paper",
                                       "paper_n", "theory"])


def _num(x: float, digits: int = 2) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def to_markdown(table: pd.DataFrame) -> str:
    """The comparison as a Markdown table (what the README quotes)."""
    lines = ["| quantity | group | N (ours) | ours [95 % CI] | untrained twin | paper (N) |",
             "|---|---|---:|---|---:|---|"]
    for r in table.itertuples():
        slope = r.quantity.startswith("grid period")
        ours = f"{_num(r.ours)} [{_num(r.ours_lo)}, {_num(r.ours_hi)}]" if np.isfinite(r.ours_lo) else _num(r.ours, 1)
        if slope:
            theory = f"; theory {_num(r.theory)}" if np.isfinite(r.theory) else ""
            paper = f"{PAPER_PERIOD_PER_SIGMA[0]:g}–{PAPER_PERIOD_PER_SIGMA[1]:g}{theory}"
        else:
            paper = f"{_num(r.paper, 3 if 0 < r.paper < 0.01 else 2)} ({int(r.paper_n)})" if np.isfinite(r.paper) else "–"
        n = "–" if not np.isfinite(r.n) else f"{int(r.n)}" + (" units" if slope else "")
        twin = _num(r.untrained, 1) if r.quantity.startswith("units") else _num(r.untrained)
        lines.append(f"| {r.quantity} | {r.group} | {n} | {ours} | {twin} | {paper} |")
    return "\n".join(lines) + "\n"
