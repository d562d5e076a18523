"""Fig. 4: what makes DoS special (SPEC §6).

(a) percentage of units above several 60° score thresholds against σ (DoS σ sweep); (b) survival
functions of 60° scores, true DoG vs DoS at one σ and s; (c) the spatial correlation Σ of the readout
code and |FFT(Σ)|: a ring for DoS (its Fourier ring selects hexagons), a low-frequency peak for true DoG.
Panel (c) is computed from the readout formulas alone and needs no trained networks.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..comparison import sweep_networks
from ..readouts import dos_peak_wavenumber
from .common import (Tables, count_text, figure_style, fixed_column, group_colours, group_networks, new_figure,
                     no_networks, panel_label, path_integrates, resolve_params, score_units, units_of)
from .fig2 import plot_survival

DOS, DOG = "difference_of_softmaxes", "difference_of_gaussians"


# ---------------------------------------------------------------------------------------------
# (a) and (b): from the tables

def threshold_table(tables: Tables, p: Mapping[str, Any]) -> pd.DataFrame:
    """Per σ and threshold: mean over path-integrating networks of the % of units above it.

    Columns: sigma, threshold, percent (mean over networks), sem, n_networks.
    """
    p = resolve_params(p)
    nets = sweep_networks(tables.networks, p["fig3_sweep"])
    if len(nets) and p["only_path_integrating"]:
        nets = nets[path_integrates(nets, p["decoding_threshold_cm"])]
    u = units_of(tables.units, nets)
    cols = ["sigma", "threshold", "percent", "sem", "n_networks"]
    if len(u) == 0:
        return pd.DataFrame(columns=cols)
    u = u[["id", "score_60"]].copy()
    u["sigma"] = u["id"].map(dict(zip(nets["id"], nets["sigma"]))).astype(float)
    rows = []
    for t in p["fig4a_thresholds"]:
        u["above"] = pd.to_numeric(u["score_60"], errors="coerce").to_numpy(float) > float(t)
        per_net = u.groupby(["sigma", "id"])["above"].mean().mul(100.0).reset_index()
        for sigma, g in per_net.groupby("sigma", sort=True):
            v = g["above"].to_numpy(float)
            sem = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
            rows.append({"sigma": float(sigma), "threshold": float(t), "percent": float(v.mean()), "sem": sem,
                         "n_networks": int(v.size)})
    return pd.DataFrame(rows, columns=cols)


def dos_vs_dog_networks(tables: Tables, p: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Networks of each ``fig4b_groups`` group with one field per cell, σ = ``fig4b_sigma``, s = ``fig4b_surround``."""
    p = resolve_params(p)
    nets = tables.networks
    out = {}
    for group in p["fig4b_groups"]:
        g = group_networks(nets, group)
        if len(g):
            sel = np.isclose(fixed_column(g, "place_cell_rf"), float(p["fig4b_sigma"]))
            sel &= np.isclose(fixed_column(g, "surround_scale"), float(p["fig4b_surround"]))
            if "fields_per_cell" in g.columns:
                sel &= pd.to_numeric(g["fields_per_cell"], errors="coerce").fillna(0).to_numpy(float) == 0
            g = g[sel]
        out[group] = g
    return out


# ---------------------------------------------------------------------------------------------
# (c): readout spatial correlation, from pathint.readouts (no trained networks)

