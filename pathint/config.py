"""Typed, validated network configurations, sweeps and stable network ids.

A sweep is written like the paper's: lists of values per key (``grid:``, expanded as a product) over
``fixed:`` values over the experiment's ``defaults:``. Each network's id is a short hash of its full
canonical configuration, so adding a value to a sweep never renames an existing network.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import math
import numbers
import re
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from . import readouts
from .errors import ConfigError

SCHEMA_DIR = Path(__file__).parent / "schemas"

#: Readout names, from the registry of encodings (one module each in pathint/readouts/).
READOUTS: tuple[str, ...] = readouts.names()
#: Readouts whose targets are place-cell codes with a centre-surround (need s > 1).
SURROUND_READOUTS: tuple[str, ...] = readouts.wide_surround_names()
#: Paper labels of Fig. 2 groups, by readout name.
GROUP_LABELS: dict[str, str] = readouts.labels()


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

        for f in fields(self):
            v = getattr(self, f.name)
            numbers_of = (v.low, v.high) if isinstance(v, Uniform) else (v,)
            if any(isinstance(x, float) and not math.isfinite(x) for x in numbers_of):
                raise bad(f.name, v, "expected a finite number (NaN and infinities are not allowed)")
        for key in ("place_cell_rf", "surround_scale"):
            v = getattr(self, key)
            if isinstance(v, Uniform) and not v.low < v.high:
                raise bad(key, v.to_dict(), "Uniform(a, b) needs a < b")
        if self.readout not in READOUTS:
            raise bad("readout", self.readout, f"expected one of {list(READOUTS)}")
        for key, value, expected in readouts.get(self.readout).config_problems(self):
            raise bad(key, value, expected)  # the encoding's own rules (pathint/readouts/<readout>.py)
        if self.lr_warmup_steps >= self.n_steps and self.lr_warmup_steps > 0:
            raise bad("lr_warmup_steps", self.lr_warmup_steps, f"must be smaller than n_steps={self.n_steps}")
        if self.data_mode == "dataset" and self.batch_size > self.dataset_size:
            raise bad("batch_size", self.batch_size, f"data_mode 'dataset' draws batches from dataset_size={self.dataset_size} stored trajectories")

    # ------------------------------------------------------------------ views
    def to_dict(self) -> dict[str, Any]:
        """Canonical plain dict (floats as floats, Uniform as ``{uniform: [a, b]}``)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @property
    def id(self) -> str:
        return network_id(self)

    @property
    def loss_kind(self) -> str:
        """"cross_entropy" or "mse", by the readout's rule."""
        return readouts.loss_kind(self.readout, self)

    @property
    def n_out(self) -> int:
        """Readout units: n_place, or the readout's fixed count."""
        return readouts.n_out(self.readout, self.n_place)


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
    schema = yaml.safe_load((SCHEMA_DIR / name).read_text())
    if name == "network.schema.yaml":
        schema["properties"]["readout"]["enum"] = list(READOUTS)  # the registry is the one list of names
    if name == "config.schema.yaml":
        # The figure modules are the one list of figures. Imported by name: validating an experiment is not
        # part of any stage, and a static import would make every stage's code (pathint.codedeps) include
        # the figure registry through this module.
        names = importlib.import_module("pathint.figures").names()
        make = schema["properties"]["figures"]["properties"]["make"]
        make["items"]["enum"] = list(names)
        make["default"] = list(names)
    return schema


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
        # a number or {uniform: [a, b]}: report what is wrong within the branch of the value's own kind
        specific = [e for e in err.context if not (e.validator == "type" and list(e.absolute_path) == list(err.absolute_path))]
        if specific:
            return _format_error(min(specific, key=lambda e: len(e.absolute_path)), source, prefix)
        return f"{where}: value {_show(err.instance)} is invalid; expected a number or {{uniform: [low, high]}}"
    if err.validator in ("minItems", "maxItems"):
        bound = "at least" if err.validator == "minItems" else "at most"
        return f"{where}: {_show(err.instance)} has {len(err.instance)} item(s); expected {bound} {err.validator_value}"
    if err.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[err.validator]
        return f"{where}: value {_show(err.instance)} is out of range; expected {op} {err.validator_value}"
    if err.validator == "type":
        return f"{where}: value {_show(err.instance)} has the wrong type; expected {err.validator_value}"
    if err.validator == "required":
        return f"{where}: {err.message}"
    return f"{where}: {err.message}"


