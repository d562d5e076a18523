"""Readout encodings, losses and decoders (SPEC §2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pathint import readouts as R
from pathint.config import NetworkConfig, Uniform
from pathint.errors import ConfigError, DataError
from pathint.readouts import (
    Readout,
    decoding_error_cm,
    dos_peak_wavenumber,
    fourier_amplitude,
    make_readout,
    min_spread_points,
    spatial_correlation,
)

PLACE = [
    "gaussian",
    "difference_of_softmaxes",
    "difference_of_gaussians",
    "softmax_of_differences",
    "general_difference_of_gaussians",
]
ALL_CONFIGS = {
    "cartesian": dict(readout="cartesian", n_place=2),
    "high_dim_cartesian": dict(readout="high_dim_cartesian"),
    "high_dim_polar": dict(readout="high_dim_polar"),
    "gaussian": dict(readout="gaussian"),
    "gaussian_none": dict(readout="gaussian", gaussian_normalisation="none"),
    "dos": dict(readout="difference_of_softmaxes"),
    "dog": dict(readout="difference_of_gaussians"),
    "sod": dict(readout="softmax_of_differences"),
    "general_dog": dict(readout="general_difference_of_gaussians", alpha_e=2.0, alpha_i=0.5),
    "dos_multi": dict(
        readout="difference_of_softmaxes",
        fields_per_cell=2.0,
        place_cell_rf=Uniform(0.06, 0.24),
        surround_scale=Uniform(1.5, 2.5),
    ),
}


def build(seed: int = 0, **kw) -> Readout:
    return make_readout(NetworkConfig(**kw), np.random.default_rng(seed))


@pytest.fixture(scope="module")
def positions() -> torch.Tensor:
    """Uniform positions in the box, shaped like a batch (B=50, T=20)."""
    rng = np.random.default_rng(123)
    return torch.from_numpy(rng.uniform(-1.1, 1.1, (50, 20, 2)).astype(np.float32))


def reference_targets(ro: Readout, pos: np.ndarray) -> np.ndarray:
    """Plain float64 numpy formulas of SPEC §2 for single-field place codes."""
    st = ro.state()
    u, sig, s = st["param_centres"][:, 0], st["param_sigma"][:, 0], st["param_s"][:, 0]
    d2 = ((pos[:, None, :] - u[None]) ** 2).sum(-1)
    q, r = d2 / (2 * sig**2), d2 / (2 * (s * sig) ** 2)

    def softmax(a):
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def shift(z):
        z = z - z.min(-1, keepdims=True)
        return z / z.sum(-1, keepdims=True)

    return {
        "gaussian": lambda: softmax(-q) if ro.normalisation == "softmax" else np.exp(-q),
        "difference_of_softmaxes": lambda: shift(softmax(-q) - softmax(-r)),
        "difference_of_gaussians": lambda: shift(np.exp(-q) - np.exp(-r)),
        "softmax_of_differences": lambda: softmax(-q + r),
        "general_difference_of_gaussians": lambda: shift(ro.alpha_e * np.exp(-q) - ro.alpha_i * np.exp(-r)),
    }[ro.name]()


# ---------------------------------------------------------------------- formulas
@pytest.mark.parametrize("key", ["gaussian", "gaussian_none", "dos", "dog", "sod", "general_dog"])
def test_place_codes_match_float64_reference(key, positions):
    ro = build(**ALL_CONFIGS[key])
    pos = positions.reshape(-1, 2)
    ref = reference_targets(ro, pos.numpy().astype(np.float64))
    y = ro.encode(pos).numpy()
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_dos_is_a_distribution(positions):
    y = build(readout="difference_of_softmaxes").encode(positions)
    assert y.shape == (50, 20, 512)
    assert float(y.min()) >= 0.0
    # the shift puts exactly one zero (the least active cell) in every row
    assert torch.all((y == 0).sum(-1) >= 1)
    torch.testing.assert_close(y.sum(-1), torch.ones(50, 20), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "name", ["softmax_of_differences", "gaussian", "difference_of_gaussians", "general_difference_of_gaussians"]
)
def test_normalised_codes_sum_to_one(name, positions):
    y = build(readout=name, alpha_e=0.5, alpha_i=3.0).encode(positions)
    assert float(y.min()) >= 0.0
    torch.testing.assert_close(y.sum(-1), torch.ones(50, 20), atol=1e-5, rtol=0)


def test_true_dog_is_a_dip_zero_at_own_centre(positions):
    ro = build(readout="difference_of_gaussians", place_cell_rf=0.1, surround_scale=3.0)
    assert float(ro.unnormalised(positions).max()) <= 0.0
    centres = torch.from_numpy(ro.state()["param_centres"][:, 0].astype(np.float32))
    z = ro.unnormalised(centres)  # row i = position of cell i's centre
    assert torch.all(torch.diagonal(z) == 0.0)
    # off-diagonal cells near that position respond negatively (a dip, not a peak)
    assert float((z - torch.diag(torch.diagonal(z))).min()) < -0.1
    # after shift and rescale the cell at its own centre is (one of) the most active
    y = ro.encode(centres)
    assert torch.all(torch.diagonal(y) == y.max(-1).values)


def test_dog_far_from_all_centres_has_no_nan():
    """Tiny sigma: exp(-q) underflows everywhere; the rescaled formula must still give a distribution."""
    ro = build(readout="difference_of_gaussians", place_cell_rf=0.01, n_place=16)
    y = ro.encode(torch.tensor([[1.09, 1.09], [-1.0, 0.3]]))
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.sum(-1), torch.ones(2), atol=1e-5, rtol=0)


def test_exp_flushed_is_torch_exp_above_its_floor():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.empty(20000).uniform_(-300.0, 10.0, generator=g),
                   torch.tensor([-87.0, -86.99, -87.01, 0.0, -math.inf, math.nan])])  # fmt: skip
    e, ref = R.exp_flushed(x), torch.exp(x)
    kept = ref > R._EXP_FLOOR_VALUE
    assert torch.equal(e[kept], ref[kept])
    assert torch.all(e[~kept & ~x.isnan()] == 0.0) and int((~kept).sum()) > 10000
    assert e[-1].isnan()


@pytest.mark.parametrize("name", ["difference_of_gaussians", "general_difference_of_gaussians"])
@pytest.mark.parametrize("sigma", [0.04, 0.12])
def test_dog_targets_bitwise_as_with_plain_exp(name, sigma, positions, monkeypatch):
    """Flushing the exponentials' smallest results (for speed) leaves a batch's DoG targets bit for bit as
    plain ``exp`` gives them: those results vanish in the shift by the row's minimum."""
    ro = build(readout=name, place_cell_rf=sigma, alpha_e=2.0, alpha_i=0.5)
    y = ro.encode(positions)
    monkeypatch.setattr(R, "exp_flushed", torch.exp)
    assert torch.equal(y, ro.encode(positions))


