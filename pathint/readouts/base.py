"""The readout base class and the registry of encodings (SPEC §2).

Every encoding is a subclass of :class:`Readout` that declares its config name; defining the class
registers it (``__init_subclass__``), and the package imports each of its modules, so the registry lists
every encoding of ``pathint/readouts/``. ``pathint.config`` (readout names, labels, loss rule, unit count,
cross-key checks), the network schema's enum of readout names and the figures' group labels all come
from here.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, ClassVar, Iterator, Mapping, TypeVar

from ..errors import ConfigError, DataError
from ._lazy import np, torch

_REGISTRY: dict[str, type["Readout"]] = {}

#: Options every readout stores in its state, with the values of encodings that do not use them.
OPTION_DEFAULTS: dict[str, Any] = {
    "normalisation": "softmax",
    "alpha_e": 1.0,
    "alpha_i": 1.0,
    "surround_convention": "nfl",
}

_F = TypeVar("_F", bound=Callable[..., Any])


def no_grad(fn: _F) -> _F:
    """``torch.no_grad()`` as a decorator that does not import torch when the class is defined."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def as_float32(a: Any, device: Any = None) -> "torch.Tensor":
    """``a`` (array-like) as a float32 tensor (rounded once, from numpy)."""
    return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)


class Readout:
    """A position encoding: ``encode`` (targets), ``loss``, ``decode`` (outputs to positions).

    Build one with :func:`pathint.readouts.make_readout` (from a config), :meth:`from_state` (from a stored
    state) or :meth:`create` (from a name and parameter arrays). All tensors are float32 on
    ``self.device``; ``encode``, ``unnormalised`` and ``decode`` accept any leading shape.

    A subclass declares the class attributes below and implements ``encode_rows`` and ``decode_rows``
    (positions [M, 2] to targets [M, n_out] and back); place codes subclass
    :class:`pathint.readouts.place.PlaceCode` instead, which needs less.
    """

    # ------------------------------------------------------------------ declarations (per encoding)
    #: The config's ``readout`` value.
    name: ClassVar[str]
    #: The paper's group label (Fig. 2), also the group of a sweep that names none.
    label: ClassVar[str]
    #: "cross_entropy" (targets are distributions over the units) or "mse"; see :meth:`loss_kind_for`.
    loss_kind: str = "cross_entropy"
    #: A fixed number of units (the config's n_place must equal it), or None: n_place units.
    n_units: ClassVar[int | None] = None
    #: The code needs a surround wider than its centre: the config's s (surround_scale) must exceed 1.
    wide_surround: ClassVar[bool] = False
    #: Parameter arrays a state must hold (``param_<name>`` keys).
    param_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:  # a shared base such as PlaceCode
            return
        if not isinstance(cls.__dict__.get("label"), str):
            raise TypeError(f"readout class {cls.__qualname__} declares name {name!r} but no label")
        prev = _REGISTRY.get(name)
        if prev is not None and (prev.__module__, prev.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"readout name {name!r} is declared twice: {prev.__module__}.{prev.__qualname__} and "
                            f"{cls.__module__}.{cls.__qualname__}")
        _REGISTRY[name] = cls

    # ------------------------------------------------------------------ rules on a config
    @classmethod
    def loss_kind_for(cls, options: Mapping[str, Any]) -> str:
        """The loss of this encoding with ``options`` (``OPTION_DEFAULTS``' keys)."""
        return cls.loss_kind

    @classmethod
    def n_out_for(cls, n_place: int) -> int:
        """Number of readout units of a network whose config says ``n_place``."""
        return int(n_place) if cls.n_units is None else cls.n_units

    @classmethod
    def config_options(cls, cfg: Any) -> dict[str, Any]:
        """The options (``OPTION_DEFAULTS``' keys) this encoding takes from ``cfg``; the rest keep their
        defaults in its state."""
        return {}

    @classmethod
    def config_problems(cls, cfg: Any) -> Iterator[tuple[str, Any, str]]:
        """``(key, value, what is expected)`` for each cross-key rule of ``cfg`` (a ``NetworkConfig``)
        this encoding breaks; ``NetworkConfig.check`` reports the first."""
        if cls.n_units is not None and cfg.n_place != cls.n_units:
            yield "n_place", cfg.n_place, f"the {cls.name} readout has exactly {cls.n_units} units"
        if cls.wide_surround:
            s = cfg.surround_scale
            if getattr(s, "low", s) <= 1:  # a Uniform's lower end, or the constant
                yield "surround_scale", s, f"{cls.name} needs a surround wider than the centre (s > 1)"

    @classmethod
    def draw_params(cls, cfg: Any, rng: "np.random.Generator", n_out: int) -> dict[str, "np.ndarray"]:
        """This encoding's parameter arrays for network ``cfg``, drawn from ``rng`` (the order of the draws
        is part of the definition: it fixes every network's parameters)."""
        return {}

    # ------------------------------------------------------------------ construction
    def __init__(
        self,
        n_out: int,
        params: Mapping[str, "np.ndarray"],
        *,
        box_width: float = 2.2,
        box_height: float = 2.2,
        normalisation: str = "softmax",
        alpha_e: float = 1.0,
        alpha_i: float = 1.0,
        surround_convention: str = "nfl",
        device: "torch.device | str" = "cpu",
    ):
        if not hasattr(type(self), "name"):
            raise TypeError(f"{type(self).__qualname__} is not an encoding; use make_readout, Readout.create or "
                            "Readout.from_state")
        if normalisation not in ("softmax", "none"):
            raise ConfigError(f"gaussian_normalisation={normalisation!r} is invalid; expected 'softmax' or 'none'")
        self.n_out = int(n_out)
        self.box_width = float(box_width)
        self.box_height = float(box_height)
        self.normalisation = normalisation
        self.alpha_e = float(alpha_e)
        self.alpha_i = float(alpha_i)
        self.surround_convention = surround_convention
        self.loss_kind = self.loss_kind_for(self.options)
        self._np = {k: np.asarray(v) for k, v in params.items()}
        self._check_params()
        self.device = torch.device("cpu")
        self.max_fields = 1  # place codes: largest number of fields per cell
        self._t = self._build_tensors()
        self.to(device)

    @property
    def options(self) -> dict[str, Any]:
        """The stored options (``OPTION_DEFAULTS``' keys)."""
        return {k: getattr(self, k) for k in OPTION_DEFAULTS}

    @classmethod
    def create(cls, name: str, n_out: int, params: Mapping[str, "np.ndarray"], **options: Any) -> "Readout":
        """The readout ``name`` with parameter arrays ``params`` and options (box_width, box_height,
        normalisation, alpha_e, alpha_i, surround_convention, device)."""
        return get(name)(n_out, params, **options)

    def _check_params(self) -> None:
        missing = [k for k in self.param_names if k not in self._np]
        if missing:
            raise DataError(f"readout {self.name!r}: state lacks parameter(s) {', '.join(missing)}")
        if self.n_units is not None and self.n_out != self.n_units:
            raise ConfigError(f"{self.name} readout has n_out={self.n_units}, got {self.n_out}")

    def _build_tensors(self) -> dict[str, "torch.Tensor"]:
        """Float32 tensors (CPU) derived from the parameter arrays; ``to`` moves them."""
        return {}

    # ------------------------------------------------------------------ device and state
    def to(self, device: "torch.device | str") -> "Readout":
        """Move the parameters to ``device`` (in place); returns self."""
        self.device = torch.device(device)
        self._t = {k: v.to(self.device) for k, v in self._t.items()}
        return self

    def state(self) -> dict:
        """Numpy arrays and plain scalars/strings; ``Readout.from_state`` rebuilds the same readout."""
        st: dict[str, Any] = {
            "name": self.name,
            "n_out": self.n_out,
            "box_width": self.box_width,
            "box_height": self.box_height,
            "normalisation": self.normalisation,
            "alpha_e": self.alpha_e,
            "alpha_i": self.alpha_i,
            "surround_convention": self.surround_convention,
        }
        for k, v in self._np.items():
            st[f"param_{k}"] = np.array(v, copy=True)
        return st

    @classmethod
    def from_state(cls, state: Mapping[str, Any], device: "torch.device | str" = "cpu") -> "Readout":
        """Rebuild a readout from ``state()`` output (dispatches on the stored name)."""
        try:
            name = str(state["name"])
            params = {k[len("param_") :]: np.asarray(v) for k, v in state.items() if k.startswith("param_")}
            return get(name)(
                int(state["n_out"]),
                params,
                box_width=float(state.get("box_width", 2.2)),
                box_height=float(state.get("box_height", 2.2)),
                normalisation=str(state.get("normalisation", OPTION_DEFAULTS["normalisation"])),
                alpha_e=float(state.get("alpha_e", OPTION_DEFAULTS["alpha_e"])),
                alpha_i=float(state.get("alpha_i", OPTION_DEFAULTS["alpha_i"])),
                surround_convention=str(state.get("surround_convention", OPTION_DEFAULTS["surround_convention"])),
                device=device,
            )
        except KeyError as exc:
            raise DataError(f"readout state lacks key {exc}") from exc

    def __repr__(self) -> str:
        return f"Readout(name={self.name!r}, n_out={self.n_out}, loss_kind={self.loss_kind!r}, device={self.device})"

    # ------------------------------------------------------------------ encoding, loss, decoding
    def _as_pos(self, pos: Any) -> "torch.Tensor":
        pos = torch.as_tensor(pos)
        if pos.shape[-1:] != (2,):
            raise ValueError(f"positions must have a last axis of size 2, got shape {tuple(pos.shape)}")
        return pos.to(device=self.device, dtype=torch.float32)

    @no_grad
    def encode(self, pos: "torch.Tensor") -> "torch.Tensor":
        """Targets for positions ``pos`` [..., 2] (metres): [..., n_out] float32 on ``self.device``."""
        pos = self._as_pos(pos)
        lead = pos.shape[:-1]
        return self.encode_rows(pos.reshape(-1, 2)).reshape(*lead, self.n_out)

    @no_grad
    def unnormalised(self, pos: "torch.Tensor") -> "torch.Tensor":
        """The code before any shift/rescale or softmax (for DoG ``exp(-q) - exp(-r)``, <= 0); the targets
        themselves for codes that have no such step."""
        pos = self._as_pos(pos)
        return self.unnormalised_rows(pos.reshape(-1, 2)).reshape(*pos.shape[:-1], self.n_out)

    def loss(self, outputs: "torch.Tensor", targets: "torch.Tensor") -> "torch.Tensor":
        """Scalar loss of readout logits ``outputs`` against ``targets`` (same shape [..., n_out]).

        Cross-entropy: mean over all leading axes of ``-sum_i y_i log_softmax(z)_i``; MSE: mean over all
        elements of ``(y - z)^2``.
        """
        if outputs.shape != targets.shape:
            raise ValueError(f"outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} differ in shape")
        if self.loss_kind == "cross_entropy":
            return -(targets * torch.log_softmax(outputs, dim=-1)).sum(-1).mean()
        return (outputs - targets).square().mean()

    @no_grad
    def decode(self, outputs: "torch.Tensor") -> "torch.Tensor":
        """Positions [..., 2] decoded from readout outputs (logits or targets) [..., n_out]."""
        z = torch.as_tensor(outputs).to(device=self.device, dtype=torch.float32)
        if z.shape[-1] != self.n_out:
            raise ValueError(f"outputs have {z.shape[-1]} units, readout {self.name!r} has {self.n_out}")
        lead = z.shape[:-1]
        return self.decode_rows(z.reshape(-1, self.n_out)).reshape(*lead, 2)

    # ------------------------------------------------------------------ per encoding
    def encode_rows(self, x: "torch.Tensor") -> "torch.Tensor":
        """Targets [M, n_out] of positions ``x`` [M, 2] (float32; may be a view of the caller's tensor)."""
        raise NotImplementedError

    def unnormalised_rows(self, x: "torch.Tensor") -> "torch.Tensor":
        """:meth:`unnormalised` of positions ``x`` [M, 2]."""
        return self.encode_rows(x)

    def decode_rows(self, z: "torch.Tensor") -> "torch.Tensor":
        """Positions [M, 2] decoded from outputs ``z`` [M, n_out]."""
        raise NotImplementedError


# ---------------------------------------------------------------------- the registry
def names() -> tuple[str, ...]:
    """Every readout name, sorted."""
    return tuple(sorted(_REGISTRY))


def get(name: str) -> type[Readout]:
    """The class of readout ``name``; ConfigError naming the known ones if there is none."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"readout={name!r} is unknown; expected one of {list(names())}") from None


def label(name: str) -> str:
    """The paper's group label of readout ``name``."""
    return get(name).label


def labels() -> dict[str, str]:
    """Readout name -> paper group label, for every readout."""
    return {n: _REGISTRY[n].label for n in names()}


def wide_surround_names() -> tuple[str, ...]:
    """Readouts whose config needs s > 1 (a surround wider than the centre)."""
    return tuple(n for n in names() if _REGISTRY[n].wide_surround)


def loss_kind(name: str, cfg: Any) -> str:
    """The loss ("cross_entropy" or "mse") of readout ``name`` in network config ``cfg``."""
    cls = get(name)
    return cls.loss_kind_for({**OPTION_DEFAULTS, **cls.config_options(cfg)})


def n_out(name: str, n_place: int) -> int:
    """Number of readout units of readout ``name`` when the config says ``n_place``."""
    return get(name).n_out_for(n_place)
