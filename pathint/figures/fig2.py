"""Fig. 2: path integration and grid scores for every readout group (SPEC §6).

(a) fraction of networks with decoding error below the threshold, per group, with bootstrap CIs;
(a′) among those, fraction whose best unit's 60° score exceeds the grid and high thresholds, beside the
paper's values and the same networks untrained; (a″) units above the grid threshold per such network,
beside the untrained twin; (b) survival functions of all units' 60° scores (trained solid, untrained dashed), units of networks
that path integrate only; (c) example rate maps per group within score ranges.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..comparison import PAPER_FIG2, fraction_table
from .common import (Tables, count_text, figure_style, group_colours, group_networks, kde_survival, new_figure,
                     no_networks, panel_label, path_integrates, resolve_params, score_units, show_ratemap,
                     wrap_label)


def _bars(ax, y: np.ndarray, frac: np.ndarray, lo: np.ndarray, hi: np.ndarray, colours, height: float,
          **kw) -> None:
    """Horizontal bars with CI whiskers; groups without networks (NaN) are skipped."""
    ok = np.isfinite(frac)
    err = np.vstack([frac - lo, hi - frac])[:, ok]
    ax.barh(y[ok], frac[ok], height=height, color=np.asarray(colours, dtype=object)[ok].tolist(),
            xerr=err, capsize=2, error_kw={"elinewidth": 0.8}, **kw)


def _plot_fractions(ax_a, ax_b, table: pd.DataFrame, colours: Mapping[str, str], p: Mapping[str, Any]) -> None:
    """(a) and (a′) as horizontal bars sharing one group axis (labels: N and N that path integrate)."""
    if table["n"].sum() == 0:
        no_networks(ax_a, "no networks")
        no_networks(ax_b, "no networks")
        return
    y = np.arange(len(table))
    cols = [colours[g] for g in table["group"]]
    _bars(ax_a, y, table["pi"].to_numpy(float), table["pi_lo"].to_numpy(float), table["pi_hi"].to_numpy(float),
          cols, 0.7)
    labels = [f"{g}\nN={n}, {m} pass" for g, n, m in zip(table["group"], table["n"], table["n_pi"])]
    ax_a.set_yticks(y, labels, fontsize=8)
    ax_a.set_ylim(len(table) - 0.5, -0.5)
    ax_a.set_xlim(0, 1.05)
    ax_a.set_xlabel(f"error < {p['decoding_threshold_cm']:g} cm\n(fraction)")
    ax_a.set_xticks([0, 0.5, 1])
    for yi, n in zip(y, table["n"]):
        if n == 0:
            ax_a.text(0.02, yi, "no networks", ha="left", va="center", fontsize=8, color="0.4")
    _paper_marks(ax_a, y, table["group"], "pi")

    ax_b.set_ylim(len(table) - 0.5, -0.5)
    ax_b.set_yticks(y, [])
    if table["n_pi"].sum() == 0:
        no_networks(ax_b, "no networks path integrate")
        return
    h = 0.38
    _bars(ax_b, y - h / 2, table["grid"].to_numpy(float), table["grid_lo"].to_numpy(float),
          table["grid_hi"].to_numpy(float), cols, h, label=f">{p['grid_threshold']:g}")
    _bars(ax_b, y + h / 2, table["high"].to_numpy(float), table["high_lo"].to_numpy(float),
          table["high_hi"].to_numpy(float), cols, h, hatch="////", edgecolor="white", linewidth=0,
          label=f">{p['high_threshold']:g}")
    for yi, n in zip(y, table["n_pi"]):
        if n == 0:
            ax_b.text(0.02, yi, "none pass", ha="left", va="center", fontsize=8, color="0.4")
    _paper_marks(ax_b, y - h / 2, table["group"], "grid", label=False)
    _paper_marks(ax_b, y + h / 2, table["group"], "high", label=False)
    passing = table["n_pi"].to_numpy() > 0
    ax_b.plot(table["grid_untrained"].to_numpy(float)[passing], (y - h / 2)[passing], "o", mfc="white", mec="0.2",
              ms=3.5, mew=0.8, label="untrained")
    ax_b.set_xlim(0, 1.05)
    ax_b.set_xlabel("passing nets:\nbest unit above\n(fraction)")
    ax_b.set_xticks([0, 0.5, 1])
    # one legend for (a) and (a′), above both (the panels' labels stay visible)
    handles, labels = ax_a.get_legend_handles_labels()
    more = ax_b.get_legend_handles_labels()
    leg = ax_b.figure.legend(handles + more[0], labels + more[1], loc="outside upper left", ncol=4, fontsize=8,
                             handlelength=1.0, handletextpad=0.3, columnspacing=0.8)
    for handle in leg.legend_handles:
        if hasattr(handle, "set_facecolor"):  # the bars' patches; the untrained marker keeps its style
            handle.set_facecolor("0.5")


def _plot_counts(ax, table: pd.DataFrame, colours: Mapping[str, str], p: Mapping[str, Any]) -> None:
    """(a″): units above the grid threshold per passing network, beside the same networks untrained."""
    y = np.arange(len(table))
    ax.set_ylim(len(table) - 0.5, -0.5)
    ax.set_yticks(y, [])
    vals = table["units"].to_numpy(float)
    if not np.isfinite(vals).any():
        no_networks(ax, "no networks path integrate")
        return
    ok = np.isfinite(vals)
    ax.barh(y[ok], vals[ok], height=0.7, color=[colours[g] for g in table["group"][ok]])
    twin = table["units_untrained"].to_numpy(float)
    ax.plot(twin[ok], y[ok], "o", mfc="white", mec="0.2", ms=3.5, mew=0.8)
    ax.set_xlim(0, max(1.0, float(np.nanmax(np.concatenate([vals[ok], twin[ok]])))) * 1.1)
    ax.set_xlabel(f"units > {p['grid_threshold']:g}\nper passing\nnet (mean)")


def _paper_marks(ax, y: np.ndarray, groups, key: str, label: bool = True) -> None:
    """The paper's value of each group (SPEC §7) as a black diamond beside this run's bar."""
    vals = np.array([PAPER_FIG2.get(g, {}).get(key, np.nan) for g in groups], float)
    ok = np.isfinite(vals)
    ax.plot(vals[ok], np.asarray(y)[ok], "D", color="black", ms=3.5, label="paper" if label else None)


def plot_survival(ax, groups_units: Mapping[str, pd.DataFrame], colours: Mapping[str, str],
                  p: Mapping[str, Any], untrained: bool = True) -> bool:
    """Survival functions of 60° scores per label (solid trained, dashed untrained); False if nothing drawn."""
    lo, hi = map(float, p["survival_range"])
    x = np.linspace(lo, hi, 300)
    drawn = False
    for label, u in groups_units.items():
        if len(u) == 0:
            continue
        sf = kde_survival(u["score_60"].to_numpy(float), x)
        if np.all(np.isnan(sf)):
            continue
        n_nets = u["id"].nunique()
        ax.plot(x, sf, color=colours[label], lw=1.5, label=f"{label} ({n_nets})")
        drawn = True
        if untrained and "score_60_untrained" in u:
            sfu = kde_survival(u["score_60_untrained"].to_numpy(float), x)
            if not np.all(np.isnan(sfu)):
                ax.plot(x, sfu, color=colours[label], lw=1.0, ls="--", alpha=0.8)
    if not drawn:
        no_networks(ax, "no units of networks\nthat path integrate")
        return False
    for t in (p["grid_threshold"], p["high_threshold"]):
        ax.axvline(t, color="0.6", lw=0.7, ls=":")
    ax.set_xlim(lo, hi)
    ax.set_xticks([t for t in (-0.5, 0.0, 0.5, 1.0) if lo <= t <= hi])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("60° grid score")
    ax.set_ylabel("fraction of units with score > x")
    ax.plot([], [], color="0.3", ls="--", lw=1.0, label="untrained")
    return True


def pick_examples(tables: Tables, networks: pd.DataFrame, ranges, p: Mapping[str, Any]):
    """For each score range [lo, hi), the example map of ``networks`` whose score is nearest the range centre.

    Only networks that path integrate (when ``only_path_integrating``). Returns a list of
    ``(ratemap, score)`` or ``None`` per range.
    """
    p = resolve_params(p)
    if p["only_path_integrating"] and len(networks):
        networks = networks[path_integrates(networks, p["decoding_threshold_cm"])]
    maps, scores = [], []
    for nid in networks["id"] if len(networks) else []:
        ex = tables.examples.get(nid)
        if ex is None:
            continue
        maps.extend(ex["ratemaps"])
        scores.extend(ex["score_60"].tolist())
    scores_arr = np.asarray(scores, float)
    out = []
    for lo, hi in ranges:
        inside = np.flatnonzero((scores_arr >= lo) & (scores_arr < hi))
        if inside.size == 0:
            out.append(None)
            continue
        centre = 0.5 * (lo + hi)
        best = inside[np.argmin(np.abs(scores_arr[inside] - centre))]
        out.append((maps[best], float(scores_arr[best])))
    return out


def _plot_examples(subfig, tables: Tables, p: Mapping[str, Any]) -> None:
    groups = list(p["groups"])
    ranges = [tuple(map(float, r)) for r in p["fig2c_score_ranges"]]
    picks = {g: pick_examples(tables, group_networks(tables.networks, g), ranges, p) for g in groups}
    if not groups or all(all(x is None for x in v) for v in picks.values()):
        ax = subfig.add_subplot(1, 1, 1)
        no_networks(ax, "no example rate maps (no networks that path integrate, or no examples)")
        panel_label(ax, "c")
        return

    axes = subfig.subplots(len(ranges), len(groups), squeeze=False)
    for j, g in enumerate(groups):
        for i, pick in enumerate(picks[g]):
            ax = axes[i, j]
            if pick is None:
                ax.set_axis_off()
                ax.text(0.5, 0.5, "none", ha="center", va="center", fontsize=8, color="0.5",
                        transform=ax.transAxes)
            else:
                show_ratemap(ax, pick[0], f"{pick[1]:.2f}")
            if i == 0:
                ax.text(0.5, 1.32, wrap_label(g, 12), ha="center", va="bottom", fontsize=8,
                        transform=ax.transAxes)
            if j == 0:
                lo, hi = ranges[i]
                ax.text(-0.12, 0.5, f"[{lo:g}, {hi:g})", ha="right", va="center", fontsize=8, rotation=90,
                        transform=ax.transAxes)
    subfig.text(0.005, 0.995, "c", fontsize=11, fontweight="bold", ha="left", va="top")


def plot(tables: Tables, params: Mapping[str, Any]):
    """Build Fig. 2 (a, a′, a″, b, c) from the aggregate tables."""
    p = resolve_params(params)
    nets = tables.networks
    colours = group_colours(list(p["groups"]) + list(pd.unique(nets["group"])))
    table = fraction_table(nets, p)
    with figure_style():
        n_rows = len(p["fig2c_score_ranges"])
        fig = new_figure(7.2, 3.4 + 1.05 * n_rows)
        top, bottom = fig.subfigures(2, 1, height_ratios=[3.4, 1.05 * n_rows])
        ax_a, ax_b, ax_n, ax_c = top.subplots(1, 4, gridspec_kw={"width_ratios": [1, 0.75, 0.75, 1.2]})
        _plot_fractions(ax_a, ax_b, table, colours, p)
        _plot_counts(ax_n, table, colours, p)
        groups_units = {g: score_units(tables, group_networks(nets, g), p) for g in p["groups"]}
        if plot_survival(ax_c, groups_units, colours, p):
            ax_c.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, handlelength=1.5,
                        labelspacing=0.3, title="networks passing")
        for ax, lab in ((ax_a, "a"), (ax_b, "a′"), (ax_n, "a″"), (ax_c, "b")):
            panel_label(ax, lab)
        _plot_examples(bottom, tables, p)
    return fig


def caption(tables: Tables, params: Mapping[str, Any]) -> str:
    """Report caption: what is plotted, N per group, thresholds."""
    p = resolve_params(params)
    table = fraction_table(tables.networks, p)
    n = dict(zip(table["group"], table["n"]))
    n_pi = dict(zip(table["group"], table["n_pi"]))
    frac = "; ".join(f"{g}: {r.pi:.2f} [{r.pi_lo:.2f}, {r.pi_hi:.2f}]" for g, r in zip(table["group"], table.itertuples())
                     if r.n)
    pool = "networks that path integrate" if p["only_path_integrating"] else "all finished networks"
    return (
        f"Fig. 2. (a) Fraction of networks per readout group whose evaluation decoding error is below "
        f"{p['decoding_threshold_cm']:g} cm (diverged networks count as failures), with "
        f"{100 * p['ci_level']:g}% percentile bootstrap CIs ({int(p['bootstrap'])} resamples, seed {p['seed']}). "
        f"N per group: {count_text(n)}. Fractions: {frac or 'none'}. "
        f"(a′) Among networks that path integrate (N per group: {count_text(n_pi)}), fraction whose best unit's "
        f"60° grid score exceeds {p['grid_threshold']:g} (solid) and {p['high_threshold']:g} (hatched); open "
        f"circles: the same networks at initialisation (untrained twin). Black diamonds in (a) and (a′): the "
        f"paper's values (its Fig. 2, SPEC §7; also results/tables/paper_comparison.csv). (a″) Mean number of "
        f"units with a 60° score above {p['grid_threshold']:g} per network that path integrates; open circles: "
        f"the same networks untrained. "
        f"(b) Survival function (1 − CDF of a Gaussian KDE, Scott bandwidth) of the 60° scores of all units of "
        f"{pool}, x ∈ [{p['survival_range'][0]:g}, {p['survival_range'][1]:g}]; dashed: the same units at "
        f"initialisation (untrained baseline). (c) Example rate maps of {pool} per group within 60° score ranges "
        f"{', '.join(f'[{a:g}, {b:g})' for a, b in p['fig2c_score_ranges'])}, titled with their scores."
    )
