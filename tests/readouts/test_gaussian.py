"""gaussian: softmax(-q) with cross-entropy; normalisation none: exp(-q) with MSE."""

import numpy as np
import pytest
import torch
from readout_cases import (assert_cross_entropy_is_proper, assert_matches_reference, assert_top3_decoding_floor, build,
                           softmax)

from pathint.config import NetworkConfig


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
    assert_cross_entropy_is_proper(build(readout="gaussian"), positions, max_entropy=3.5)


def test_top3_decoding_floor(positions):
    assert_top3_decoding_floor(build(readout="gaussian"), positions)
