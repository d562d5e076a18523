"""True difference of Gaussians, DoG (SPEC §2): ``z = exp(-q) - exp(-r)`` (equal amplitudes, so z <= 0:
a dip at the cell's centre), shifted by its minimum and rescaled to sum to 1, cross-entropy. Decoded from
the 3 least active units, the dip."""

from __future__ import annotations

from ._lazy import torch
from .place import PlaceCode, exp_flushed, scaled_exponentials, shift_rescale


class DifferenceOfGaussians(PlaceCode):
    name = "difference_of_gaussians"
    label = "DoG"
    surround = True
    wide_surround = True
    exact_distances = True
    decode_least_active = True

    def targets_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        e = scaled_exponentials(qr)
        return shift_rescale(e[:, 0] - e[:, 1])

    def unnormalised_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        return exp_flushed(qr[:, 0]) - exp_flushed(qr[:, 1])
