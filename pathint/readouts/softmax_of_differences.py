"""Softmax of differences, SoD (SPEC §2): ``softmax(-q + r)``, cross-entropy."""

from __future__ import annotations

from ._lazy import torch
from .place import PlaceCode


class SoftmaxOfDifferences(PlaceCode):
    name = "softmax_of_differences"
    label = "SoD"
    surround = True
    wide_surround = True

    def targets_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        return torch.softmax(qr[:, 0] - qr[:, 1], dim=-1)

    def unnormalised_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        return qr[:, 0] - qr[:, 1]
