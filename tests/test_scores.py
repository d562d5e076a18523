"""Grid scores: the fast batched path against the per-map reference, and known-answer maps."""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi

from pathint import scores as S


def lattice(n: int, period: float, angle_deg: float = 0.0, phase=(0.3, 0.7), square: bool = False) -> np.ndarray:
    """Sum of plane waves: a hexagonal (3 waves, 60° apart) or square (2 waves) lattice of period
    ``period`` bins whose nearest-neighbour direction is at ``angle_deg`` from the first axis."""
    x = np.arange(n)[:, None] - phase[0]
    y = np.arange(n)[None, :] - phase[1]
    if square:
        k = 2 * np.pi / period
        dirs = (0, 90)
        shift = 0.0
    else:
        k = 4 * np.pi / (np.sqrt(3) * period)
        dirs = (0, 60, 120)
        shift = 30.0  # wave vectors sit 30° off the lattice directions
    out = np.zeros((n, n))
    for d in dirs:
        th = np.deg2rad(d + angle_deg + shift)
        out += np.cos(k * (np.cos(th) * x + np.sin(th) * y))
    return out


def synthetic_maps(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    x = np.arange(n)[:, None] * np.ones((1, n))
    y = np.ones((n, 1)) * np.arange(n)[None, :]
    holed = np.maximum(lattice(n, n / 5.5, 17), 0)
    holed[rng.random((n, n)) < 0.15] = np.nan
    holed[:3, :4] = np.nan
    return {
        "hexagonal": np.maximum(lattice(n, n / 5, 10), 0),
        "square": lattice(n, n / 4.5, 5, square=True),
        "band": np.cos(2 * np.pi * x / (n / 3.3)),
        "single_field": np.exp(-((x - 0.35 * n) ** 2 + (y - 0.6 * n) ** 2) / (2 * (0.04 * n) ** 2)),
        "noise": ndi.gaussian_filter(rng.random((n, n)), 1.0),
        "nan_holed": holed,
        "offset_field": 5.0 + 0.01 * np.exp(-((x - 0.5 * n) ** 2 + (y - 0.5 * n) ** 2) / (2 * (0.1 * n) ** 2)),
    }


@pytest.mark.parametrize("n", [20, 44])
def test_fast_matches_reference(n):
    maps = synthetic_maps(n, np.random.default_rng(n))
    names = list(maps)
    stack = np.stack([maps[k] for k in names])
    f60, f90 = S.grid_scores(stack, min_max=True)
    for i, name in enumerate(names):
        r60, r90 = S.grid_scores_reference(stack[i], min_max=True)
        assert abs(f60[i] - r60) <= 1e-9, (name, f60[i], r60)
        assert abs(f90[i] - r90) <= 1e-9, (name, f90[i], r90)


def test_fast_matches_reference_mean_variant():
    maps = synthetic_maps(20, np.random.default_rng(3))
    stack = np.stack(list(maps.values()))
    f60, f90 = S.grid_scores(stack, min_max=False)
    ref = np.array([S.grid_scores_reference(m, min_max=False) for m in stack])
    np.testing.assert_allclose(f60, ref[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(f90, ref[:, 1], rtol=0, atol=1e-9)
    # The two 60° variants differ on a real grid (min-max is never above mean-mean).
    g60, _ = S.grid_scores(stack, min_max=True)
    assert np.all(g60 <= f60 + 1e-12) and np.any(g60 < f60 - 1e-3)


def test_autocorrelogram_fast_matches_reference_and_definition():
    rng = np.random.default_rng(0)
    maps = synthetic_maps(12, rng)
    stack = np.stack(list(maps.values()))
    fast = S.autocorrelogram(stack)
    for i, name in enumerate(maps):
        ref = S.autocorrelogram_reference(stack[i])
        # offset_field (5 + 0.01·bump): at the 2-bin corner lags the parts differ by ~1e-15 of their
        # value, so the reference's own centring rounds at 1e-8 (exact Pearson of 2 points is ±1).
        atol = 1e-7 if name == "offset_field" else 1e-11
        np.testing.assert_allclose(fast[i], ref, rtol=0, atol=atol, err_msg=name)
    # Pin one lag to the definition: Pearson of the overlapping parts (NaN -> 0 first).
    x = np.nan_to_num(stack[5], nan=0.0)
    dx, dy = 3, -2
    a = x[0 : 12 - dx, 2:12]
    b = x[dx:12, 0 : 12 + dy]
    assert fast[5, 11 + dx, 11 + dy] == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], abs=1e-12)
    # Zero lag correlates a map with itself; the SAC is point-symmetric.
    assert fast[0, 11, 11] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(fast, fast[:, ::-1, ::-1], atol=1e-12)


def test_narrow_field_low_overlap_lags_are_exact():
    """The FFT trap: tiny tail products at low-overlap lags must survive (relative, not absolute accuracy)."""
    n = 44
    x = np.arange(n)[:, None]
    y = np.arange(n)[None, :]
    field = np.exp(-((x - 10) ** 2 + (y - 30) ** 2) / (2 * 1.2**2))[None]
    fast = S.autocorrelogram(field)[0]
    ref = S.autocorrelogram_reference(field[0])
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-10)


