"""Paper figures from the aggregate tables (SPEC §6): one module per figure.

A figure module defines ``plot(tables, params) -> matplotlib.figure.Figure`` and
``caption(tables, params) -> str`` (``tables``: a :class:`~pathint.figures.common.Tables`; missing
``params`` keys take :data:`~pathint.figures.common.DEFAULT_PARAMS`). Every module of this package except
``common`` is a figure, found by name: adding a figure is adding a module (docs/architecture.md). The
modules are imported only when asked for, so a figure's code is its own module and what it imports.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

#: Modules of this package that are not figures.
NOT_FIGURES = frozenset({"common"})


def names() -> tuple[str, ...]:
    """Every figure of the package, sorted."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in NOT_FIGURES))


def module(name: str) -> ModuleType:
    """The module of figure ``name``; an unknown name raises ConfigError listing the figures."""
    from ..errors import ConfigError

    if name not in names():
        raise ConfigError(f"figure {name!r} is unknown; expected one of {list(names())}")
    return importlib.import_module(f"{__name__}.{name}")


def render(name: str, files: Mapping[str, Path], params: Mapping[str, Any]) -> int:
    """Draw figure ``name`` from the tables in ``files`` (networks, units, examples) into ``files``' png,
    pdf and caption; returns the number of networks it was drawn from."""
    from ..io import atomic_path
    from .common import load_tables, save_figure

    mod = module(name)
    tables = load_tables(files["networks"], files["units"], files["examples"])
    fig = mod.plot(tables, params)
    save_figure(fig, files["png"], files["pdf"])
    with atomic_path(files["caption"]) as tmp:
        tmp.write_text(mod.caption(tables, params) + "\n")
    return int(len(tables.networks))
