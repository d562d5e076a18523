"""Difference of softmaxes, DoS (SPEC §2; Sorscher's "DoG"): ``z = softmax(-q) - softmax(-r)``, shifted
by its minimum and rescaled to sum to 1, cross-entropy. The code whose networks learn grid cells; the
grid period follows from its tuning curve (:func:`peak_wavenumber`)."""

from __future__ import annotations

from typing import Any

from ._lazy import np, torch
from .place import PlaceCode, shift_rescale


class DifferenceOfSoftmaxes(PlaceCode):
    name = "difference_of_softmaxes"
    label = "DoS"
    surround = True
    wide_surround = True

    def targets_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        sm = torch.softmax(qr, dim=-1)  # both softmaxes in one call over [M, 2, n]
        return shift_rescale(sm[:, 0] - sm[:, 1])

    def unnormalised_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        return torch.softmax(qr[:, 0], dim=-1) - torch.softmax(qr[:, 1], dim=-1)


def peak_wavenumber(sigma: Any, s: Any) -> Any:
    """Wavenumber k* (rad/m) where the DoS tuning curve's Fourier transform peaks (NFL convention s);
    numbers or arrays.

    ``exp(-sigma^2 k^2 / 2) - exp(-s^2 sigma^2 k^2 / 2)`` is largest at ``k*^2 = 4 ln s / (sigma^2 (s^2-1))``;
    the grid period predicted from it is ``(2 / sqrt(3)) 2 pi / k*`` (``pathint.figures.common.dos_theory_period``).
    """
    sigma = np.asarray(sigma, float)
    s = np.asarray(s, float)
    if np.any(sigma <= 0) or np.any(s <= 1):
        raise ValueError(f"need sigma > 0 and s > 1, got sigma={sigma}, s={s}")
    return np.sqrt(4.0 * np.log(s) / (sigma**2 * (s**2 - 1.0)))[()]
