"""``torch`` and ``numpy`` for the readout modules, imported at their first use.

``pathint.config`` reads the readout registry (names, labels, loss rules, config checks) when Snakemake
plans a workflow, where nothing needs torch: importing it there would add ~1.3-3 s and ~210 MB to every
planning process. The readout modules therefore write ``from ._lazy import np, torch``; each proxy imports
the real module at its first attribute access (the first ``torch.softmax(...)``, say) and forwards every
access to it. Nothing may touch torch or numpy while a module of the package is being imported
(``tests/test_readouts.py`` checks that importing ``pathint.config`` loads neither).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any


class LazyModule:
    """Stands for the module ``name``, imported when an attribute is first read.

    Each attribute is kept on the proxy once read, so later reads cost what a module attribute costs (the
    targets are computed every training step). Hence replacing a top-level attribute of the real module
    afterwards (``monkeypatch.setattr(torch, "exp", ...)``) does not reach the readouts; attributes of its
    submodules (``torch.cuda.is_available``) are looked up on the real submodule and do.
    """

    def __init__(self, name: str):
        self.__dict__["_name"] = name

    def __getattr__(self, attr: str) -> Any:  # only called for attributes not yet on the proxy
        value = getattr(importlib.import_module(self._name), attr)
        self.__dict__[attr] = value
        return value

    def __repr__(self) -> str:
        return f"<lazily imported module {self._name!r}>"


if TYPE_CHECKING:
    import numpy as np
    import torch
else:
    np = LazyModule("numpy")
    torch = LazyModule("torch")

__all__ = ["LazyModule", "np", "torch"]