def test_gaussian_none_is_unnormalised_and_mse():
    ro = build(readout="gaussian", gaussian_normalisation="none")
    assert ro.loss_kind == "mse"
    centres = torch.from_numpy(ro.state()["param_centres"][:, 0].astype(np.float32))
    torch.testing.assert_close(torch.diagonal(ro.encode(centres)), torch.ones(512))


def test_linear_codes_formulas():
    x = torch.tensor([[0.3, -0.4], [-1.0, 0.5]])
    ro = build(readout="high_dim_cartesian", n_place=128)
    st = ro.state()
    torch.testing.assert_close(
        ro.encode(x), x @ torch.from_numpy(st["param_A"]).float() + torch.from_numpy(st["param_c"]).float()
    )
    ro = build(readout="high_dim_polar", n_place=128)
    st = ro.state()
    y = ro.encode(x).double().numpy()
    xn = x.double().numpy()
    radius, theta = np.hypot(xn[:, 0], xn[:, 1])[:, None], np.arctan2(xn[:, 1], xn[:, 0])[:, None]
    np.testing.assert_allclose(y[:, :64], st["param_b"] * radius + st["param_c"], atol=1e-6)
    np.testing.assert_allclose(y[:, 64:], np.exp(np.cos(theta - st["param_mu"])), atol=1e-6)
    assert build(readout="cartesian", n_place=2).encode(x).equal(x)


