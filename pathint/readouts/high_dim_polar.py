"""Polar, high dim (SPEC §2): the first n/2 units ``y_j = b_j r + c_j`` (r = |x|), the last n/2
``exp(kappa cos(theta - mu_j))`` (theta = atan2(y, x), kappa = 1), MSE.

Decoder: radius by least squares on the linear half (clamped at 0), angle = mu of the most active angle
unit, so exact only up to the spacing of the random mu.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..errors import ConfigError
from ._lazy import np, torch
from .base import Readout, as_float32

#: Von Mises concentration of the angle units.
KAPPA = 1.0


class HighDimPolar(Readout):
    """Parameters ``b``, ``c`` (n_out/2,) for the radius half, ``mu`` (n_out/2,) for the angle half."""

    name = "high_dim_polar"
    label = "Polar High Dim"
    loss_kind = "mse"
    param_names = ("b", "c", "mu")

    @classmethod
    def config_problems(cls, cfg: Any) -> Iterator[tuple[str, Any, str]]:
        yield from super().config_problems(cfg)
        if cfg.n_place % 2:
            yield "n_place", cfg.n_place, "high_dim_polar needs an even n_place (half radius, half angle units)"

    @classmethod
    def draw_params(cls, cfg: Any, rng: "np.random.Generator", n_out: int) -> dict[str, "np.ndarray"]:
        """b, c (n/2 each, U(-1, 1)), then mu (n/2, U(-pi, pi))."""
        if n_out % 2:
            raise ConfigError(f"n_place={n_out} is invalid: high_dim_polar needs an even number of units")
        half = n_out // 2
        b = rng.uniform(-1.0, 1.0, half)
        c = rng.uniform(-1.0, 1.0, half)
        mu = rng.uniform(-np.pi, np.pi, half)
        return {"b": b, "c": c, "mu": mu}

    def _build_tensors(self) -> dict[str, "torch.Tensor"]:
        b = self._np["b"].astype(np.float64)
        return {
            "b": as_float32(b),
            "c": as_float32(self._np["c"]),
            "mu": as_float32(self._np["mu"]),
            "b_pinv": as_float32(b / np.dot(b, b)),  # pinv of the column vector b
        }

    def encode_rows(self, x: "torch.Tensor") -> "torch.Tensor":
        t = self._t
        radius = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        theta = torch.atan2(x[:, 1:2], x[:, 0:1])
        return torch.cat([radius * t["b"] + t["c"], torch.exp(KAPPA * torch.cos(theta - t["mu"]))], dim=-1)

    def decode_rows(self, z: "torch.Tensor") -> "torch.Tensor":
        t = self._t
        half = self.n_out // 2
        # radius by least squares on the linear half; clamp because a radius cannot be negative
        radius = ((z[:, :half] - t["c"]) @ t["b_pinv"]).clamp_min(0.0)
        theta = t["mu"][z[:, half:].argmax(dim=-1)]
        return torch.stack([radius * torch.cos(theta), radius * torch.sin(theta)], dim=-1)
