"""Fig. 3: the grid period is set by the readout width σ (DoS σ sweep, SPEC §6).

(a) KDE of grid periods per σ (units with 60° score above the grid threshold, networks that path
integrate); (b) the KDE mode against σ with the DoS theory λ = (2/√3)·2π/k*; (c) ratios of consecutive
modes, against biology's ≈1.4 module ratio and the ratio of consecutive σ (what a period ∝ σ predicts).
"""

from __future__ import annotations

from typing import Any, Mapping

import matplotlib
import numpy as np
import pandas as pd

from ..comparison import PAPER_PERIOD_PER_SIGMA, grid_periods, mode_table, period_slope, sweep_networks
from .common import (Tables, count_text, dos_theory_period, figure_style, kde_density, new_figure, no_networks,
                     panel_label, path_integrates, resolve_params)

BIOLOGY_RATIO = 1.4


def plot(tables: Tables, params: Mapping[str, Any]):
    """Build Fig. 3 from the aggregate tables."""
    p = resolve_params(params)
    nets = sweep_networks(tables.networks, p["fig3_sweep"])
    periods = grid_periods(tables.networks, tables.units, p)
    modes = mode_table(periods)
    with figure_style():
        fig = new_figure(7.2, 2.6)
        ax_a, ax_b, ax_c = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.25, 1, 1]})
        for ax, lab in ((ax_a, "a"), (ax_b, "b"), (ax_c, "c")):
            panel_label(ax, lab)
        if len(nets) == 0:
            for ax in (ax_a, ax_b, ax_c):
                no_networks(ax, f"no networks in sweep\n'{p['fig3_sweep']}'")
            return fig
        if len(periods) == 0:
            for ax in (ax_a, ax_b, ax_c):
                no_networks(ax, f"no units with score > {p['grid_threshold']:g}\nin networks that path integrate")
            return fig

        sigmas = np.sort(nets["sigma"].unique())
        norm = matplotlib.colors.Normalize(sigmas.min(), sigmas.max() if sigmas.max() > sigmas.min() else sigmas.min() + 1e-3)
        cmap = matplotlib.colormaps["viridis"]
        x = np.linspace(0, periods["period_m"].max() * 1.15, 400)
        for sigma, g in periods.groupby("sigma", sort=True):
            dens = kde_density(g["period_m"].to_numpy(float), x)
            if np.all(np.isnan(dens)):  # one unit: mark it instead of a curve
                ax_a.plot(g["period_m"], [0] * len(g), "|", color=cmap(norm(sigma)), ms=8)
                continue
            ax_a.plot(x, dens, color=cmap(norm(sigma)), lw=1.2)
        sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=ax_a, label="σ (m)", fraction=0.06, pad=0.02)
        ax_a.set_xlabel("grid period (m)")
        ax_a.set_ylabel("density")
        ax_a.set_xlim(0, x[-1])

        ax_b.plot(modes["sigma"], modes["mode_m"], "o", color="#d55e00", ms=4, label="KDE mode")
        grid_s = np.linspace(0, sigmas.max() * 1.05, 100)[1:]
        lo_p, hi_p = PAPER_PERIOD_PER_SIGMA
        ax_b.fill_between(grid_s, lo_p * grid_s, hi_p * grid_s, color="0.85", lw=0, label=f"paper, {lo_p:g}–{hi_p:g} σ")
        slope, s_lo, s_hi = period_slope(periods, p)
        if np.isfinite(slope):
            ax_b.plot(grid_s, slope * grid_s, color="#d55e00", lw=1, ls=":",
                      label=f"ours, {slope:.1f} σ [{s_lo:.1f}, {s_hi:.1f}]")
        s_values = np.unique(nets["s"].to_numpy(float)[np.isfinite(nets["s"].to_numpy(float))])
        for s in s_values[s_values > 1]:
            ax_b.plot(grid_s, dos_theory_period(grid_s, s), color="0.3", lw=1,
                      ls="-" if len(s_values) == 1 else None, label=f"theory, s={s:g}")
        ax_b.set_xlabel("σ (m)")
        ax_b.set_ylabel("period mode (m)")
        ax_b.set_xlim(0, grid_s[-1])
        ax_b.set_ylim(0, None)
        ax_b.legend(loc="upper left", fontsize=8)

        r = modes.dropna(subset=["ratio"])
        if len(r) == 0:
            no_networks(ax_c, "fewer than two σ values\nwith grid units")
        else:
            ax_c.plot(r["sigma"], r["ratio"], "o-", color="#d55e00", ms=4, lw=1, label="consecutive modes")
            s_prev = modes["sigma"].shift(1)
            ax_c.plot(r["sigma"], (modes["sigma"] / s_prev).loc[r.index], "s", mfc="none", color="0.3", ms=4,
                      label="ratio of σ")
            ax_c.axhline(BIOLOGY_RATIO, color="0.5", ls="--", lw=1, label=f"biology ≈ {BIOLOGY_RATIO:g}")
            ax_c.axhline(1.0, color="0.8", lw=0.8)
            ax_c.set_xlabel("σ (m)")
            ax_c.set_ylabel("period ratio (σ to previous σ)")
            lo = min(0.9, float(np.nanmin(r["ratio"])) - 0.05)
            # headroom above the biology line so that the legend never sits on a line or a point
            hi = max(1.75, float(np.nanmax(r["ratio"])) + 0.3)
            ax_c.set_ylim(lo, hi)
            ax_c.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


def caption(tables: Tables, params: Mapping[str, Any]) -> str:
    p = resolve_params(params)
    nets = sweep_networks(tables.networks, p["fig3_sweep"])
    periods = grid_periods(tables.networks, tables.units, p)
    modes = mode_table(periods)
    n_sigma = nets.groupby("sigma").size() if len(nets) else pd.Series(dtype=int)
    pi = nets[path_integrates(nets, p["decoding_threshold_cm"])] if len(nets) else nets
    n_pi = pi.groupby("sigma").size() if len(pi) else pd.Series(dtype=int)
    per_sigma = {f"σ={s:g}": f"{int(n_pi.get(s, 0))}/{int(n)}" for s, n in n_sigma.items()}
    mode_txt = ", ".join(f"{r.sigma:g}→{r.mode_m:.3f}" for r in modes.itertuples())
    slope, s_lo, s_hi = period_slope(periods, p)
    slope_txt = (f"least-squares slope through the origin {slope:.2f} σ (95% bootstrap interval over units "
                 f"[{s_lo:.2f}, {s_hi:.2f}]); " if np.isfinite(slope) else "")
    return (
        f"Fig. 3. DoS σ sweep '{p['fig3_sweep']}' ({len(nets)} networks; networks that path integrate "
        f"[error < {p['decoding_threshold_cm']:g} cm] / all, per σ: {count_text(per_sigma)}). "
        f"(a) Gaussian KDE of grid periods (m) per σ of units with 60° score > {p['grid_threshold']:g} in networks "
        f"that path integrate ({len(periods)} units). (b) KDE mode against σ (σ→mode m: {mode_txt or 'none'}); "
        f"{slope_txt}grey band: the paper's {PAPER_PERIOD_PER_SIGMA[0]:g}–{PAPER_PERIOD_PER_SIGMA[1]:g} σ; line: "
        f"the DoS theory λ = (2/√3)·2π/k*, k*² = 4 ln s/(σ²(s² − 1)). (c) Ratio of the modes at consecutive "
        f"σ, against the ratio of the σ values and the ≈{BIOLOGY_RATIO:g} ratio of biological grid modules."
    )
