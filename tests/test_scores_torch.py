"""The torch grid scores (pathint.scores_torch) against the numpy path and the per-map reference.

The CPU tests run everywhere (torch's CPU device, float64); the CUDA ones need a GPU and are skipped
without one. On a GPU machine: ``python -m pytest tests/test_scores_torch.py -q``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_scores import lattice, synthetic_maps

from pathint import scores as S
from pathint import scores_torch as ST

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def families(n: int) -> np.ndarray:
    """Hexagonal, square, band, noise, NaN-holed, narrow-field, offset and constant maps, plus noisy grids."""
    rng = np.random.default_rng(n)
    maps = list(synthetic_maps(n, rng).values())
    maps += [np.maximum(lattice(n, rng.uniform(n / 8, n / 3), rng.uniform(0, 60), phase=rng.random(2)), 0)
             + 0.3 * rng.random((n, n)) for _ in range(6)]
    maps += [np.full((n, n), 0.37), np.full((n, n), np.nan), np.zeros((n, n))]
    return np.stack(maps)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [20, 44])
def test_torch_matches_numpy_and_reference(device, n):
    maps = families(n)
    for min_max in (True, False):
        t60, t90 = ST.grid_scores_torch(maps, min_max, device=device, chunk=5)
        f60, f90 = S.grid_scores(maps, min_max, device="cpu")
        np.testing.assert_allclose(t60, f60, rtol=0, atol=1e-12)
        np.testing.assert_allclose(t90, f90, rtol=0, atol=1e-12)
        # At 44 bins the numpy path stands in for the (slow) reference: tests/test_scores.py pins the two.
        for i in range(maps.shape[0] if n == 20 else 0):
            r60, r90 = S.grid_scores_reference(maps[i], min_max)
            assert abs(t60[i] - r60) <= 1e-9 and abs(t90[i] - r90) <= 1e-9, (i, t60[i], r60, t90[i], r90)
    assert t60.dtype == np.float64 and t60.shape == (maps.shape[0],)
    assert np.array_equal(t60[-3:], np.zeros(3)) and np.array_equal(t90[-3:], np.zeros(3))


@pytest.mark.parametrize("device", DEVICES)
def test_torch_narrow_field_takes_the_exact_path(device):
    n = 44
    x = np.arange(n)[:, None]
    y = np.arange(n)[None, :]
    field = np.exp(-((x - 10) ** 2 + (y - 30) ** 2) / (2 * 1.2**2))
    ops = ST._operators(n, device)
    half = ST._sac_half(torch.as_tensor(field[None], dtype=torch.float64, device=device), ops)
    full = S._full_from_half(half.cpu().numpy())[0]
    np.testing.assert_allclose(full, S.autocorrelogram_reference(field), rtol=0, atol=1e-10)


def test_auto_device_uses_torch_when_cuda_is_present(monkeypatch):
    maps = families(20)[:4]
    calls = []
    real = ST.grid_scores_torch

    def fake(rate_maps, min_max, device, keep_sac=False):
        calls.append(device)
        return real(rate_maps, min_max, device="cpu", keep_sac=keep_sac)

    monkeypatch.setattr(S, "_cuda_available", lambda: True)
    monkeypatch.setattr(ST, "grid_scores_torch", fake)
    s60, _ = S.grid_scores(maps)
    assert calls == ["cuda"]
    np.testing.assert_allclose(s60, S.grid_scores(maps, device="cpu")[0], rtol=0, atol=1e-12)
    monkeypatch.setattr(S, "_cuda_available", lambda: False)
    S.grid_scores(maps)
    assert calls == ["cuda"]  # no GPU: the numpy path
    with pytest.raises(ValueError, match="no CUDA device"):
        S.grid_scores(maps, device="cuda")


def test_torch_keeps_the_sac():
    maps = families(20)
    s60, s90, sac = ST.grid_scores_torch(maps, True, device="cpu", keep_sac=True)
    np.testing.assert_allclose(sac, S.autocorrelogram(maps), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(s60, ST.grid_scores_torch(maps, True, device="cpu")[0])