def readout_correlation(readout: str, sigma: float, s: float, n_place: int, box_width: float, resolution: int,
                        seed: int = 0):
    """Translation-averaged spatial correlation Σ(Δ) of a single-field code and |FFT(Σ)|.

    The readout is built exactly as for training (``pathint.readouts.make_readout`` with the network's
    "readout" seed stream). Returns ``(lags_m, corr, k, amp)``: lags (R,) in m with lag 0 at index R // 2,
    corr (R, R) normalised to 1 at lag 0, k (R,) angular wavenumbers in rad/m, amp (R, R) = |FFT(Σ)|
    normalised to max 1, zero frequency at the centre, first axis = x.
    """
    from ..config import NetworkConfig
    from ..readouts import fourier_amplitude, make_readout, spatial_correlation
    from ..seeds import rng as seed_rng

    cfg = NetworkConfig(readout=readout, n_place=int(n_place), place_cell_rf=float(sigma), surround_scale=float(s),
                        box_width=float(box_width), box_height=float(box_width), seed=int(seed))
    code = make_readout(cfg, seed_rng(cfg.seed, "readout"))
    corr = spatial_correlation(code, int(resolution))
    kx, _, amp = fourier_amplitude(corr, float(box_width))
    lags = (np.arange(corr.shape[0]) - corr.shape[0] // 2) * (float(box_width) / corr.shape[0])
    return lags, corr, kx, amp / amp.max()


def ring_radius(k: np.ndarray, amp: np.ndarray) -> float:
    """|k| of the maximum of a radially averaged amplitude spectrum (0 for a low-frequency peak)."""
    kx, ky = np.meshgrid(k, k, indexing="ij")
    kr = np.hypot(kx, ky)
    dk = k[1] - k[0]
    idx = np.round(kr / dk).astype(int)
    sums = np.bincount(idx.ravel(), amp.ravel())
    counts = np.bincount(idx.ravel())
    prof = sums / np.maximum(counts, 1)
    n = min(len(prof), len(k) // 2)
    return float(np.argmax(prof[:n]) * dk)


def _plot_code(ax_s, ax_f, label: str, readout: str, p: Mapping[str, Any]) -> None:
    sigma, s = float(p["fig4b_sigma"]), float(p["fig4b_surround"])
    lags, corr, k, amp = readout_correlation(readout, sigma, s, int(p["fig4c_n_place"]),
                                             float(p["fig4c_box_width"]), int(p["fig4c_resolution"]),
                                             seed=int(p.get("seed", 0)))
    lim = min(1.0, lags[-1])
    h = lags[1] - lags[0]
    ext = [lags[0] - h / 2, lags[-1] + h / 2] * 2
    vmax = float(np.abs(corr).max())
    ax_s.imshow(corr.T, origin="lower", extent=ext, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax_s.set_xlim(-lim, lim)
    ax_s.set_ylim(-lim, lim)
    ax_s.set_title(f"{label}: Σ(Δ)", fontsize=8, pad=2)
    ax_s.set_xlabel("Δx (m)", labelpad=1)
    ax_s.set_ylabel("Δy (m)", labelpad=1)
    dk = k[1] - k[0]
    kmax = 3.0 * float(dos_peak_wavenumber(sigma, s))  # three times DoS's ring k*
    ax_f.imshow(amp.T, origin="lower", extent=[k[0] - dk / 2, k[-1] + dk / 2] * 2, cmap="magma")
    ax_f.set_xlim(-kmax, kmax)
    ax_f.set_ylim(-kmax, kmax)
    ax_f.set_title(f"{label}: |FFT(Σ)|, peak {ring_radius(k, amp):.0f}/m", fontsize=8, pad=2)
    ax_f.set_xlabel("kx (rad/m)", labelpad=1)
    ax_f.set_ylabel("ky (rad/m)", labelpad=1)
    if readout == DOS:  # theory ring k*
        kstar = kmax / 3.0
        t = np.linspace(0, 2 * np.pi, 200)
        ax_f.plot(kstar * np.cos(t), kstar * np.sin(t), color="#56b4e9", lw=0.8, ls="--")
    for ax in (ax_s, ax_f):
        ax.tick_params(labelsize=8, length=2, pad=1)
        ax.locator_params(nbins=3)


def plot(tables: Tables, params: Mapping[str, Any]):
    """Build Fig. 4 from the aggregate tables (panel c from the readout formulas)."""
    p = resolve_params(params)
    with figure_style():
        fig = new_figure(7.2, 4.7)
        top, bottom = fig.subfigures(2, 1, height_ratios=[2.5, 2.2])
        ax_a, ax_b = top.subplots(1, 2)
        panel_label(ax_a, "a")
        panel_label(ax_b, "b")

        t = threshold_table(tables, p)
        if len(t) == 0:
            no_networks(ax_a, f"no networks that path integrate\nin sweep '{p['fig3_sweep']}'")
        else:
            markers = "osD^v<>"
            for i, (thr, g) in enumerate(t.groupby("threshold", sort=True)):
                ax_a.errorbar(g["sigma"], g["percent"], yerr=g["sem"], marker=markers[i % len(markers)], ms=3.5,
                              lw=1, capsize=2, label=f"{thr:g}")
            ax_a.set_xlabel("σ (m)")
            ax_a.set_ylabel("% of units with 60° score")
            ax_a.set_ylim(0, None)
            ax_a.legend(title="score >", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)

        sel = dos_vs_dog_networks(tables, p)
        groups_units = {label: score_units(tables, nets, p) for label, nets in sel.items()}
        if plot_survival(ax_b, groups_units, group_colours(list(sel)), p):
            for label, u in groups_units.items():
                if len(u) == 0:  # say so in the legend rather than leave a group out silently
                    ax_b.plot([], [], " ", label=f"{label}: no network path integrates")
            ax_b.legend(loc="upper right", fontsize=8)
            ax_b.set_title(f"σ = {float(p['fig4b_sigma']):g} m, s = {float(p['fig4b_surround']):g}", fontsize=9)

        axes = bottom.subplots(1, 4)
        _plot_code(axes[0], axes[1], "DoS", DOS, p)
        _plot_code(axes[2], axes[3], "DoG", DOG, p)
        panel_label(axes[0], "c")
    return fig


def caption(tables: Tables, params: Mapping[str, Any]) -> str:
    p = resolve_params(params)
    t = threshold_table(tables, p)
    n_sig = t.groupby("sigma")["n_networks"].first().to_dict() if len(t) else {}
    sel = dos_vs_dog_networks(tables, p)
    counts = {}
    for label, nets in sel.items():
        n_pi = int(path_integrates(nets, p["decoding_threshold_cm"]).sum()) if len(nets) else 0
        counts[label] = f"{n_pi} of {len(nets)}"
    pool = "networks that path integrate" if p["only_path_integrating"] else "all finished networks"
    return (
        f"Fig. 4. (a) Percentage of units whose 60° score exceeds each of "
        f"{', '.join(f'{float(x):g}' for x in p['fig4a_thresholds'])} against σ in sweep '{p['fig3_sweep']}' "
        f"(mean ± s.e.m. over {pool} [error < {p['decoding_threshold_cm']:g} cm]; networks per σ: "
        f"{count_text({f'{k:g}': v for k, v in n_sig.items()})}). "
        f"(b) Survival functions (1 − CDF of a Gaussian KDE) of 60° scores of units of {pool} in groups "
        f"{', '.join(map(str, p['fig4b_groups']))} with one field per cell, σ = {float(p['fig4b_sigma']):g} m, s = {float(p['fig4b_surround']):g} "
        f"(networks used of all matching: {count_text(counts)}); dashed: untrained. (c) Translation-averaged "
        f"spatial correlation Σ(Δ) of the readout targets (mean-centred per cell) ({int(p['fig4c_n_place'])} cells with uniform random "
        f"centres, {int(p['fig4c_resolution'])}² grid over a {float(p['fig4c_box_width']):g} m box, σ and s as in "
        f"b) and |FFT(Σ)|: a ring for DoS (dashed: theory k*² = 4 ln s/(σ²(s² − 1))), a low-frequency peak for "
        f"true DoG. Panel c uses no trained networks."
    )
