"""Typed, validated network configurations, sweeps and stable network ids.

A sweep is written like the paper's: lists of values per key (``grid:``, expanded as a product) over
``fixed:`` values over the experiment's ``defaults:``. Each network's id is a short hash of its full
canonical configuration, so adding a value to a sweep never renames an existing network.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .errors import ConfigError

SCHEMA_DIR = Path(__file__).parent / "schemas"

READOUTS = (
    "cartesian",
    "high_dim_cartesian",
    "high_dim_polar",
    "gaussian",
    "difference_of_softmaxes",
    "difference_of_gaussians",
    "softmax_of_differences",
    "general_difference_of_gaussians",
)
#: Readouts whose targets are place-cell codes with a centre-surround (need s > 1).
SURROUND_READOUTS = ("difference_of_softmaxes", "difference_of_gaussians", "softmax_of_differences")
#: Paper labels of Fig. 2 groups.
GROUP_LABELS = {
    "cartesian": "Cartesian Low Dim",
    "high_dim_cartesian": "Cartesian High Dim",
    "high_dim_polar": "Polar High Dim",
    "gaussian": "Gaussian",
    "difference_of_gaussians": "DoG",
    "difference_of_softmaxes": "DoS",
    "softmax_of_differences": "SoD",
    "general_difference_of_gaussians": "General DoG",
}


@dataclass(frozen=True)
class Uniform:
    """A value drawn per field from Uniform(low, high); written ``{uniform: [low, high]}``."""

    low: float
    high: float

    def to_dict(self) -> dict:
        return {"uniform": [float(self.low), float(self.high)]}


Scalar = float | Uniform


@dataclass(frozen=True)
class NetworkConfig:
    """Every hyper-parameter of one network. Defaults are the paper's (SPEC §5 "fixed unless listed")."""

    readout: str = "difference_of_softmaxes"
    n_place: int = 512
    place_cell_rf: Scalar = 0.12
    surround_scale: Scalar = 2.0
    surround_convention: str = "nfl"
    gaussian_normalisation: str = "softmax"
    fields_per_cell: float = 0.0
    alpha_e: float = 1.0
    alpha_i: float = 1.0
    architecture: str = "RNN"
    n_grid: int = 1024
    activation: str = "relu"
    initializer: str = "glorot_uniform"
    encoder_gain: float = 1.0
    input_dropout: float = 0.0
    recurrent_dropout: float = 0.0
    weight_decay: float = 1e-4
    ugrnn_weight_decay_quirk: bool = True
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    lr_schedule: str = "constant"
    lr_warmup_steps: int = 0
    batch_size: int = 200
    seq_len: int = 20
    n_steps: int = 200_000
    data_mode: str = "online"
    dataset_size: int = 100_000
    seed: int = 0
    box_width: float = 2.2
    box_height: float = 2.2
    periodic: bool = False

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "configuration", *, validated: bool = False) -> "NetworkConfig":
        """Validate ``d`` (missing keys take defaults) and build a config; errors name key and value.

        ``validated=True`` skips the schema check for dicts whose values were already checked one key at a
        time (the schema has no cross-key rules, so that is equivalent); ``check`` always runs.
        """
        if not validated:
            validate_network_dict(d, source)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in d:
                continue
            kwargs[f.name] = _coerce(f.name, d[f.name], _FIELD_KINDS[f.name])
        cfg = cls(**kwargs)
        cfg.check(source)
        return cfg

    def check(self, source: str = "configuration") -> None:
        """Cross-key rules the schema cannot express."""

        def bad(key: str, value: Any, expected: str) -> ConfigError:
            return ConfigError(f"{source}: {key}={_show(value)} is invalid: {expected}")

        for key in ("place_cell_rf", "surround_scale"):
            v = getattr(self, key)
            if isinstance(v, Uniform) and not v.low < v.high:
                raise bad(key, v.to_dict(), "Uniform(a, b) needs a < b")
        if self.readout == "high_dim_polar" and self.n_place % 2:
            raise bad("n_place", self.n_place, "high_dim_polar needs an even n_place (half radius, half angle units)")
        if self.readout == "cartesian" and self.n_place != 2:
            raise bad("n_place", self.n_place, "the cartesian readout has exactly 2 units")
        if self.readout in SURROUND_READOUTS:
            s = self.surround_scale
            low = s.low if isinstance(s, Uniform) else s
            if low <= 1:
                raise bad("surround_scale", _plain(s), f"{self.readout} needs a surround wider than the centre (s > 1)")
        if self.readout == "gaussian" and self.gaussian_normalisation == "none":
            pass  # MSE on exp(-q): valid
        if self.lr_warmup_steps >= self.n_steps and self.lr_warmup_steps > 0:
            raise bad("lr_warmup_steps", self.lr_warmup_steps, f"must be smaller than n_steps={self.n_steps}")

    # ------------------------------------------------------------------ views
    def to_dict(self) -> dict[str, Any]:
        """Canonical plain dict (floats as floats, Uniform as ``{uniform: [a, b]}``)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @property
    def id(self) -> str:
        return network_id(self)

    @property
    def loss_kind(self) -> str:
        if self.readout in ("cartesian", "high_dim_cartesian", "high_dim_polar"):
            return "mse"
        if self.readout == "gaussian" and self.gaussian_normalisation == "none":
            return "mse"
        return "cross_entropy"

    @property
    def n_out(self) -> int:
        return 2 if self.readout == "cartesian" else self.n_place


def _plain(v: Any) -> Any:
    return v.to_dict() if isinstance(v, Uniform) else v


def _show(v: Any) -> str:
    return json.dumps(_plain(v)) if not isinstance(v, str) else repr(v)


_FIELD_KINDS = {
    f.name: ("scalar" if f.type == "Scalar" else f.type) for f in fields(NetworkConfig)
}


def _coerce(key: str, value: Any, kind: str) -> Any:
    if kind == "scalar":
        if isinstance(value, Mapping):
            a, b = value["uniform"]
            return Uniform(float(a), float(b))
        return float(value)
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    return value


def network_id(cfg: NetworkConfig) -> str:
    """Stable short id: sha1 of the canonical JSON of the full configuration."""
    blob = json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


# ---------------------------------------------------------------------- schema validation
@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    return yaml.safe_load((SCHEMA_DIR / name).read_text())


def _validator(name: str):
    import jsonschema

    schema = load_schema(name)
    return jsonschema.Draft202012Validator(schema)


def _format_error(err: Any, source: str, prefix: str = "") -> str:
    path = ".".join([prefix] * bool(prefix) + [str(p) for p in err.absolute_path])
    where = f"{source}: key '{path}'" if path else source
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        allowed = ", ".join(sorted(err.schema.get("properties", {})))
        return f"{where}: unknown key(s) {', '.join(map(repr, extra))}; allowed keys: {allowed}"
    if err.validator == "enum":
        return f"{where}: value {_show(err.instance)} is not allowed; expected one of {err.validator_value}"
    if err.validator == "oneOf":
        return f"{where}: value {_show(err.instance)} is invalid; expected a positive number or {{uniform: [low, high]}}"
    if err.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[err.validator]
        return f"{where}: value {_show(err.instance)} is out of range; expected {op} {err.validator_value}"
    if err.validator == "type":
        return f"{where}: value {_show(err.instance)} has the wrong type; expected {err.validator_value}"
    if err.validator == "required":
        return f"{where}: {err.message}"
    return f"{where}: {err.message}"


def validate_network_dict(d: Any, source: str, prefix: str = "") -> None:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{source}: expected a mapping of network parameters, got {type(d).__name__}")
    errors = sorted(_validator("network.schema.yaml").iter_errors(dict(d)), key=lambda e: list(e.absolute_path))
    if errors:
        # bool is an int subclass in Python but not in JSON schema; that is what we want.
        raise ConfigError(_format_error(errors[0], source, prefix))


# ---------------------------------------------------------------------- YAML loading
class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file; a missing or malformed file raises ConfigError naming it."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None


# ---------------------------------------------------------------------- sweeps
@dataclass(frozen=True)
class Network:
    """A network of the experiment: its config, id, figure group and the sweeps that list it."""

    id: str
    config: NetworkConfig
    group: str
    sweeps: tuple[str, ...]


def expand_sweep(
    sweep: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
    source: str = "sweep",
    step_scale: float = 1.0,
) -> list[NetworkConfig]:
    """Expand a sweep (``fixed:`` + product of ``grid:`` lists) over ``defaults`` into configs.

    ``step_scale`` multiplies ``n_steps`` and ``lr_warmup_steps`` (at least 1 step) before the id is
    computed, so a scaled-down run never collides with a full-length one. ``sample: {n, seed}`` keeps a
    seeded sample of n grid points (:func:`_sample_points`).
    """
    _validate_sweep(sweep, source)
    base = dict(defaults or {})
    base.update(sweep.get("fixed") or {})
    grid = sweep.get("grid") or {}
    keys = list(grid)
    # Validate the shared values once and every grid value once instead of every grid point against the
    # schema (the paper's sweeps have thousands of points; the schema has no cross-key rules).
    validate_network_dict(base, source)
    for k in keys:
        for v in grid[k]:
            validate_network_dict({k: v}, source)
    points: Iterable[tuple] = itertools.product(*(grid[k] for k in keys))
    if sweep.get("sample"):
        points = _sample_points(keys, list(points), int(sweep["sample"]["n"]), int(sweep["sample"].get("seed", 0)))
    out = []
    for values in points:
        d = dict(base)
        d.update(zip(keys, values))
        if step_scale != 1.0:
            for key in ("n_steps", "lr_warmup_steps"):
                if isinstance(d.get(key), (int, float)) and not isinstance(d.get(key), bool):
                    d[key] = max(1 if key == "n_steps" else 0, int(round(d[key] * step_scale)))
        label = ", ".join(f"{k}={_show(v)}" for k, v in zip(keys, values))
        out.append(NetworkConfig.from_dict(d, f"{source}" + (f" (grid point {label})" if label else ""), validated=True))
    return out


def _sample_points(keys: list[str], points: list[tuple], n: int, seed: int) -> list[tuple]:
    """The ``n`` grid points with the smallest sha256 of ``[seed, {key: value}]`` (canonical JSON), in grid
    order. A point's rank depends only on its own values and the seed, so the sample does not depend on
    the numpy version or the order of the grid's keys, and a larger ``n`` keeps every point of a smaller."""
    if n >= len(points):
        return points

    def rank(i: int) -> bytes:
        point = {k: _plain(v) for k, v in zip(keys, points[i])}
        return hashlib.sha256(json.dumps([seed, point], sort_keys=True, separators=(",", ":")).encode()).digest()

    chosen = sorted(range(len(points)), key=rank)[:n]
    return [points[i] for i in sorted(chosen)]


