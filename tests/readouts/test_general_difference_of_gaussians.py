"""general_difference_of_gaussians: a_E exp(-q) - a_I exp(-r), shift, rescale; cross-entropy."""

import numpy as np
import pytest
import torch
from readout_cases import assert_matches_reference, assert_top3_decoding_floor, build, plain_exp, shift_rescale

from pathint.config import NetworkConfig


@pytest.mark.parametrize("alpha_e, alpha_i", [(2.0, 0.5), (0.5, 3.0)])
def test_matches_float64_reference(alpha_e, alpha_i, positions):
    ro = build(readout="general_difference_of_gaussians", alpha_e=alpha_e, alpha_i=alpha_i)
    assert_matches_reference(ro, positions, lambda q, r: shift_rescale(alpha_e * np.exp(-q) - alpha_i * np.exp(-r)))


def test_targets_sum_to_one(positions):
    y = build(readout="general_difference_of_gaussians", alpha_e=0.5, alpha_i=3.0).encode(positions)
    assert float(y.min()) >= 0.0
    torch.testing.assert_close(y.sum(-1), torch.ones(50, 20), atol=1e-5, rtol=0)


@pytest.mark.parametrize("sigma", [0.04, 0.12])
def test_targets_bitwise_as_with_plain_exp(sigma, positions, monkeypatch):
    """Flushing the exponentials' smallest results (for speed) leaves a batch's targets bit for bit."""
    ro = build(readout="general_difference_of_gaussians", place_cell_rf=sigma, alpha_e=2.0, alpha_i=0.5)
    y = ro.encode(positions)
    plain_exp(monkeypatch)
    assert torch.equal(y, ro.encode(positions))


def test_top3_decoding_floor(positions):
    ro = build(readout="general_difference_of_gaussians", alpha_e=2.0, alpha_i=0.5)
    assert not ro.decode_least_active
    assert_top3_decoding_floor(ro, positions)


def test_dip_codes_decode_from_the_least_active():
    """alpha_I >= alpha_E makes the signal a dip, as in true DoG."""
    assert build(readout="general_difference_of_gaussians", alpha_e=1.0, alpha_i=1.0).decode_least_active
    assert build(readout="general_difference_of_gaussians", alpha_e=0.5, alpha_i=3.0).decode_least_active
    assert not build(readout="general_difference_of_gaussians", alpha_e=1.5, alpha_i=1.0).decode_least_active


def test_any_positive_surround_is_allowed():
    cfg = NetworkConfig.from_dict({"readout": "general_difference_of_gaussians", "surround_scale": 0.8})
    assert cfg.surround_scale == 0.8