def test_rotation_operator_matches_scipy_rotate():
    """The folded operator on the half coefficient table equals rotate() at the half-ring points."""
    n = 20
    m = 2 * n - 1
    rng = np.random.default_rng(1)
    half = rng.normal(size=(n, m))
    half[0] = (half[0] + half[0, ::-1]) / 2  # lag (0, dy) is lag (0, −dy)
    sac = S._full_from_half(half[None])[0]  # point-symmetric, as every SAC
    assert np.array_equal(sac, sac[::-1, ::-1])
    points, sizes = S._half_ring_geometry(n)
    coeff = ndi.spline_filter(sac, 3, mode="constant", output=np.float64)
    rotated = (S._rotation_operator(n) @ coeff[n - 1 :].ravel()).reshape(len(S.ANGLES), -1)
    for i, angle in enumerate(S.ANGLES):
        expected = ndi.rotate(sac, angle, reshape=False, order=3, mode="constant", cval=0.0)[n - 1 :].ravel()[points]
        np.testing.assert_allclose(rotated[i], expected, rtol=0, atol=1e-13)
    assert sizes[-1] == points.size and np.all(np.diff(sizes) >= 0)
    # The two matrix products of the prefilter are rotate()'s spline_filter.
    bm = S._prefilter_matrix(m)
    np.testing.assert_allclose(bm @ sac @ bm.T, coeff, rtol=0, atol=1e-13)


