"""high_dim_cartesian: y = x A + c, MSE, least-squares decoder."""

import pytest
import torch
from readout_cases import build

from pathint.readouts import decoding_error_cm


def test_formula():
    x = torch.tensor([[0.3, -0.4], [-1.0, 0.5]])
    ro = build(readout="high_dim_cartesian", n_place=128)
    st = ro.state()
    assert st["param_A"].shape == (2, 128) and abs(st["param_A"]).max() <= 1 and abs(st["param_c"]).max() <= 1
    torch.testing.assert_close(
        ro.encode(x), x @ torch.from_numpy(st["param_A"]).float() + torch.from_numpy(st["param_c"]).float()
    )


def test_decoding_is_exact(positions):
    ro = build(readout="high_dim_cartesian")
    assert decoding_error_cm(ro, ro.encode(positions), positions) < 1e-3


def test_mse_loss():
    ro = build(readout="high_dim_cartesian")
    assert ro.loss_kind == "mse"
    y = ro.encode(torch.tensor([[0.1, 0.2], [0.5, -0.7]]))
    assert float(ro.loss(y, y)) == 0.0
    torch.testing.assert_close(ro.loss(torch.zeros_like(y), y), y.square().mean())
    with pytest.raises(ValueError, match="shape"):
        ro.loss(y[:1], y)
