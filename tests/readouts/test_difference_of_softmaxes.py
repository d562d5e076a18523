"""difference_of_softmaxes (DoS): softmax(-q) - softmax(-r), shift, rescale; its Fourier ring (Fig. 4c)."""

import math

import numpy as np
import pytest
import torch
from readout_cases import (MULTI, assert_cross_entropy_is_proper, assert_matches_reference, assert_top3_decoding_floor,
                           build, shift_rescale, softmax)

from pathint.config import NetworkConfig
from pathint.errors import ConfigError
from pathint.readouts import Readout, decoding_error_cm, dos_peak_wavenumber, fourier_amplitude, spatial_correlation

DOS = "difference_of_softmaxes"


def test_matches_float64_reference(positions):
    assert_matches_reference(build(readout=DOS), positions, lambda q, r: shift_rescale(softmax(-q) - softmax(-r)))


def test_targets_are_a_distribution(positions):
    y = build(readout=DOS).encode(positions)
    assert y.shape == (50, 20, 512)
    assert float(y.min()) >= 0.0
    # the shift puts exactly one zero (the least active cell) in every row
    assert torch.all((y == 0).sum(-1) >= 1)
    torch.testing.assert_close(y.sum(-1), torch.ones(50, 20), atol=1e-5, rtol=0)


def test_cross_entropy_perfect_vs_uniform(positions):
    """DoS targets sit on a flat baseline after the shift, so their entropy is close to log n."""
    assert_cross_entropy_is_proper(build(readout=DOS), positions, max_entropy=6.2)


def test_top3_decoding_floor(positions):
    assert_top3_decoding_floor(build(readout=DOS), positions)


def test_sorscher_convention_is_nfl_with_sqrt_s(positions):
    a = build(seed=3, readout=DOS, surround_scale=4.0, surround_convention="sorscher")
    b = build(seed=3, readout=DOS, surround_scale=2.0)
    torch.testing.assert_close(a.encode(positions), b.encode(positions), atol=1e-7, rtol=1e-6)
    c = build(seed=3, readout=DOS, surround_scale=4.0)
    assert not torch.allclose(a.encode(positions), c.encode(positions), atol=1e-5)


def test_needs_a_wider_surround():
    with pytest.raises(ConfigError, match="surround_scale=1.0 is invalid: difference_of_softmaxes needs a surround"):
        NetworkConfig.from_dict({"readout": DOS, "surround_scale": 1.0})
    with pytest.raises(ConfigError, match=r'surround_scale={"uniform": \[0.9, 2.0\]}'):
        NetworkConfig.from_dict({"readout": DOS, "surround_scale": {"uniform": [0.9, 2.0]}})


# ---------------------------------------------------------------------- several fields per cell
def test_multi_field_cell_uses_nearest_field_and_its_surround():
    """Two fields per cell: the code equals a one-field code built from each cell's nearer field."""
    rng = np.random.default_rng(5)
    n = 8
    centres = rng.uniform(-1, 1, (n, 2, 2))
    sigma = rng.uniform(0.1, 0.3, (n, 2))
    s = rng.uniform(1.5, 3.0, (n, 2))
    mask = np.ones((n, 2), bool)
    mask[3, 1] = False  # cell 3 has one field
    multi = Readout.create(DOS, n, dict(centres=centres, field_mask=mask, sigma=sigma, s=s))
    x = np.array([0.2, -0.1])
    q = ((x - centres) ** 2).sum(-1) / (2 * sigma**2)
    q[~mask] = np.inf
    f = q.argmin(1)
    pick = lambda a: a[np.arange(n), f][:, None]  # noqa: E731
    single = Readout.create(
        DOS, n,
        dict(centres=centres[np.arange(n), f][:, None], field_mask=np.ones((n, 1), bool), sigma=pick(sigma), s=pick(s)),
    )  # fmt: skip
    assert f[3] == 0 and len(set(f.tolist())) == 2  # both fields are used by some cell
    xt = torch.tensor(x[None], dtype=torch.float32)
    torch.testing.assert_close(multi.encode(xt), single.encode(xt), atol=1e-6, rtol=1e-5)


def test_field_counts_and_uniform_scales_are_drawn_per_field():
    st = build(readout=DOS, **MULTI).state()
    counts = st["param_field_mask"].sum(1)
    assert counts.min() >= 1 and abs(counts.mean() - 3.0) < 0.3  # 1 + Poisson(2)
    sig = st["param_sigma"][st["param_field_mask"]]
    s = st["param_s"][st["param_field_mask"]]
    assert 0.06 <= sig.min() and sig.max() <= 0.24 and sig.std() > 0.03
    assert 1.5 <= s.min() and s.max() <= 2.5 and s.std() > 0.2


def test_multi_field_decoding_is_accurate(positions):
    ro = build(readout=DOS, **MULTI)
    assert ro.max_fields > 1
    assert decoding_error_cm(ro, ro.encode(positions), positions) < 5.0


# ---------------------------------------------------------------------- Fig. 4c: correlation and Fourier
def test_peak_wavenumber_and_period():
    k = dos_peak_wavenumber(0.12, 2.0)
    assert k == pytest.approx(math.sqrt(4 * math.log(2) / (0.0144 * 3)))
    # tuning curve's Fourier transform exp(-s^2 k^2/2) - exp(-s^2 sigma^2 k^2/2) is largest there
    ks = np.linspace(0.1, 40, 40000)
    ft = np.exp(-((0.12 * ks) ** 2) / 2) - np.exp(-((0.24 * ks) ** 2) / 2)
    assert ks[ft.argmax()] == pytest.approx(k, abs=2e-3)
    period = 2 / math.sqrt(3) * 2 * math.pi / k
    assert period / 0.12 == pytest.approx(7.55, abs=0.01)
    np.testing.assert_array_equal(dos_peak_wavenumber(np.array([0.12, 0.06]), 2.0), [k, 2 * k])
    for sigma, s in ((0.12, 1.0), (0.0, 2.0), (np.array([0.1, 0.2]), np.array([2.0, 0.5]))):
        with pytest.raises(ValueError, match="s > 1"):
            dos_peak_wavenumber(sigma, s)


@pytest.mark.parametrize("sigma, s", [(0.12, 2.0), (0.08, 2.0)])
def test_correlation_has_a_fourier_ring_at_k_star(sigma, s):
    ro = build(seed=3, readout=DOS, place_cell_rf=sigma, surround_scale=s)
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
