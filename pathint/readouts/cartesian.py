"""Cartesian, low dim (SPEC §2): the position itself, ``y = (x, y)``, 2 units, MSE; decoded as is."""

from __future__ import annotations

from ._lazy import torch
from .base import Readout


class Cartesian(Readout):
    """``y = x``; no parameters."""

    name = "cartesian"
    label = "Cartesian Low Dim"
    loss_kind = "mse"
    n_units = 2

    def encode_rows(self, x: "torch.Tensor") -> "torch.Tensor":
        return x.clone()

    def decode_rows(self, z: "torch.Tensor") -> "torch.Tensor":
        return z.clone()
