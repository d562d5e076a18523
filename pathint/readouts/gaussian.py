"""Gaussian place code (SPEC §2): ``softmax(-q)`` with cross-entropy, or with
``gaussian_normalisation: none`` the unnormalised ``exp(-q)`` with MSE."""

from __future__ import annotations

from typing import Any, Mapping

from ._lazy import torch
from .place import PlaceCode, exp_flushed


class Gaussian(PlaceCode):
    name = "gaussian"
    label = "Gaussian"

    @classmethod
    def loss_kind_for(cls, options: Mapping[str, Any]) -> str:
        return "mse" if options["normalisation"] == "none" else "cross_entropy"

    def targets_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        if self.normalisation == "softmax":
            return torch.softmax(qr[:, 0], dim=-1)
        return exp_flushed(qr[:, 0].clamp_max(0.0))

    def unnormalised_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        return exp_flushed(qr[:, 0])