def _validate_sweep(sweep: Any, source: str) -> None:
    if not isinstance(sweep, Mapping):
        raise ConfigError(f"{source}: a sweep must be a mapping with 'name', 'fixed' and/or 'grid', got {type(sweep).__name__}")
    errors = sorted(_validator("sweep.schema.yaml").iter_errors(dict(sweep)), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_format_error(errors[0], source))
    net_keys = set(load_schema("network.schema.yaml")["properties"])
    for section in ("fixed", "grid"):
        unknown = sorted(set(sweep.get(section) or {}) - net_keys)
        if unknown:
            raise ConfigError(
                f"{source}: unknown network parameter(s) {', '.join(map(repr, unknown))} in '{section}'; "
                f"allowed: {', '.join(sorted(net_keys))}"
            )
    both = sorted(set(sweep.get("fixed") or {}) & set(sweep.get("grid") or {}))
    if both:
        raise ConfigError(f"{source}: key(s) {', '.join(map(repr, both))} appear in both 'fixed' and 'grid'")


def load_sweep(spec: str | Mapping[str, Any], base_dir: str | Path = ".") -> tuple[dict, str]:
    """A sweep given inline or as a path (relative to ``base_dir``); returns (sweep, source name)."""
    if isinstance(spec, Mapping):
        return dict(spec), f"inline sweep '{spec.get('name', '?')}'"
    path = Path(base_dir) / spec
    sweep = load_yaml(path)
    if sweep is None:
        raise ConfigError(f"{path}: empty sweep file")
    return sweep, str(spec)