def test_fft_path_and_exact_fallback_are_both_used():
    """Noisy grids take the FFT cross sums; a narrow field's tails fail the error bound and go exact."""
    n = 44
    x = np.arange(n)[:, None]
    y = np.arange(n)[None, :]
    rng = np.random.default_rng(4)
    grid = np.maximum(lattice(n, 9, 12), 0) + 0.3 * rng.random((n, n))
    field = np.exp(-((x - 10) ** 2 + (y - 30) ** 2) / (2 * 1.2**2))
    _, n_exact = S._sac_half(np.stack([grid, grid.T, field]))
    assert n_exact == 1
    # The FFT path itself is exact to ~1e-13 on the grid (checked against the direct reference).
    np.testing.assert_allclose(S.autocorrelogram(grid[None])[0], S.autocorrelogram_reference(grid), rtol=0, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_and_devices_give_the_same_scores(threads):
    step = S._chunk_maps(10**6, 20)
    assert step == S._CHUNK_BINS // 400 and S._chunk_maps(100, 20, threads=2) == 50
    maps = ndi.gaussian_filter(np.random.default_rng(8).random((2 * step + 5, 20, 20)), (0, 1.5, 1.5))
    one60, one90 = S.grid_scores(maps, device="cpu")
    s60, s90 = S.grid_scores(maps, threads=threads, device="auto")
    np.testing.assert_array_equal(s60, one60)
    np.testing.assert_array_equal(s90, one90)
    assert S.grid_scores(maps[:0])[0].shape == (0,)
    with pytest.raises(ValueError, match="threads"):
        S.grid_scores(maps, threads=0)
    with pytest.raises(ValueError, match="device='gpu'"):
        S.grid_scores(maps, device="gpu")


def test_constant_and_empty_maps_score_zero():
    maps = np.stack([np.full((20, 20), 0.37), np.full((20, 20), np.nan), np.zeros((20, 20))])
    s60, s90 = S.grid_scores(maps)
    assert np.array_equal(s60, np.zeros(3)) and np.array_equal(s90, np.zeros(3))
    assert S.grid_scores_reference(maps[0]) == (0.0, 0.0)


def test_known_answers():
    n = 44
    hexagonal = np.maximum(lattice(n, 9, 12), 0)
    square = lattice(n, 9, 0, square=True)
    noise = ndi.gaussian_filter(np.random.default_rng(2).random((n, n)), 1.0)
    s60, s90 = S.grid_scores(np.stack([hexagonal, square, noise]))
    assert s60[0] > 1.0 and s60[0] > s90[0]
    assert s90[1] > 1.0 and s60[1] < 0.3
    assert abs(s60[2]) < 0.5


def test_batch_invariance_and_shapes():
    maps = np.stack(list(synthetic_maps(20, np.random.default_rng(5)).values()))
    s60, s90 = S.grid_scores(maps)
    one60, one90 = S.grid_scores(maps[2])
    assert s60.shape == (maps.shape[0],) and s60.dtype == np.float64
    assert one60[0] == pytest.approx(s60[2], abs=1e-12) and one90[0] == pytest.approx(s90[2], abs=1e-12)
    with pytest.raises(ValueError, match="shape"):
        S.grid_scores(np.zeros((3, 20, 21)))


@pytest.mark.parametrize("period,angle", [(8.0, 0.0), (10.0, 13.0), (12.0, 25.0), (7.0, 40.0), (9.0, 55.0)])
def test_period_and_orientation(period, angle):
    bin_size = 0.05
    p, o = S.grid_period_orientation(lattice(44, period, angle)[None], bin_size)
    assert abs(p[0] - period * bin_size) <= bin_size
    circ = abs((o[0] - angle + 30) % 60 - 30)
    assert circ <= 2.0 and 0 <= o[0] < 60


def test_period_nan_without_peaks():
    p, o = S.grid_period_orientation(np.full((1, 20, 20), 1.0), 0.1)
    assert np.isnan(p[0]) and np.isnan(o[0])


def test_participation_ratio():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 8))
    assert S.participation_ratio(x) == pytest.approx(8.0, rel=0.02)
    rank1 = np.outer(rng.normal(size=500), rng.normal(size=6))
    assert S.participation_ratio(rank1) == pytest.approx(1.0, abs=1e-9)
    y = rng.normal(size=(300, 5)) * np.array([3.0, 2.0, 1.0, 0.5, 0.1])
    lam = np.linalg.eigvalsh(np.cov(y, rowvar=False))
    assert S.participation_ratio(y) == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-10)
    # More samples than units and fewer samples than units give the same ratio (Gram trick).
    z = rng.normal(size=(6, 40))
    lam = np.linalg.eigvalsh(np.cov(z, rowvar=False))
    assert S.participation_ratio(z) == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-9)
    assert isinstance(S.participation_ratio(z), float)


