"""cartesian: y = x, 2 units, MSE, identity decoder."""

import pytest
import torch
from readout_cases import build

from pathint.config import NetworkConfig
from pathint.errors import ConfigError
from pathint.readouts import decoding_error_cm


def test_targets_are_the_positions_and_decode_exactly(positions):
    ro = build(readout="cartesian", n_place=2)
    assert ro.n_out == 2 and ro.loss_kind == "mse"
    x = torch.tensor([[0.3, -0.4], [-1.0, 0.5]])
    assert ro.encode(x).equal(x)
    assert decoding_error_cm(ro, ro.encode(positions), positions) < 1e-3


def test_config_needs_exactly_two_units():
    assert NetworkConfig(readout="cartesian", n_place=2).n_out == 2
    with pytest.raises(ConfigError, match="n_place=512 is invalid: the cartesian readout has exactly 2 units"):
        NetworkConfig.from_dict({"readout": "cartesian"})