def experiment_networks(config: Mapping[str, Any], base_dir: str | Path = ".", source: str = "config") -> list[Network]:
    """All networks of an experiment config, deduplicated by id, in a stable order."""
    defaults = config.get("defaults") or {}
    validate_network_dict(defaults, source, prefix="defaults")
    scale = float(config.get("step_scale", 1.0))
    sweeps = config.get("sweeps")
    if not sweeps:
        raise ConfigError("config key 'sweeps': the experiment lists no sweeps; expected at least one sweep file")
    nets: dict[str, Network] = {}
    names: set[str] = set()
    for spec in sweeps:
        sweep, source = load_sweep(spec, base_dir)
        name = sweep.get("name") if isinstance(sweep, Mapping) else None
        if name in names:
            raise ConfigError(f"{source}: sweep name {name!r} is used twice in config key 'sweeps'")
        for cfg in expand_sweep(sweep, defaults, source, step_scale=scale):
            names.add(name)
            nid = network_id(cfg)
            group = sweep.get("group") or GROUP_LABELS[cfg.readout]
            if nid in nets:
                prev = nets[nid]
                nets[nid] = Network(nid, cfg, prev.group, prev.sweeps + ((name,) if name not in prev.sweeps else ()))
            else:
                nets[nid] = Network(nid, cfg, group, (name,))
    boxes = {(n.config.box_width, n.config.box_height, n.config.periodic) for n in nets.values()}
    if len(boxes) > 1:
        raise ConfigError(
            "networks of one experiment must share the box (box_width, box_height, periodic) because they share "
            f"the evaluation set; the sweeps give {sorted(boxes)}"
        )
    return list(nets.values())


