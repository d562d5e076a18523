"""Fig. 6 (the part without neural data): rate-map participation ratio and grid units by architecture.

(a) participation ratio of the (smoothed) rate maps of each network, per architecture × activation;
(b) fraction of networks that path integrate whose best unit's 60° score exceeds the grid threshold.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from .common import (Tables, bootstrap_fraction_ci, bootstrap_rng, count_text, figure_style, new_figure,
                     no_networks, panel_label, path_integrates, resolve_params, select_sweep)

ARCH_ORDER = ("RNN", "SRNN", "LSTM", "GRU", "UGRNN")
ACT_ORDER = ("relu", "tanh", "sigmoid", "linear")
ACT_COLOURS = {"relu": "#d55e00", "tanh": "#0173b2", "sigmoid": "#029e73", "linear": "#949494"}


def _ordered(values, order) -> list[str]:
    present = [str(v) for v in pd.unique(values)]
    return [v for v in order if v in present] + sorted(v for v in present if v not in order)


def selected(tables: Tables, p: Mapping[str, Any]) -> pd.DataFrame:
    """Finished networks of ``fig6_sweep`` (all networks when None)."""
    p = resolve_params(p)
    nets = select_sweep(tables.networks, p["fig6_sweep"])
    return nets[nets["status"].astype(str) == "ok"] if len(nets) else nets


def summary_table(tables: Tables, p: Mapping[str, Any]) -> pd.DataFrame:
    """Per architecture × activation: n, n_pi, median PR of rate maps, grid fraction (among PI) with CI."""
    p = resolve_params(p)
    nets = selected(tables, p)
    cols = ["architecture", "activation", "n", "n_pi", "pr_median", "grid", "grid_lo", "grid_hi"]
    if len(nets) == 0:
        return pd.DataFrame(columns=cols)
    rows = []
    for i, arch in enumerate(_ordered(nets["architecture"], ARCH_ORDER)):
        for j, act in enumerate(_ordered(nets["activation"], ACT_ORDER)):
            g = nets[(nets["architecture"].astype(str) == arch) & (nets["activation"].astype(str) == act)]
            if len(g) == 0:
                continue
            pi = path_integrates(g, p["decoding_threshold_cm"])
            best = pd.to_numeric(g["max_score_60"], errors="coerce").to_numpy(float)[pi]
            f, lo, hi = bootstrap_fraction_ci(best > p["grid_threshold"], p["bootstrap"],
                                              bootstrap_rng(p, 100 + i, j), p["ci_level"])
            pr = pd.to_numeric(g["participation_ratio_ratemaps"], errors="coerce").to_numpy(float)
            rows.append({"architecture": arch, "activation": act, "n": len(g), "n_pi": int(pi.sum()),
                         "pr_median": float(np.nanmedian(pr)) if np.isfinite(pr).any() else np.nan,
                         "grid": f, "grid_lo": lo, "grid_hi": hi})
    return pd.DataFrame(rows, columns=cols)


def plot(tables: Tables, params: Mapping[str, Any]):
    """Build the architecture panels of Fig. 6."""
    p = resolve_params(params)
    nets = selected(tables, p)
    with figure_style():
        fig = new_figure(7.2, 2.9)
        ax_a, ax_b = fig.subplots(1, 2)
        panel_label(ax_a, "a")
        panel_label(ax_b, "b")
        if len(nets) == 0:
            where = f"sweep '{p['fig6_sweep']}'" if p["fig6_sweep"] else "the tables"
            no_networks(ax_a, f"no finished networks in {where}")
            no_networks(ax_b, f"no finished networks in {where}")
            return fig
        archs = _ordered(nets["architecture"], ARCH_ORDER)
        acts = _ordered(nets["activation"], ACT_ORDER)
        width = 0.8 / len(acts)
        rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
        t = summary_table(tables, p)
        for j, act in enumerate(acts):
            colour = ACT_COLOURS.get(act, "0.3")
            for i, arch in enumerate(archs):
                g = nets[(nets["architecture"].astype(str) == arch) & (nets["activation"].astype(str) == act)]
                pr = pd.to_numeric(g["participation_ratio_ratemaps"], errors="coerce").to_numpy(float)
                pr = pr[np.isfinite(pr)]
                x0 = i - 0.4 + width * (j + 0.5)
                if pr.size:
                    ax_a.plot(x0 + rng.uniform(-width / 4, width / 4, pr.size), pr, "o", ms=2.5, color=colour,
                              alpha=0.6, mec="none")
                    ax_a.plot([x0 - width * 0.4, x0 + width * 0.4], [np.median(pr)] * 2, color=colour, lw=1.5,
                              label=act if i == 0 else None)
            tj = t[t["activation"] == act]
            xs = np.array([archs.index(a) - 0.4 + width * (j + 0.5) for a in tj["architecture"]])
            ok = np.isfinite(tj["grid"].to_numpy(float))
            if ok.any():
                f = tj["grid"].to_numpy(float)[ok]
                ax_b.bar(xs[ok], f, width * 0.9, color=colour, label=act,
                         yerr=np.vstack([f - tj["grid_lo"].to_numpy(float)[ok], tj["grid_hi"].to_numpy(float)[ok] - f]),
                         capsize=2, error_kw={"elinewidth": 0.8})
            # an empty slot must read as "no network to count", not as a fraction of 0
            for x, r in zip(xs, tj.itertuples()):
                if r.n_pi == 0:
                    ax_b.text(x, 0.02, f"none of {r.n}\npath\nintegrate", ha="center", va="bottom", fontsize=7,
                              color="0.4")
        for ax in (ax_a, ax_b):
            ax.set_xticks(range(len(archs)), archs)
            ax.set_xlim(-0.6, len(archs) - 0.4)
        ax_a.set_ylabel("participation ratio of rate maps")
        ax_a.set_ylim(0, None)
        ax_a.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(acts), fontsize=8, handlelength=1.2,
                    borderaxespad=0.1)
        if t["n_pi"].sum() == 0:
            no_networks(ax_b, "no networks path integrate")
        else:
            ax_b.set_ylim(0, 1.05)
            ax_b.set_ylabel(f"fraction with a unit > {p['grid_threshold']:g}\n(networks that path integrate)")
            ax_b.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(acts), fontsize=8, handlelength=1.2,
                        borderaxespad=0.1)
    return fig


def caption(tables: Tables, params: Mapping[str, Any]) -> str:
    p = resolve_params(params)
    t = summary_table(tables, p)
    counts = {f"{r.architecture}/{r.activation}": f"{r.n_pi} of {r.n}" for r in t.itertuples()}
    where = f"sweep '{p['fig6_sweep']}'" if p["fig6_sweep"] else "all sweeps"
    return (
        f"Fig. 6 (architecture panels). Finished networks of {where} per architecture × activation (networks that "
        f"path integrate [error < {p['decoding_threshold_cm']:g} cm] of all: {count_text(counts)}). "
        f"(a) Participation ratio (Σλ)²/Σλ² of the smoothed rate maps of each network (dots; bars: medians). "
        f"(b) Fraction of networks that path integrate whose best unit's 60° score exceeds {p['grid_threshold']:g}, "
        f"with {100 * p['ci_level']:g}% bootstrap CIs ({int(p['bootstrap'])} resamples). The neural-data panels of "
        f"Fig. 6 are out of scope (SPEC §6)."
    )
