"""General difference of Gaussians (SPEC §2, post-paper): ``z = alpha_E exp(-q) - alpha_I exp(-r)``,
shifted by its minimum and rescaled to sum to 1, cross-entropy. Any s > 0 is allowed. With
alpha_I >= alpha_E the signal is a dip and the decoder uses the least active units."""

from __future__ import annotations

from typing import Any

from ._lazy import torch
from .place import PlaceCode, exp_flushed, scaled_exponentials, shift_rescale


class GeneralDifferenceOfGaussians(PlaceCode):
    name = "general_difference_of_gaussians"
    label = "General DoG"
    surround = True
    exact_distances = True

    def targets_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        e = scaled_exponentials(qr)
        return shift_rescale(torch.sub(e[:, 0] * self.alpha_e, e[:, 1], alpha=self.alpha_i))

    def unnormalised_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        return self.alpha_e * exp_flushed(qr[:, 0]) - self.alpha_i * exp_flushed(qr[:, 1])

    @property
    def decode_least_active(self) -> bool:
        return self.alpha_i >= self.alpha_e