def networks_table(networks: Iterable[Network]):
    """One row per network (config columns, id, group, sweeps) as a pandas DataFrame."""
    import pandas as pd

    rows = []
    for n in networks:
        row = {"id": n.id, "group": n.group, "sweeps": ";".join(n.sweeps)}
        for k, v in n.config.to_dict().items():
            row[k] = json.dumps(v) if isinstance(v, dict) else v
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------- experiment config
def _fill_defaults(schema: Mapping[str, Any], obj: dict) -> None:
    for key, spec in schema.get("properties", {}).items():
        if key not in obj and "default" in spec:
            obj[key] = json.loads(json.dumps(spec["default"]))
        if isinstance(obj.get(key), dict) and spec.get("type") == "object":
            _fill_defaults(spec, obj[key])


def load_experiment(path: str | Path) -> dict[str, Any]:
    """Read and validate an experiment config (config.yaml) outside Snakemake, with its defaults."""
    return check_experiment(load_yaml(path), str(path))


def check_experiment(cfg: Any, source: str = "config") -> dict[str, Any]:
    """Validate an experiment config against its schema; return a copy with defaults filled in."""
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{source}: expected a mapping of configuration keys, got {type(cfg).__name__}")
    cfg = json.loads(json.dumps(dict(cfg)))
    errors = sorted(_validator("config.schema.yaml").iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_format_error(errors[0], source))
    _fill_defaults(load_schema("config.schema.yaml"), cfg)
    return cfg