def test_multi_field_cell_uses_nearest_field_and_its_surround():
    """Two fields per cell: the code equals a one-field code built from each cell's nearer field."""
    rng = np.random.default_rng(5)
    n = 8
    centres = rng.uniform(-1, 1, (n, 2, 2))
    sigma = rng.uniform(0.1, 0.3, (n, 2))
    s = rng.uniform(1.5, 3.0, (n, 2))
    mask = np.ones((n, 2), bool)
    mask[3, 1] = False  # cell 3 has one field
    multi = Readout("difference_of_softmaxes", n, dict(centres=centres, field_mask=mask, sigma=sigma, s=s))
    x = np.array([0.2, -0.1])
    q = ((x - centres) ** 2).sum(-1) / (2 * sigma**2)
    q[~mask] = np.inf
    f = q.argmin(1)
    pick = lambda a: a[np.arange(n), f][:, None]  # noqa: E731
    single = Readout(
        "difference_of_softmaxes",
        n,
        dict(centres=centres[np.arange(n), f][:, None], field_mask=np.ones((n, 1), bool), sigma=pick(sigma), s=pick(s)),
    )
    assert f[3] == 0 and len(set(f.tolist())) == 2  # both fields are used by some cell
    xt = torch.tensor(x[None], dtype=torch.float32)
    torch.testing.assert_close(multi.encode(xt), single.encode(xt), atol=1e-6, rtol=1e-5)


def test_field_counts_and_uniform_scales_are_drawn_per_field():
    ro = build(**ALL_CONFIGS["dos_multi"])
    st = ro.state()
    counts = st["param_field_mask"].sum(1)
    assert counts.min() >= 1 and abs(counts.mean() - 3.0) < 0.3  # 1 + Poisson(2)
    sig = st["param_sigma"][st["param_field_mask"]]
    s = st["param_s"][st["param_field_mask"]]
    assert 0.06 <= sig.min() and sig.max() <= 0.24 and sig.std() > 0.03
    assert 1.5 <= s.min() and s.max() <= 2.5 and s.std() > 0.2


# ---------------------------------------------------------------------- conventions, seeds, state
def test_sorscher_convention_is_nfl_with_sqrt_s(positions):
    a = build(seed=3, readout="difference_of_softmaxes", surround_scale=4.0, surround_convention="sorscher")
    b = build(seed=3, readout="difference_of_softmaxes", surround_scale=2.0)
    torch.testing.assert_close(a.encode(positions), b.encode(positions), atol=1e-7, rtol=1e-6)
    c = build(seed=3, readout="difference_of_softmaxes", surround_scale=4.0)
    assert not torch.allclose(a.encode(positions), c.encode(positions), atol=1e-5)


def test_same_seed_same_centres_different_seed_different():
    a, b, c = build(seed=7).state(), build(seed=7).state(), build(seed=8).state()
    np.testing.assert_array_equal(a["param_centres"], b["param_centres"])
    assert not np.allclose(a["param_centres"], c["param_centres"])
    assert np.abs(a["param_centres"]).max() <= 1.1


@pytest.mark.parametrize("key", list(ALL_CONFIGS))
def test_state_round_trip(key, positions, tmp_path):
    ro = build(seed=11, **ALL_CONFIGS[key])
    st = ro.state()
    for k, v in st.items():
        assert isinstance(v, (np.ndarray, str, int, float)), (k, type(v))
    np.savez(tmp_path / "st.npz", **st)  # as a training checkpoint might store it
    loaded = {k: (v.item() if v.ndim == 0 else v) for k, v in np.load(tmp_path / "st.npz").items()}
    rebuilt = Readout.from_state(loaded)
    assert rebuilt.name == ro.name and rebuilt.n_out == ro.n_out and rebuilt.loss_kind == ro.loss_kind
    assert torch.equal(rebuilt.encode(positions), ro.encode(positions))
    y = ro.encode(positions)
    assert torch.equal(rebuilt.decode(y), ro.decode(y))