#: Deepest nesting of lists and mappings accepted in a configuration or sweep (the schemas need 4).
MAX_DEPTH = 32
#: Most values one configuration or sweep may hold, counting repeated YAML aliases each time (the paper's
#: largest sweep file holds a few dozen; a grid's size is bounded separately, MAX_GRID_POINTS).
MAX_VALUES = 1_000_000


def check_plain_data(obj: Any, source: str, prefix: str = "") -> None:
    """Raise ConfigError unless ``obj`` is plain data with finite numbers, for every value at any depth.

    Plain data: mappings with string keys, lists, strings, booleans, null and finite numbers. JSON schema
    lets NaN and infinities through every range check (NaN compares false with everything), so they are
    refused here once, for every key, list item and ``{uniform: [a, b]}`` bound. YAML also reads dates,
    binary and ``yes``/``on`` keys (booleans) and can build self-referencing or exponentially repeated
    aliases: each is named with its key instead of failing later with a traceback or a hang.
    """
    sizes: dict[int, int] = {}  # values below each container already checked (a YAML alias repeats one)

    def where(path: list[str]) -> str:
        return f"{source}: key '{'.'.join(path)}'" if path else source

    def walk(x: Any, path: list[str], active: set[int]) -> int:
        if x is None or isinstance(x, (str, bool)):
            return 1
        if isinstance(x, numbers.Real):
            if not math.isfinite(float(x)):
                raise ConfigError(f"{where(path)}: value {x!r} is not a finite number; NaN and infinities are not allowed")
            return 1
        if isinstance(x, (Mapping, list, tuple)):
            if id(x) in active:
                raise ConfigError(f"{where(path)}: the value contains itself (a recursive YAML alias)")
            if id(x) in sizes:
                return sizes[id(x)]
            if len(path) >= MAX_DEPTH:
                raise ConfigError(f"{where(path)}: nested more than {MAX_DEPTH} levels deep")
            active.add(id(x))
            size = 1
            items = x.items() if isinstance(x, Mapping) else enumerate(x)
            for k, v in items:
                if isinstance(x, Mapping) and not isinstance(k, str):
                    raise ConfigError(
                        f"{where(path)}: key {k!r} is not a name (YAML reads unquoted yes/no/on/off/true/false as "
                        "booleans and digits as numbers); expected a string key"
                    )
                size += walk(v, path + [str(k)], active)
            if size > MAX_VALUES:
                raise ConfigError(
                    f"{where(path)}: holds {size:,} values (YAML aliases count every time they are used); "
                    f"at most {MAX_VALUES:,} are accepted"
                )
            active.discard(id(x))
            sizes[id(x)] = size
            return size
        raise ConfigError(
            f"{where(path)}: value {x!r} of type {type(x).__name__} is not allowed; expected a number, string, "
            "boolean, list or mapping (quote dates and other special values)"
        )

    walk(obj, [prefix] if prefix else [], set())


def validate_network_dict(d: Any, source: str, prefix: str = "") -> None:
    if not isinstance(d, Mapping):
        raise ConfigError(f"{source}: expected a mapping of network parameters, got {type(d).__name__}")
    check_plain_data(d, source, prefix)
    errors = sorted(_validator("network.schema.yaml").iter_errors(dict(d)), key=lambda e: list(e.absolute_path))
    if errors:
        # bool is an int subclass in Python but not in JSON schema; that is what we want.
        raise ConfigError(_format_error(errors[0], source, prefix))


