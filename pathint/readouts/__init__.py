"""Readout (target) encodings of position, their losses and decoders (SPEC §2).

One class per encoding, one module per class (``pathint/readouts/<name>.py``), registered by defining it:

=================================  =========================================================  =====
name                               target y(x)                                                loss
=================================  =========================================================  =====
cartesian                          (x, y)                                                     MSE
high_dim_cartesian                 x A + c                                                    MSE
high_dim_polar                     (b |x| + c, exp(kappa cos(theta - mu)))                    MSE
gaussian (softmax)                 softmax(-q)                                                CE
gaussian (none)                    exp(-q)                                                    MSE
difference_of_softmaxes (DoS)      z = softmax(-q) - softmax(-r); shift, rescale              CE
difference_of_gaussians (DoG)      z = exp(-q) - exp(-r) (<= 0); shift, rescale               CE
softmax_of_differences (SoD)       softmax(-q + r)                                            CE
general_difference_of_gaussians    z = a_E exp(-q) - a_I exp(-r); shift, rescale              CE
=================================  =========================================================  =====

Shared machinery: :mod:`.base` (the :class:`Readout` base class: state, loss, device; the registry),
:mod:`.place` (place cells: centres, fields, widths, -q/-r, shift-rescale, ``exp_flushed``, the top-k
decoder), :mod:`.evaluation` (decoding error, spatial correlation, Fourier amplitude).

Registry: :func:`names`, :func:`get`, :func:`label`, :func:`labels`, :func:`wide_surround_names`,
:func:`loss_kind`, :func:`n_out`; ``pathint.config`` and the network schema's enum derive from them.
Importing this package imports neither torch nor numpy (see :mod:`._lazy`).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

from .base import (OPTION_DEFAULTS, Readout, get, label, labels, loss_kind, n_out, names,  # noqa: F401
                   wide_surround_names)
from .evaluation import decoding_error_cm, fourier_amplitude, spatial_correlation  # noqa: F401
from .place import DECODE_K, PlaceCode, exp_flushed, min_spread_points, shift_rescale  # noqa: F401


#: pathint.codedeps: this package imports all its modules by name, so code that imports it depends on all.
LOADS_ALL_SUBMODULES = True


def _import_encodings() -> None:
    """Import every module of the package: each encoding class registers itself when defined."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_encodings()

if TYPE_CHECKING:
    import numpy as np

from .difference_of_softmaxes import peak_wavenumber as dos_peak_wavenumber  # noqa: E402,F401

#: Names of the place-cell codes.
PLACE_CODES: tuple[str, ...] = tuple(n for n in names() if issubclass(get(n), PlaceCode))


def make_readout(cfg: Any, rng: "np.random.Generator") -> Readout:
    """The readout of network ``cfg`` (a ``NetworkConfig``), parameters drawn from ``rng``.

    Training passes ``pathint.seeds.rng(cfg.seed, "readout")``; each encoding's ``draw_params`` says the
    order of its draws (part of the definition).
    """
    cls = get(cfg.readout)
    n = cls.n_out_for(cfg.n_place)
    params = cls.draw_params(cfg, rng, n)
    return cls(n, params, box_width=cfg.box_width, box_height=cfg.box_height, **cls.config_options(cfg))
