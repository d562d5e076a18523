"""high_dim_polar: radius half b r + c, angle half exp(cos(theta - mu)), MSE; its decoder."""

import numpy as np
import pytest
import torch
from readout_cases import build

from pathint.config import NetworkConfig
from pathint.errors import ConfigError
from pathint.readouts import decoding_error_cm, make_readout


def test_formulas():
    x = torch.tensor([[0.3, -0.4], [-1.0, 0.5]])
    ro = build(readout="high_dim_polar", n_place=128)
    assert ro.loss_kind == "mse"
    st = ro.state()
    y = ro.encode(x).double().numpy()
    xn = x.double().numpy()
    radius, theta = np.hypot(xn[:, 0], xn[:, 1])[:, None], np.arctan2(xn[:, 1], xn[:, 0])[:, None]
    np.testing.assert_allclose(y[:, :64], st["param_b"] * radius + st["param_c"], atol=1e-6)
    np.testing.assert_allclose(y[:, 64:], np.exp(np.cos(theta - st["param_mu"])), atol=1e-6)


def test_decoding():
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


def test_odd_unit_count_is_rejected():
    with pytest.raises(ConfigError, match="n_place=127 is invalid: high_dim_polar needs an even n_place"):
        NetworkConfig.from_dict({"readout": "high_dim_polar", "n_place": 127})
    with pytest.raises(ConfigError, match="n_place=127"):
        make_readout(NetworkConfig(readout="high_dim_polar", n_place=127), np.random.default_rng(0))