def test_bad_state_and_config_raise():
    with pytest.raises(DataError, match="centres"):
        Readout.from_state({"name": "difference_of_softmaxes", "n_out": 4})
    with pytest.raises(ConfigError, match="nonsense"):
        Readout("nonsense", 4, {})
    with pytest.raises(DataError, match="name"):
        Readout.from_state({"n_out": 4})


# ---------------------------------------------------------------------- dtype and device
@pytest.mark.parametrize("key", list(ALL_CONFIGS))
def test_float32_everywhere(key, positions):
    ro = build(**ALL_CONFIGS[key])
    y = ro.encode(positions.double())  # float64 input is not propagated
    assert y.dtype == torch.float32 and y.shape == (50, 20, ro.n_out)
    out = (y + 0.01 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))).requires_grad_()
    loss = ro.loss(out, y)
    assert loss.dtype == torch.float32 and loss.ndim == 0
    loss.backward()
    assert out.grad is not None and out.grad.dtype == torch.float32
    d = ro.decode(y)
    assert d.dtype == torch.float32 and d.shape == (50, 20, 2)
    assert ro.to("cpu") is ro


# ---------------------------------------------------------------------- losses
@pytest.mark.parametrize("name, max_entropy", [("difference_of_softmaxes", 6.2), ("gaussian", 3.5)])
def test_cross_entropy_perfect_vs_uniform(name, max_entropy, positions):
    """CE of perfect logits log(y) = entropy H(y); of uniform logits = log n; the gap is KL(y || uniform).
    DoS targets sit on a flat baseline after the shift, so their entropy is close to log n."""
    ro = build(readout=name)
    y = ro.encode(positions)
    perfect = torch.log(y.clamp_min(1e-30))
    entropy = -(y * torch.log(y.clamp_min(1e-30))).sum(-1).mean()
    torch.testing.assert_close(ro.loss(perfect, y), entropy, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(ro.loss(torch.zeros_like(y), y), torch.tensor(math.log(512.0)), atol=1e-4, rtol=0)
    assert float(entropy) < max_entropy
    # any other logits do worse than the perfect ones (Gibbs' inequality)
    noisy = perfect.clamp_min(-60) + 0.3 * torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    assert ro.loss(noisy, y) > ro.loss(perfect, y)


def test_mse_loss():
    ro = build(readout="high_dim_cartesian")
    y = ro.encode(torch.tensor([[0.1, 0.2], [0.5, -0.7]]))
    assert float(ro.loss(y, y)) == 0.0
    torch.testing.assert_close(ro.loss(torch.zeros_like(y), y), y.square().mean())
    with pytest.raises(ValueError, match="shape"):
        ro.loss(y[:1], y)


# ---------------------------------------------------------------------- decoding
def test_decoding_exact_for_cartesian_codes(positions):
    for key in ("cartesian", "high_dim_cartesian"):
        ro = build(**ALL_CONFIGS[key])
        assert decoding_error_cm(ro, ro.encode(positions), positions) < 1e-3


def test_polar_decoding():
    """Radius exact; angle = mu of the most active angle unit, hence exact at any mu_j and otherwise
    within half the largest gap between neighbouring mu."""
    ro = build(readout="high_dim_polar")
    mu = np.sort(ro.state()["param_mu"])
    radius = np.random.default_rng(0).uniform(0.1, 1.0, mu.size)
    at_mu = np.stack([radius * np.cos(mu), radius * np.sin(mu)], -1).astype(np.float32)
    dec = ro.decode(ro.encode(torch.from_numpy(at_mu))).numpy()
    np.testing.assert_allclose(np.hypot(*dec.T), radius, atol=2e-5)
    # exact up to float32 ties between units whose mu differ by < 1e-3 rad (cos is flat at its peak)
    np.testing.assert_allclose(np.arctan2(dec[:, 1], dec[:, 0]), mu, atol=1e-3)
    # "exact": mu itself up to the float32 cos/sin/arctan2 round trip, whose last bits depend on the maths
    # library (an exact-equality check passed here and failed on a 16-core AVX-512 machine with numpy 2.5)
    assert (np.abs(np.arctan2(dec[:, 1], dec[:, 0]) - mu) < 1e-5).mean() > 0.9

    rng = np.random.default_rng(1)
    pos = rng.uniform(-1.1, 1.1, (2000, 2)).astype(np.float32)
    dec = ro.decode(ro.encode(torch.from_numpy(pos))).numpy()
    np.testing.assert_allclose(np.hypot(*dec.T), np.hypot(*pos.T), atol=2e-5)
    gap = np.diff(np.concatenate([mu, [mu[0] + 2 * np.pi]])).max()
    dtheta = np.abs((np.arctan2(dec[:, 1], dec[:, 0]) - np.arctan2(pos[:, 1], pos[:, 0]) + np.pi) % (2 * np.pi) - np.pi)
    assert dtheta.max() <= gap / 2 + 1e-5
    assert decoding_error_cm(ro, ro.encode(torch.from_numpy(pos)), torch.from_numpy(pos)) < 3.0


@pytest.mark.parametrize(
    "name", ["gaussian", "difference_of_softmaxes", "softmax_of_differences", "general_difference_of_gaussians"]
)
def test_place_code_top3_decoding_floor(name, positions):
    ro = build(readout=name, alpha_e=2.0, alpha_i=0.5)
    y = ro.encode(positions)
    err = decoding_error_cm(ro, y, positions)
    assert err < 5.0
    # the logits log(y) of a perfect network decode the same (top-k is invariant to monotone maps)
    assert decoding_error_cm(ro, torch.log(y.clamp_min(1e-30)), positions) == pytest.approx(err, abs=1e-4)
    # and a random readout decodes at ~1 m
    junk = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    assert decoding_error_cm(ro, junk, positions) > 60.0


def test_true_dog_decodes_from_least_active(positions):
    ro = build(readout="difference_of_gaussians")
    assert ro.decode_least_active
    y = ro.encode(positions)
    least = decoding_error_cm(ro, y, positions)
    centres = ro._t["centres"][:, 0]
    top = centres[torch.topk(y, 3, dim=-1).indices].mean(-2)
    most = float(torch.linalg.vector_norm(top - positions, dim=-1).mean()) * 100
    # the dip (surround ring) locates x; the most active cells (flat ~0 far away) do not
    assert least < 20.0 < most


def test_multi_field_decoding_is_accurate(positions):
    ro = build(**ALL_CONFIGS["dos_multi"])
    assert ro.max_fields > 1
    assert decoding_error_cm(ro, ro.encode(positions), positions) < 5.0


def test_min_spread_picks_the_tightest_triple():
    """Cell fields (F = 3, padded): the tight triple mixes field indices (1, 2, 0); a padded field
    sitting at the right spot must be ignored."""
    nan = 0.0
    centres = torch.tensor(
        [
            [
                [[-1.0, -1.0], [0.50, 0.50], [0.9, -0.9]],  # cell A: field 1 near (0.5, 0.5)
                [[0.8, 0.8], [-0.5, 0.9], [0.52, 0.47]],  # cell B: field 2
                [[0.49, 0.53], [nan, nan], [0.5, 0.5]],  # cell C: field 0 (field 2 is padding)
            ]
        ]
    )
    mask = torch.tensor([[[True, True, True], [True, True, True], [True, False, False]]])
    pts = min_spread_points(centres, mask)
    expected = torch.tensor([[[0.5, 0.5], [0.52, 0.47], [0.49, 0.53]]])
    assert torch.equal(pts, expected)
    # brute force agrees on random cases, and chunking does not change results
    g = torch.Generator().manual_seed(0)
    c = torch.rand(200, 3, 4, 2, generator=g)
    m = torch.rand(200, 3, 4, generator=g) > 0.3
    m[:, :, 0] = True
    got = min_spread_points(c, m)
    for i in range(0, 200, 17):
        best, best_pts = math.inf, None
        for a in range(4):
            for b in range(4):
                for d in range(4):
                    if not (m[i, 0, a] and m[i, 1, b] and m[i, 2, d]):
                        continue
                    p = torch.stack([c[i, 0, a], c[i, 1, b], c[i, 2, d]])
                    spread = float(((p - p.mean(0)) ** 2).sum())
                    if spread < best:
                        best, best_pts = spread, p
        torch.testing.assert_close(got[i], best_pts)


def test_min_spread_chunking(monkeypatch):
    g = torch.Generator().manual_seed(2)
    c = torch.rand(300, 3, 3, 2, generator=g)
    m = torch.ones(300, 3, 3, dtype=torch.bool)
    full = min_spread_points(c, m)
    monkeypatch.setattr(R, "_DECODE_CHUNK_ELEMENTS", 27 * 7)
    assert torch.equal(min_spread_points(c, m), full)


def test_encode_chunking_gives_identical_results(monkeypatch, positions):
    for key in ("dos", "dog", "dos_multi"):
        ro = build(**ALL_CONFIGS[key])
        full = ro.encode(positions)
        monkeypatch.setattr(R, "_ENCODE_CHUNK_ELEMENTS", 2 * ro.n_out * ro.max_fields * 37)
        torch.testing.assert_close(ro.encode(positions), full, atol=1e-6, rtol=1e-4)  # BLAS blocking
        monkeypatch.undo()


def test_decode_checks_unit_count():
    ro = build(readout="gaussian", n_place=64)
    with pytest.raises(ValueError, match="64"):
        ro.decode(torch.zeros(3, 10))


# ---------------------------------------------------------------------- Fig. 4c: correlation and Fourier
def test_dos_peak_wavenumber_and_period():
    k = dos_peak_wavenumber(0.12, 2.0)
    assert k == pytest.approx(math.sqrt(4 * math.log(2) / (0.0144 * 3)))
    # tuning curve's Fourier transform exp(-s^2 k^2/2) - exp(-s^2 sigma^2 k^2/2) is largest there
    ks = np.linspace(0.1, 40, 40000)
    ft = np.exp(-((0.12 * ks) ** 2) / 2) - np.exp(-((0.24 * ks) ** 2) / 2)
    assert ks[ft.argmax()] == pytest.approx(k, abs=2e-3)
    period = 2 / math.sqrt(3) * 2 * math.pi / k
    assert period / 0.12 == pytest.approx(7.55, abs=0.01)
    with pytest.raises(ValueError):
        dos_peak_wavenumber(0.12, 1.0)


@pytest.mark.parametrize("sigma, s", [(0.12, 2.0), (0.08, 2.0)])
def test_dos_correlation_fourier_ring_at_k_star(sigma, s):
    ro = build(seed=3, readout="difference_of_softmaxes", place_cell_rf=sigma, surround_scale=s)
    corr = spatial_correlation(ro, 48)
    assert corr.shape == (48, 48) and corr[24, 24] == pytest.approx(1.0)
    kx, ky, amp = fourier_amplitude(corr, ro.box_width)
    assert kx[24] == 0.0 and amp.shape == (48, 48)
    dk = kx[1] - kx[0]
    kk = np.hypot(*np.meshgrid(kx, ky, indexing="ij"))
    peak = kk.flat[np.argmax(amp)]
    assert abs(peak - dos_peak_wavenumber(sigma, s)) <= dk
    # a ring, not a point: the amplitude is nearly isotropic at |k| ~ k*
    ring = amp[np.abs(kk - peak) < dk / 2]
    assert ring.min() > 0.5 * ring.max()


def test_true_dog_correlation_peaks_at_low_frequency():
    ro = build(seed=3, readout="difference_of_gaussians")
    kx, ky, amp = fourier_amplitude(spatial_correlation(ro, 48), ro.box_width)
    kk = np.hypot(*np.meshgrid(kx, ky, indexing="ij"))
    assert kk.flat[np.argmax(amp)] < 0.5 * dos_peak_wavenumber(0.12, 2.0)
