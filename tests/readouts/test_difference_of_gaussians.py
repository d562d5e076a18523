"""difference_of_gaussians (true DoG): exp(-q) - exp(-r) <= 0, shift, rescale; least-active decoder."""

import numpy as np
import pytest
import torch
from readout_cases import assert_matches_reference, build, plain_exp, shift_rescale

from pathint.config import NetworkConfig
from pathint.errors import ConfigError
from pathint.readouts import decoding_error_cm, dos_peak_wavenumber, fourier_amplitude, spatial_correlation

DOG = "difference_of_gaussians"


def test_matches_float64_reference(positions):
    assert_matches_reference(build(readout=DOG), positions, lambda q, r: shift_rescale(np.exp(-q) - np.exp(-r)))


def test_targets_sum_to_one(positions):
    y = build(readout=DOG).encode(positions)
    assert float(y.min()) >= 0.0
    torch.testing.assert_close(y.sum(-1), torch.ones(50, 20), atol=1e-5, rtol=0)


def test_a_dip_zero_at_own_centre(positions):
    ro = build(readout=DOG, place_cell_rf=0.1, surround_scale=3.0)
    assert float(ro.unnormalised(positions).max()) <= 0.0
    centres = torch.from_numpy(ro.state()["param_centres"][:, 0].astype(np.float32))
    z = ro.unnormalised(centres)  # row i = position of cell i's centre
    assert torch.all(torch.diagonal(z) == 0.0)
    # off-diagonal cells near that position respond negatively (a dip, not a peak)
    assert float((z - torch.diag(torch.diagonal(z))).min()) < -0.1
    # after shift and rescale the cell at its own centre is (one of) the most active
    y = ro.encode(centres)
    assert torch.all(torch.diagonal(y) == y.max(-1).values)


def test_far_from_all_centres_has_no_nan():
    """Tiny sigma: exp(-q) underflows everywhere; the rescaled formula must still give a distribution."""
    ro = build(readout=DOG, place_cell_rf=0.01, n_place=16)
    y = ro.encode(torch.tensor([[1.09, 1.09], [-1.0, 0.3]]))
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.sum(-1), torch.ones(2), atol=1e-5, rtol=0)


@pytest.mark.parametrize("sigma", [0.04, 0.12])
def test_targets_bitwise_as_with_plain_exp(sigma, positions, monkeypatch):
    """Flushing the exponentials' smallest results (for speed) leaves a batch's DoG targets bit for bit as
    plain ``exp`` gives them: those results vanish in the shift by the row's minimum."""
    ro = build(readout=DOG, place_cell_rf=sigma)
    y = ro.encode(positions)
    plain_exp(monkeypatch)
    assert torch.equal(y, ro.encode(positions))


def test_decodes_from_the_least_active(positions):
    ro = build(readout=DOG)
    assert ro.decode_least_active
    y = ro.encode(positions)
    least = decoding_error_cm(ro, y, positions)
    centres = ro._t["centres"][:, 0]
    top = centres[torch.topk(y, 3, dim=-1).indices].mean(-2)
    most = float(torch.linalg.vector_norm(top - positions, dim=-1).mean()) * 100
    # the dip (surround ring) locates x; the most active cells (flat ~0 far away) do not
    assert least < 20.0 < most


def test_correlation_peaks_at_low_frequency():
    ro = build(seed=3, readout=DOG)
    kx, ky, amp = fourier_amplitude(spatial_correlation(ro, 48), ro.box_width)
    kk = np.hypot(*np.meshgrid(kx, ky, indexing="ij"))
    assert kk.flat[np.argmax(amp)] < 0.5 * dos_peak_wavenumber(0.12, 2.0)


def test_needs_a_wider_surround():
    with pytest.raises(ConfigError, match="surround_scale=1.0 is invalid: difference_of_gaussians needs a surround"):
        NetworkConfig.from_dict({"readout": DOG, "surround_scale": 1.0})
