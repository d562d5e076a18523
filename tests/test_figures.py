"""Figures render from synthetic aggregate tables; their statistics are pinned on known inputs."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pathint import readouts
from pathint.errors import DataError
from pathint import comparison
from pathint.figures import common, fig2, fig3, fig4, fig5, module, names, trajectory
from pathint.figures.common import Tables, load_examples, save_figure, write_examples

matplotlib.use("Agg")

PARAMS = {
    "groups": list(common.PAPER_GROUPS),
    "decoding_threshold_cm": 10.0,
    "grid_threshold": 0.8,
    "high_threshold": 1.2,
    "bootstrap": 200,
    "fig3_sweep": "dos_sigma",
    "fig5_single_sweep": "dos_ideal",
    "fig5_multi_sweep": "dos_multi_fields",
    "fig4c_n_place": 128,
    "fig4c_resolution": 32,
    "fig6_sweep": None,
}
SIGMAS = (0.06, 0.08, 0.10, 0.12)
PERIOD_FACTOR = 1.05  # synthetic periods sit 5 % above the DoS theory


# ------------------------------------------------------------------------------------------ fixtures
def _hex_map(rng: np.random.Generator, bins: int, period_bins: float, clean: float) -> np.ndarray:
    x = np.arange(bins)[:, None] * np.ones((1, bins))
    y = x.T
    k = 4 * np.pi / (np.sqrt(3) * period_bins)
    m = sum(np.cos(k * (np.cos(a) * x + np.sin(a) * y)) for a in (0, np.pi / 3, 2 * np.pi / 3))
    m = clean * m + (1 - clean) * 3 * rng.standard_normal((bins, bins))
    m = m - m.min()
    m[0, :2] = np.nan  # empty bins exist in real maps
    return m.astype(np.float32)


def make_tables(seed: int = 0, n_units: int = 24, bins: int = 20, drop_groups: tuple[str, ...] = ()) -> Tables:
    """Synthetic aggregate tables covering every figure: paper groups, σ sweep, fig-5 sweeps, architectures."""
    rng = np.random.default_rng(seed)
    specs = []  # (group, readout, sweeps, sigma, s, fields, error, centre)
    readouts = {"Cartesian Low Dim": "cartesian", "Cartesian High Dim": "high_dim_cartesian",
                "Polar High Dim": "high_dim_polar", "Gaussian": "gaussian", "DoG": "difference_of_gaussians",
                "DoS": "difference_of_softmaxes", "SoD": "softmax_of_differences"}
    centres = {"Polar High Dim": 0.2, "DoS": 1.0, "DoG": 0.1}
    for group, readout in readouts.items():
        for k, err in enumerate((4.0, 6.0, 8.0, 30.0, 105.0)):
            specs.append((group, readout, group.lower().replace(" ", "_"), 0.12, 2.0, 0.0, err, centres.get(group, -0.1)))
    for sigma in SIGMAS:
        for seed_k in range(3):
            specs.append(("DoS", "difference_of_softmaxes", "dos_sigma", sigma, 2.0, 0.0, 5.0 + seed_k, 1.0))
    for k in range(3):
        specs.append(("DoS", "difference_of_softmaxes", "dos;dos_ideal", 0.12, 2.0, 0.0, 5.0 + k, 1.1))
    for k in range(4):
        specs.append(("DoS multiple fields", "difference_of_softmaxes", "dos_multi_fields",
                      json.dumps({"uniform": [0.06, 0.24]}), json.dumps({"uniform": [1.5, 2.5]}), 2.0,
                      (6.0, 9.0, 15.0, 40.0)[k], 0.0))
    archs, acts = ("RNN", "LSTM", "GRU", "UGRNN", "SRNN"), ("relu", "tanh")
    net_rows, unit_rows, examples = [], [], {}
    for i, (group, readout, sweeps, sigma, s, fields, err, centre) in enumerate(specs):
        if group in drop_groups:
            continue
        nid = f"net{i:04d}"
        diverged = group == "Cartesian Low Dim" and err > 100
        sig_f = common.fixed_value(sigma)
        score = rng.normal(centre, 0.25, n_units)
        period = (common.dos_theory_period(sig_f, 2.0) * PERIOD_FACTOR + rng.normal(0, 0.02, n_units)
                  if np.isfinite(sig_f) and readout == "difference_of_softmaxes" else rng.uniform(0.3, 1.0, n_units))
        pr = float(rng.uniform(5, 40))
        net_rows.append({
            "id": nid, "group": group, "sweeps": sweeps, "readout": readout, "n_place": 512,
            "place_cell_rf": sigma, "surround_scale": s, "fields_per_cell": fields,
            "architecture": archs[i % 5], "activation": acts[(i // 5) % 2], "n_grid": 64, "seed": i % 3,
            "status": "diverged" if diverged else "ok", "eval_error_cm": np.nan if diverged else err,
            "path_integrates": (not diverged) and err < 10, "max_score_60": float(score.max()),
            "participation_ratio_ratemaps": pr, "participation_ratio_activity": pr * 1.5, "n_units": n_units,
        })
        if diverged:
            continue
        for u in range(n_units):
            unit_rows.append({"id": nid, "group": group, "sweeps": sweeps, "readout": readout,
                              "place_cell_rf": sigma, "surround_scale": s, "architecture": archs[i % 5],
                              "activation": acts[(i // 5) % 2], "path_integrates": err < 10, "unit": u,
                              "score_60": score[u], "score_90": rng.normal(0, 0.2),
                              "period_m": period[u], "orientation_deg": rng.uniform(0, 60),
                              "mean_activity": rng.uniform(0, 1),
                              "score_60_untrained": rng.normal(-0.2, 0.15), "score_90_untrained": 0.0})
        order = np.argsort(-score)
        pick = np.concatenate([order[:3], order[[n_units // 3, n_units // 2, n_units - 1]]])
        true = np.cumsum(rng.normal(0, 0.03, (3, 20, 2)), axis=1) + rng.uniform(-0.8, 0.8, (3, 1, 2))
        examples[nid] = {
            "ratemaps": np.stack([_hex_map(rng, bins, 6.0, float(np.clip(score[j], 0, 1))) for j in pick]),
            "units": pick, "score_60": score[pick],
            "untrained_ratemaps": np.stack([_hex_map(rng, bins, 6.0, 0.0) for _ in range(2)]),
            "untrained_score_60": rng.normal(-0.2, 0.1, 2),
            "decoded": true + rng.normal(0, err / 100 / 1.3, true.shape), "true": true,
            "initial": true[:, 0] - 0.02,
        }
    return Tables(pd.DataFrame(net_rows), pd.DataFrame(unit_rows), examples)


@pytest.fixture(scope="module")
def tables() -> Tables:
    return make_tables()


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


# ------------------------------------------------------------------------------------------ rendering
@pytest.mark.parametrize("name", names())
def test_figure_renders_png_and_pdf(tables, tmp_path, name):
    fig = module(name).plot(tables, PARAMS)
    png, pdf = tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"
    save_figure(fig, png, pdf, dpi=80)
    w, h = fig.get_size_inches()
    assert _png_size(png) == (round(w * 80), round(h * 80))
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert w <= 7.5 and not list(tmp_path.glob(".*tmp*"))  # paper width; no temp files left
    assert "no networks" not in _texts(fig)  # full tables: every panel has data
    text = module(name).caption(tables, PARAMS)
    assert isinstance(text, str) and len(text) > 100


@pytest.mark.parametrize("name", names())
def test_empty_tables_render_notes(tmp_path, name):
    empty = Tables.empty()
    fig = module(name).plot(empty, PARAMS)
    save_figure(fig, tmp_path / "e.png", None, dpi=50)
    assert (tmp_path / "e.png").stat().st_size > 0
    if name != "fig4":  # panel c of Fig. 4 needs no networks; a and b do
        assert "no " in _texts(fig)
    else:
        assert "no networks" in _texts(fig)
    assert module(name).caption(empty, PARAMS)


def test_missing_group_is_noted_not_fatal(tmp_path):
    t = make_tables(drop_groups=("DoG", "SoD"))
    fig = fig2.plot(t, PARAMS)
    save_figure(fig, tmp_path / "f.png", None, dpi=40)
    table = comparison.fraction_table(t.networks, PARAMS)
    assert table.set_index("group").loc["DoG", "n"] == 0
    assert np.isnan(table.set_index("group").loc["DoG", "pi"])
    assert "no networks" in _texts(fig)
    assert "DoG: 0" in fig2.caption(t, PARAMS)
    # Fig. 4b then shows DoS alone
    sel = fig4.dos_vs_dog_networks(t, PARAMS)
    assert len(sel["DoG"]) == 0 and len(sel["DoS"]) > 0


def test_unknown_sweeps_give_notes():
    p = dict(PARAMS, fig3_sweep="nope", fig5_single_sweep="nope1", fig5_multi_sweep="nope2", fig6_sweep="nope3")
    t = make_tables()
    for mod in (fig3, fig5, module("architectures")):
        assert "no " in _texts(mod.plot(t, p))


def test_missing_column_names_it():
    t = make_tables()
    with pytest.raises(DataError, match="eval_error_cm"):
        Tables(t.networks.drop(columns=["eval_error_cm"]), t.units, {})


# ------------------------------------------------------------------------------------------ statistics
def test_bootstrap_ci_of_known_fraction():
    x = np.zeros(1000, bool)
    x[:300] = True
    f, lo, hi = common.bootstrap_fraction_ci(x, 4000, np.random.default_rng(1))
    half = 1.96 * np.sqrt(0.3 * 0.7 / 1000)  # normal approximation of the binomial CI
    assert f == pytest.approx(0.3)
    assert lo == pytest.approx(0.3 - half, abs=0.006) and hi == pytest.approx(0.3 + half, abs=0.006)
    again = common.bootstrap_fraction_ci(x, 4000, np.random.default_rng(1))
    assert again == (f, lo, hi)  # seeded
    assert all(np.isnan(common.bootstrap_fraction_ci([], 10, np.random.default_rng(0))))


def test_fraction_table_counts(tables):
    t = comparison.fraction_table(tables.networks, PARAMS).set_index("group")
    # Cartesian Low Dim: errors 4, 6, 8, 30 and one diverged -> 3 of 5
    assert t.loc["Cartesian Low Dim", "n"] == 5
    assert t.loc["Cartesian Low Dim", "pi"] == pytest.approx(0.6)
    assert t.loc["Cartesian Low Dim", "pi_lo"] < 0.6 < t.loc["Cartesian Low Dim", "pi_hi"]
    # DoS (5 + 12 σ-sweep + 3 ideal networks, all but two path integrate)
    assert t.loc["DoS", "n"] == 20 and t.loc["DoS", "n_pi"] == 18
    assert t.loc["DoS", "grid"] > 0.9


def test_survival_function_shape():
    rng = np.random.default_rng(0)
    s = rng.normal(0.2, 0.05, 500)
    x = np.linspace(-0.75, 1.2, 200)
    sf = common.kde_survival(s, x)
    assert np.all(np.diff(sf) <= 1e-12)
    assert sf[0] == pytest.approx(1.0, abs=1e-6) and sf[-1] == pytest.approx(0.0, abs=1e-6)
    assert sf[np.searchsorted(x, 0.2)] == pytest.approx(0.5, abs=0.06)
    # equals 1 − CDF of scipy's gaussian_kde
    small = rng.normal(0, 1, 40)
    kde = stats.gaussian_kde(small)
    ref = [1 - kde.integrate_box_1d(-np.inf, xi) for xi in (-1.0, 0.0, 0.7)]
    assert common.kde_survival(small, np.array([-1.0, 0.0, 0.7])) == pytest.approx(ref, abs=1e-9)
    # binned path for large samples matches the exact sum
    big = rng.normal(0, 0.3, 30000)
    assert common.kde_survival(big, x, max_exact=10**6) == pytest.approx(common.kde_survival(big, x), abs=2e-4)


def test_survival_function_degenerate_inputs():
    x = np.array([-1.0, 0.5, 2.0])
    assert np.all(np.isnan(common.kde_survival([], x)))
    assert list(common.kde_survival([1.0], x)) == [1.0, 1.0, 0.0]
    assert list(common.kde_survival([1.0, 1.0, np.nan], x)) == [1.0, 1.0, 0.0]
    assert np.isnan(common.kde_mode([]))
    assert common.kde_mode([0.7, 0.7]) == 0.7


def test_kde_mode_recovers_known_period():
    rng = np.random.default_rng(3)
    periods = np.concatenate([rng.normal(0.9, 0.05, 400), rng.uniform(0.3, 1.6, 60)])  # peak + background
    assert common.kde_mode(periods) == pytest.approx(0.9, abs=0.02)


def test_dos_theory_period():
    assert common.dos_theory_period(0.12, 2.0) / 0.12 == pytest.approx(7.547, abs=0.01)
    assert common.dos_theory_period(0.2, 3.0) > common.dos_theory_period(0.2, 2.0)
    # the period of the readouts' peak wavenumber k* (one theory function)
    assert common.dos_theory_period(0.12, 2.0) == 2 / np.sqrt(3) * 2 * np.pi / readouts.dos_peak_wavenumber(0.12, 2.0)


def test_group_labels_are_the_readout_registry_labels():
    labels = readouts.labels()
    assert common.PAPER_GROUPS == tuple(labels[n] for n in common.PAPER_READOUTS)
    # fixed colours are keyed by registered labels (a new readout's group takes a spare colour)
    assert set(common._PAPER_COLOURS) <= set(labels.values()) and len(common._PAPER_COLOURS) == 8
    assert set(common.DEFAULT_PARAMS["fig4b_groups"]) <= set(labels.values())


def test_fig3_modes_follow_sigma(tables):
    modes = comparison.mode_table(comparison.grid_periods(tables.networks, tables.units, common.resolve_params(PARAMS)))
    assert list(modes["sigma"]) == list(SIGMAS)
    expected = common.dos_theory_period(np.array(SIGMAS), 2.0) * PERIOD_FACTOR
    assert modes["mode_m"].to_numpy() == pytest.approx(expected, abs=0.02)
    assert modes["ratio"].iloc[1:].to_numpy() == pytest.approx(expected[1:] / expected[:-1], abs=0.06)


def test_fig4a_percentages(tables):
    t = fig4.threshold_table(tables, common.resolve_params(PARAMS))
    assert set(t["threshold"]) == {0.3, 0.75, 0.8, 1.15}
    # scores ~ N(1.0, 0.25): P(> 0.3) ≈ 99.7 %, P(> 1.15) ≈ 27 %
    assert t[t["threshold"] == 0.3]["percent"].mean() > 90
    assert 10 < t[t["threshold"] == 1.15]["percent"].mean() < 45
    assert (t["n_networks"] == 3).all()


def test_fig4c_dos_ring_dog_low_frequency():
    sigma, s = 0.12, 2.0
    kstar = np.sqrt(4 * np.log(s) / (sigma**2 * (s**2 - 1)))
    _, corr, k, amp = fig4.readout_correlation(fig4.DOS, sigma, s, 256, 2.2, 48, seed=0)
    assert corr.shape == (48, 48) and corr[24, 24] == pytest.approx(1.0) and amp.shape == (48, 48)
    assert fig4.ring_radius(k, amp) == pytest.approx(kstar, rel=0.3)
    _, _, k, amp = fig4.readout_correlation(fig4.DOG, sigma, s, 256, 2.2, 48, seed=0)
    assert fig4.ring_radius(k, amp) < 0.4 * kstar


def test_fig5_and_trajectory_selections(tables):
    p = common.resolve_params(PARAMS)
    sel = fig5.selections(tables, p)
    assert {k: len(v) for k, v in sel.items()} == {"DoS": 3, "DoS multiple fields": 4}
    maps = fig5.top_maps(tables, sel["DoS multiple fields"], 4, p)
    assert len(maps) == 4 and maps[0][1] >= maps[-1][1]
    row = trajectory.representative(tables, "Gaussian")
    assert row["eval_error_cm"] == 8.0  # median of 4, 6, 8, 30, 105


# ------------------------------------------------------------------------------------------ inputs
def test_examples_roundtrip_and_errors(tables, tmp_path):
    path = tmp_path / "examples.h5"
    sub = dict(list(tables.examples.items())[:3])
    write_examples(path, sub)
    back = load_examples(path)
    assert set(back) == set(sub)
    nid = next(iter(sub))
    np.testing.assert_array_equal(back[nid]["ratemaps"], sub[nid]["ratemaps"])
    assert back[nid]["ratemaps"].dtype == np.float32
    bad = dict(sub[nid], score_60=np.zeros(2))
    with pytest.raises(DataError, match="score_60"):
        write_examples(tmp_path / "bad.h5", {nid: bad})
    assert not (tmp_path / "bad.h5").exists()
    with pytest.raises(DataError, match="decoded"):
        write_examples(tmp_path / "bad.h5", {nid: {k: v for k, v in sub[nid].items() if k != "decoded"}})
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="junk.h5"):
        load_examples(tmp_path / "junk.h5")
    with pytest.raises(DataError, match="missing.h5"):
        load_examples(tmp_path / "missing.h5")


def test_parse_scalar():
    assert common.parse_scalar(0.12) == 0.12
    assert common.parse_scalar("2") == 2.0
    assert common.parse_scalar('{"uniform": [0.06, 0.18]}') == (0.06, 0.18)
    assert common.parse_scalar({"uniform": [1, 2]}) == (1.0, 2.0)
    assert np.isnan(common.fixed_value('{"uniform": [0.06, 0.18]}'))
    with pytest.raises(DataError, match="abc"):
        common.parse_scalar("abc")


def test_select_sweep_exact_names(tables):
    n = tables.networks
    assert len(common.select_sweep(n, "dos_ideal")) == 3
    assert len(common.select_sweep(n, "dos")) == 8  # 5 DoS-group networks + 3 ideal (also in "dos")
    assert len(common.select_sweep(n, "do")) == 0
    assert len(common.select_sweep(n, None)) == len(n)


def test_bad_params_name_the_key():
    from pathint.errors import ConfigError

    with pytest.raises(ConfigError, match="grid_threshold"):
        common.resolve_params({"grid_threshold": "high"})
    with pytest.raises(ConfigError, match="bootstrap"):
        common.resolve_params({"bootstrap": 0})
