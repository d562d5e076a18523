"""Helpers shared by the readout tests (tests/test_readouts.py, tests/readouts/test_<name>.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pathint import readouts
from pathint.config import NetworkConfig, Uniform
from pathint.readouts import Readout, make_readout

#: Several fields per cell with per-field widths and surrounds (a place-code variant).
MULTI = dict(fields_per_cell=2.0, place_cell_rf=Uniform(0.06, 0.24), surround_scale=Uniform(1.5, 2.5))


def build(seed: int = 0, **kw: Any) -> Readout:
    """The readout of ``NetworkConfig(**kw)`` drawn from ``default_rng(seed)``."""
    return make_readout(NetworkConfig(**kw), np.random.default_rng(seed))


def batch_positions() -> torch.Tensor:
    """Uniform positions in the box, shaped like a batch (B=50, T=20)."""
    rng = np.random.default_rng(123)
    return torch.from_numpy(rng.uniform(-1.1, 1.1, (50, 20, 2)).astype(np.float32))


def variants(name: str) -> dict[str, dict[str, Any]]:
    """Configs (NetworkConfig keywords) that cover readout ``name``: its defaults, and for place codes
    several fields per cell with Uniform widths and surrounds."""
    cls = readouts.get(name)
    base = dict(readout=name, n_place=cls.n_units or 512)
    out = {name: base}
    if issubclass(cls, readouts.PlaceCode):
        out[f"{name}_multi"] = {**base, **MULTI}
    return out


def single_field(ro: Readout, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 q and r [M, n] of a single-field place code at positions ``pos`` [M, 2] (SPEC §2)."""
    st = ro.state()
    u, sig, s = st["param_centres"][:, 0], st["param_sigma"][:, 0], st["param_s"][:, 0]
    d2 = ((pos[:, None, :] - u[None]) ** 2).sum(-1)
    return d2 / (2 * sig**2), d2 / (2 * (s * sig) ** 2)


def softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def shift_rescale(z: np.ndarray) -> np.ndarray:
    z = z - z.min(-1, keepdims=True)
    return z / z.sum(-1, keepdims=True)


def assert_matches_reference(ro: Readout, positions: torch.Tensor, reference) -> None:
    """``ro``'s targets agree with ``reference(q, r)`` (float64 numpy) to 1e-4 of the largest target."""
    pos = positions.reshape(-1, 2)
    q, r = single_field(ro, pos.numpy().astype(np.float64))
    ref = reference(q, r)
    np.testing.assert_allclose(ro.encode(pos).numpy(), ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def plain_exp(monkeypatch) -> None:
    """Make every module of pathint.readouts that calls ``exp_flushed`` call plain ``torch.exp``."""
    import sys

    for name, module in list(sys.modules.items()):
        if name.startswith("pathint.readouts") and getattr(module, "exp_flushed", None) is readouts.exp_flushed:
            monkeypatch.setattr(module, "exp_flushed", torch.exp)


def assert_cross_entropy_is_proper(ro: Readout, positions: torch.Tensor, max_entropy: float) -> None:
    """CE of perfect logits log(y) = the targets' entropy H(y) (below ``max_entropy``); of uniform logits =
    log n; noisy logits cost more than perfect ones (Gibbs' inequality)."""
    y = ro.encode(positions)
    perfect = torch.log(y.clamp_min(1e-30))
    entropy = -(y * torch.log(y.clamp_min(1e-30))).sum(-1).mean()
    torch.testing.assert_close(ro.loss(perfect, y), entropy, atol=1e-4, rtol=1e-5)
    n = float(y.shape[-1])
    torch.testing.assert_close(ro.loss(torch.zeros_like(y), y), torch.tensor(np.log(n), dtype=torch.float32),
                               atol=1e-4, rtol=0)
    assert float(entropy) < max_entropy
    noisy = perfect.clamp_min(-60) + 0.3 * torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    assert ro.loss(noisy, y) > ro.loss(perfect, y)


def assert_top3_decoding_floor(ro: Readout, positions: torch.Tensor, max_cm: float = 5.0) -> None:
    """The targets themselves decode within ``max_cm``; their logits log(y) decode the same (top-k is
    invariant to monotone maps); random outputs decode far off."""
    from pathint.readouts import decoding_error_cm

    y = ro.encode(positions)
    err = decoding_error_cm(ro, y, positions)
    assert err < max_cm
    assert abs(decoding_error_cm(ro, torch.log(y.clamp_min(1e-30)), positions) - err) <= 1e-4
    junk = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    assert decoding_error_cm(ro, junk, positions) > 60.0