# ---------------------------------------------------------------------- YAML loading
class _DuplicateKey(yaml.MarkedYAMLError):
    """A mapping names the same key twice (PyYAML would keep the last value silently)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``) and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden on purpose
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first.setdefault(key, key_node)
                except TypeError:  # unhashable key: the base class raises a clear error for it
                    continue
                if earlier is not key_node:
                    raise _DuplicateKey(
                        None, None,
                        f"duplicate key {key!r} (first given at line {earlier.start_mark.line + 1}, column "
                        f"{earlier.start_mark.column + 1}); "
                        "YAML would silently keep only the last value",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


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
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except _DuplicateKey as exc:
        mark = exc.problem_mark
        raise ConfigError(f"{path}: line {mark.line + 1}, column {mark.column + 1}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{path}:{where}: not valid YAML ({problem})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read (more than {MAX_DEPTH} levels are never needed)") from None


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
    seed_offset: int = 0,
) -> list[NetworkConfig]:
    """Expand a sweep (``fixed:`` + product of ``grid:`` lists) over ``defaults`` into configs.

    ``step_scale`` multiplies ``n_steps`` and ``lr_warmup_steps`` (at least 1 step) before the id is
    computed, so a scaled-down run never collides with a full-length one. ``seed_offset`` is added to
    every network's seed (the same experiment on other seeds: other ids). ``sample: {n, seed}`` keeps a
    seeded sample of n grid points (:func:`_sample_points`).
    """
    _validate_sweep(sweep, source)
    base = dict(defaults or {})
    base.update(sweep.get("fixed") or {})
    grid = sweep.get("grid") or {}
    keys = list(grid)
    # Validate the shared values once and every grid value once instead of every grid point against the
    # schema (the paper's sweeps have thousands of points; the schema has no cross-key rules).
    validate_network_dict(sweep.get("fixed") or {}, source, prefix="fixed")
    validate_network_dict(base, source)
    for k in keys:
        for v in grid[k]:
            validate_network_dict({k: v}, source, prefix="grid")
    points: Iterable[tuple] = itertools.product(*(grid[k] for k in keys))
    if sweep.get("sample"):
        points = _sample_points(keys, list(points), int(sweep["sample"]["n"]), int(sweep["sample"].get("seed", 0)))
    out = []
    for values in points:
        d = dict(base)
        d.update(zip(keys, values))
        label = ", ".join(f"{k}={_show(v)}" for k, v in zip(keys, values))
        if step_scale != 1.0:
            for key in ("n_steps", "lr_warmup_steps"):
                if isinstance(d.get(key), (int, float)) and not isinstance(d.get(key), bool):
                    d[key] = max(1 if key == "n_steps" else 0, int(round(d[key] * step_scale)))
            scaled = {key: d[key] for key in ("n_steps", "lr_warmup_steps") if key in d}
            validate_network_dict(scaled, f"{source} (grid point {label}, after step_scale={step_scale:g})")
        if seed_offset:
            d["seed"] = int(d.get("seed", 0)) + int(seed_offset)
            validate_network_dict({"seed": d["seed"]}, f"{source} (grid point {label}, after seed_offset={seed_offset})")
        out.append(NetworkConfig.from_dict(d, f"{source}" + (f" (grid point {label})" if label else ""), validated=True))
    return out


#: Most networks one sweep may expand to (the paper's largest sweep has 7,680; all of them ~17,000).
MAX_GRID_POINTS = 100_000


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
    check_plain_data(sweep, source)
    errors = sorted(_validator("sweep.schema.yaml").iter_errors(dict(sweep)), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_format_error(errors[0], source))
    points = math.prod(len(v) for v in (sweep.get("grid") or {}).values())
    if points > MAX_GRID_POINTS:
        sizes = " x ".join(f"{k} {len(v)}" for k, v in sweep["grid"].items())
        raise ConfigError(
            f"{source}: key 'grid' expands to {points:,} networks ({sizes}); at most {MAX_GRID_POINTS:,} per sweep "
            "(split it into several sweeps if that many are really meant)"
        )
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
        raise ConfigError(f"{path}: empty sweep file; expected a mapping with keys 'name' and 'fixed' and/or 'grid'")
    return sweep, str(spec)


def experiment_networks(config: Mapping[str, Any], base_dir: str | Path = ".", source: str = "config") -> list[Network]:
    """All networks of an experiment config, deduplicated by id, in a stable order."""
    defaults = config.get("defaults") or {}
    validate_network_dict(defaults, source, prefix="defaults")
    scale = float(config.get("step_scale", 1.0))
    seed_offset = int(config.get("seed_offset", 0))
    sweeps = config.get("sweeps")
    if not sweeps:
        raise ConfigError(f"{source}: key 'sweeps': the experiment lists no sweeps; expected at least one sweep file")
    nets: dict[str, Network] = {}
    names: set[str] = set()
    for spec in sweeps:
        sweep, sweep_source = load_sweep(spec, base_dir)
        _validate_sweep(sweep, sweep_source)
        name = sweep["name"]
        if name in names:
            raise ConfigError(f"{sweep_source}: sweep name {name!r} is used twice in config key 'sweeps'")
        for cfg in expand_sweep(sweep, defaults, sweep_source, step_scale=scale, seed_offset=seed_offset):
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
            f"{source}: key 'sweeps': networks of one experiment must share the box (box_width, box_height, "
            f"periodic) because they share the evaluation set; the sweeps give {sorted(boxes)}"
        )
    return list(nets.values())


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
        raise ConfigError(f"{source}: expected a mapping of configuration keys ('sweeps', 'defaults', ...), got {type(cfg).__name__}")
    check_plain_data(cfg, source)
    cfg = json.loads(json.dumps(dict(cfg)))
    errors = sorted(_validator("config.schema.yaml").iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_format_error(errors[0], source))
    _fill_defaults(load_schema("config.schema.yaml"), cfg)
    return cfg
