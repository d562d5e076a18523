"""softmax_of_differences (SoD): softmax(-q + r), cross-entropy."""

import pytest
import torch
from readout_cases import assert_matches_reference, build, softmax

from pathint.config import NetworkConfig
from pathint.errors import ConfigError
from pathint.readouts import decoding_error_cm


def test_matches_float64_reference(positions):
    assert_matches_reference(build(readout="softmax_of_differences"), positions, lambda q, r: softmax(-q + r))


def test_targets_sum_to_one_and_decode(positions):
    ro = build(readout="softmax_of_differences")
    y = ro.encode(positions)
    assert float(y.min()) >= 0.0
    torch.testing.assert_close(y.sum(-1), torch.ones(50, 20), atol=1e-5, rtol=0)
    assert decoding_error_cm(ro, y, positions) < 5.0
    junk = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    assert decoding_error_cm(ro, junk, positions) > 60.0


def test_needs_a_wider_surround():
    with pytest.raises(ConfigError, match="surround_scale=1.0 is invalid: softmax_of_differences needs a surround"):
        NetworkConfig.from_dict({"readout": "softmax_of_differences", "surround_scale": 1.0})
