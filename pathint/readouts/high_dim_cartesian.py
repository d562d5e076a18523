"""Cartesian, high dim (SPEC §2): ``y_j = a_1j x + a_2j y + c_j``, a, c ~ U(-1, 1) per network, MSE;
decoded by least squares, ``(z - c) pinv(A)``."""

from __future__ import annotations

from typing import Any

from ._lazy import np, torch
from .base import Readout, as_float32


class HighDimCartesian(Readout):
    """Parameters ``A`` (2, n_out) and ``c`` (n_out,): ``y = x A + c``."""

    name = "high_dim_cartesian"
    label = "Cartesian High Dim"
    loss_kind = "mse"
    param_names = ("A", "c")

    @classmethod
    def draw_params(cls, cfg: Any, rng: "np.random.Generator", n_out: int) -> dict[str, "np.ndarray"]:
        """A (2, n) then c (n), all U(-1, 1)."""
        A = rng.uniform(-1.0, 1.0, (2, n_out))
        c = rng.uniform(-1.0, 1.0, n_out)
        return {"A": A, "c": c}

    def _build_tensors(self) -> dict[str, "torch.Tensor"]:
        A = self._np["A"].astype(np.float64)
        # pinv computed once in float64
        return {"A": as_float32(A), "c": as_float32(self._np["c"]), "A_pinv": as_float32(np.linalg.pinv(A))}

    def encode_rows(self, x: "torch.Tensor") -> "torch.Tensor":
        return torch.addmm(self._t["c"], x, self._t["A"])

    def decode_rows(self, z: "torch.Tensor") -> "torch.Tensor":
        return (z - self._t["c"]) @ self._t["A_pinv"]
