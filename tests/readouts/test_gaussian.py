"""gaussian: softmax(-q) with cross-entropy; normalisation none: exp(-q) with MSE."""

import math

import numpy as np
import pytest
import torch
from readout_cases import assert_matches_reference, build, softmax

from pathint.config import NetworkConfig
from pathint.readouts import decoding_error_cm


@pytest.mark.parametrize("normalisation", ["softmax", "none"])
def test_matches_float64_reference(normalisation, positions):
    ro = build(readout="gaussian", gaussian_normalisation=normalisation)
    reference = (lambda q, r: softmax(-q)) if normalisation == "softmax" else (lambda q, r: np.exp(-q))
    assert_matches_reference(ro, positions, reference)


def test_softmax_targets_sum_to_one(positions):
    y = build(readout="gaussian").encode(positions)
    assert float(y.min()) >= 0.0
    torch.testing.assert_close(y.sum(-1), torch.ones(50, 20), atol=1e-5, rtol=0)


def test_normalisation_none_is_unnormalised_and_mse():
    ro = build(readout="gaussian", gaussian_normalisation="none")
    assert ro.loss_kind == "mse" == NetworkConfig(readout="gaussian", gaussian_normalisation="none").loss_kind
    assert NetworkConfig(readout="gaussian").loss_kind == "cross_entropy" == build(readout="gaussian").loss_kind
    centres = torch.from_numpy(ro.state()["param_centres"][:, 0].astype(np.float32))
    torch.testing.assert_close(torch.diagonal(ro.encode(centres)), torch.ones(512))


def test_cross_entropy_perfect_vs_uniform(positions):
    """CE of perfect logits log(y) = entropy H(y); of uniform logits = log n."""
    ro = build(readout="gaussian")
    y = ro.encode(positions)
    perfect = torch.log(y.clamp_min(1e-30))
    entropy = -(y * torch.log(y.clamp_min(1e-30))).sum(-1).mean()
    torch.testing.assert_close(ro.loss(perfect, y), entropy, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(ro.loss(torch.zeros_like(y), y), torch.tensor(math.log(512.0)), atol=1e-4, rtol=0)
    assert float(entropy) < 3.5
    noisy = perfect.clamp_min(-60) + 0.3 * torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    assert ro.loss(noisy, y) > ro.loss(perfect, y)  # Gibbs' inequality


def test_top3_decoding_floor(positions):
    ro = build(readout="gaussian")
    y = ro.encode(positions)
    err = decoding_error_cm(ro, y, positions)
    assert err < 5.0
    # the logits log(y) of a perfect network decode the same (top-k is invariant to monotone maps)
    assert decoding_error_cm(ro, torch.log(y.clamp_min(1e-30)), positions) == pytest.approx(err, abs=1e-4)
    junk = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    assert decoding_error_cm(ro, junk, positions) > 60.0