def test_ratemap_participation_ratio_and_smoothing():
    rng = np.random.default_rng(1)
    base = rng.random((20, 20))
    same = np.stack([base * s for s in (1.0, 2.0, 3.0)])
    same[:, 0, 0] = np.nan  # an unvisited bin does not break smoothing
    assert S.ratemap_participation_ratio(same) == pytest.approx(1.0, abs=1e-9)
    many = rng.random((30, 20, 20))
    assert 1.0 < S.ratemap_participation_ratio(many) < 30.0
    smooth = S.smooth_rate_maps(np.where(np.eye(20, dtype=bool)[None], np.nan, np.ones((1, 20, 20))))
    assert np.allclose(smooth, 1.0)  # normalised convolution keeps a constant map constant


def test_chunking_does_not_change_results(monkeypatch):
    monkeypatch.setattr(S, "_CHUNK_BINS", 16 * 100)  # 16 maps of 10×10 per chunk
    chunk = 16
    maps = ndi.gaussian_filter(np.random.default_rng(9).random((chunk + 6, 10, 10)), (0, 1, 1))
    s60, s90 = S.grid_scores(maps)
    part60, part90 = S.grid_scores(maps[chunk - 2 :])
    np.testing.assert_allclose(s60[chunk - 2 :], part60, atol=1e-12)
    np.testing.assert_allclose(s90[chunk - 2 :], part90, atol=1e-12)
    assert S.autocorrelogram(maps).shape == (chunk + 6, 19, 19)


def test_scores_with_sac_reuse_the_autocorrelogram():
    maps = np.stack(list(synthetic_maps(20, np.random.default_rng(6)).values()))
    s60, s90, sac = S.grid_scores_with_sac(maps, device="cpu")
    np.testing.assert_array_equal(s60, S.grid_scores(maps, device="cpu")[0])
    np.testing.assert_array_equal(s90, S.grid_scores(maps, device="cpu")[1])
    np.testing.assert_array_equal(sac, S.autocorrelogram(maps))
    p0, o0 = S.grid_period_orientation(maps, 0.05)
    p1, o1 = S.grid_period_orientation(maps, 0.05, sac=sac)
    np.testing.assert_array_equal(p0, p1)
    np.testing.assert_array_equal(o0, o1)
    with pytest.raises(ValueError, match="sac must have shape"):
        S.grid_period_orientation(maps, 0.05, sac=sac[:, 1:])


DEEPMIND = os.environ.get("PATHINT_DEEPMIND_GRID_CELLS")


@pytest.mark.skipif(not DEEPMIND, reason="PATHINT_DEEPMIND_GRID_CELLS (a clone of google-deepmind/grid-cells) not set")
@pytest.mark.parametrize("n", [20, 44])
def test_matches_deepmind_scorer(n):
    """Against DeepMind's own GridScorer, both 60° forms (its min_max option) and the 90° score.

    Only maps on which its one-pass variance does not cancel: a band needs noise, a constant must be a
    short binary fraction (bench/bench_scores.py lists the degenerate cases).
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    spec = importlib.util.spec_from_file_location("deepmind_scores", Path(DEEPMIND) / "scores.py")
    dm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dm)
    rng = np.random.default_rng(n)
    syn = synthetic_maps(n, rng)
    maps = [syn[k] for k in ("hexagonal", "square", "noise", "nan_holed")]
    maps += [syn["band"] + 0.2 * rng.random((n, n)), np.maximum(lattice(n, n / 4, 7), 0) + 0.3 * rng.random((n, n))]
    maps += [np.full((n, n), c) for c in (0.0, 0.5, 1.0, 3.0)]
    stack = np.stack(maps)
    rings = list(zip([0.2] * 10, np.linspace(0.4, 1.0, 10).tolist()))
    for min_max in (True, False):
        scorer = dm.GridScorer(n, ((-1.1, 1.1), (-1.1, 1.1)), rings, min_max=min_max)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = np.array([scorer.get_scores(m)[:2] for m in stack])
        ours = np.column_stack(S.grid_scores(stack, min_max, device="cpu"))
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
