"""Property-based fuzzing of configurations and sweep files (hypothesis), through ``python -m pathint validate``.

Experiments (a config and one or two sweep files) are generated from the schemas in pathint/schemas (every key,
its type, enum and range), then one mutation of a class is applied: a wrong type, a non-finite number, a value
out of range, a missing or an extra key, a duplicated key (in the YAML text), an empty list or a huge one.
Every input must either be accepted and then run its first training step, or be rejected with one line that
names the file and a key; never a traceback, and validation writes nothing (``results`` stays uncreated).

Mutated inputs of the classes below must be rejected, and the message must name the mutated key. Accepted
inputs train one step of each of their first two networks with sizes clamped (Ng, Np ≤ 16, batch ≤ 4,
T ≤ 4, a dataset of ≤ 8 trajectories) on the CPU, everything else exactly as accepted; the memory check has
already seen the full sizes. Seeded (``derandomize``) and bounded (``max_examples``).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from pathint.__main__ import main
from pathint.config import experiment_networks, load_experiment, load_schema

NET = load_schema("network.schema.yaml")
CFG = load_schema("config.schema.yaml")
SWEEP = load_schema("sweep.schema.yaml")

#: Mutation classes; "none" leaves the generated input as it is (accepted or rejected, both are fine).
KINDS = ("none", "wrong_type", "non_finite", "out_of_range", "missing_key", "extra_key", "duplicate_key",
         "empty_list", "huge_list")
#: Examples per mutation class (nine classes).
EXAMPLES = 25


# ---------------------------------------------------------------------------------------- schema lookup
def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].split("/")[-1]]
    return schema


def _root_and_path(doc: str, path: list) -> tuple[dict, dict, list]:
    """(schema, root for $ref, remaining path) of a path into a config ("config") or a sweep ("sweep")."""
    if doc == "config":
        if path[:1] == ["defaults"]:
            return NET, NET, path[1:]
        return CFG, CFG, path
    if path[:1] == ["fixed"]:
        return NET, NET, path[1:]
    if path[:1] == ["grid"] and len(path) >= 2:
        prop = NET["properties"].get(path[1], {})
        return {"type": "array", "items": prop, "minItems": 1}, NET, path[2:]
    return SWEEP, SWEEP, path


def schema_at(doc: str, path: list) -> dict | None:
    """The schema that governs the value at ``path`` (None where no schema says anything)."""
    schema, root, rest = _root_and_path(doc, list(path))
    for i, p in enumerate(rest):
        schema = _resolve(schema, root)
        if "oneOf" in schema:  # number or {uniform: [a, b]}: the object branch when the path goes on
            schema = _resolve(schema["oneOf"][1 if isinstance(p, str) else 0], root)
        if isinstance(p, int):
            schema = schema.get("items", {})
        else:
            schema = schema.get("properties", {}).get(p) or schema.get("additionalProperties")
            if not isinstance(schema, dict):
                return None
    schema = _resolve(schema, root)
    if "oneOf" in schema:
        schema = _resolve(schema["oneOf"][0], root)
    return schema


# ---------------------------------------------------------------------------------------- generation
def _numbers(schema: dict, integer: bool) -> st.SearchStrategy:
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi = schema.get("maximum", schema.get("exclusiveMaximum"))
    if integer:
        lo = 0 if lo is None else int(lo) + ("exclusiveMinimum" in schema)
        hi = lo + 10**6 if hi is None else int(hi) - ("exclusiveMaximum" in schema)
        # mostly small (configs that fit in memory and train), sometimes anywhere in range
        return st.one_of(st.integers(lo, min(hi, lo + 24)), st.integers(lo, hi))
    lo = -1e3 if lo is None else lo
    hi = 1e3 if hi is None else hi
    return st.floats(lo, hi, exclude_min="exclusiveMinimum" in schema, exclude_max="exclusiveMaximum" in schema,
                     allow_nan=False, allow_infinity=False)


def from_schema(schema: dict, root: dict, depth: int = 0) -> st.SearchStrategy:
    """Values the schema allows (typed and in range; cross-key rules are left to chance)."""
    schema = _resolve(schema, root)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of(*(from_schema(b, root, depth) for b in schema["oneOf"]))
    kind = schema.get("type")
    if kind == "integer":
        return _numbers(schema, True)
    if kind == "number":
        return _numbers(schema, False)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(r"\A[A-Za-z0-9_.-]{1,12}\Z")
        return st.text("abcxyz _-", min_size=schema.get("minLength", 0), max_size=8)
    if kind == "array":
        lo = schema.get("minItems", 0)
        hi = min(schema.get("maxItems", lo + 3), lo + 3)
        items = from_schema(schema.get("items", {}), root, depth + 1)
        return st.lists(items, min_size=lo, max_size=hi, unique=schema.get("uniqueItems", False))
    if kind == "object" and "properties" in schema and depth < 3:
        props = {k: SPECIAL[k] if k in SPECIAL else from_schema(v, root, depth + 1) for k, v in schema["properties"].items()}
        return st.fixed_dictionaries({k: props[k] for k in schema.get("required", [])},
                                     optional={k: v for k, v in props.items() if k not in schema.get("required", [])})
    return st.none()


NETWORK_KEYS = sorted(NET["properties"])


#: Keys drawn from their own ranges rather than the schema's small-biased one (memory requests below
#: the smallest job would reject almost every experiment).
SPECIAL = {"mem_mb": st.integers(100, 64000)}


@st.composite
def network_dicts(draw, max_keys: int = 4) -> dict:
    keys = draw(st.lists(st.sampled_from(NETWORK_KEYS), max_size=max_keys, unique=True))
    return {k: draw(from_schema(NET["properties"][k], NET)) for k in keys}


@st.composite
def sweeps(draw, name: str) -> dict:
    sweep: dict[str, Any] = {"name": name}
    if draw(st.booleans()):
        sweep["description"] = draw(st.text("abc ", max_size=10))
    if draw(st.booleans()):
        sweep["group"] = draw(st.text("abcDoS ", min_size=1, max_size=10))
    fixed = draw(network_dicts())
    if fixed or draw(st.booleans()):
        sweep["fixed"] = fixed
    grid_keys = draw(st.lists(st.sampled_from([k for k in NETWORK_KEYS if k not in fixed]), max_size=2, unique=True))
    if grid_keys:
        sweep["grid"] = {k: draw(st.lists(from_schema(NET["properties"][k], NET), min_size=1, max_size=3)) for k in grid_keys}
    return sweep


@st.composite
def experiments(draw, folder: str) -> tuple[dict, list[dict]]:
    n_sweeps = draw(st.integers(1, 2))
    sweep_docs = [draw(sweeps(f"s{i}")) for i in range(n_sweeps)]
    cfg: dict[str, Any] = {"results": f"{folder}/out", "sweeps": [f"{folder}/s{i}.yaml" for i in range(n_sweeps)]}
    if draw(st.booleans()):
        cfg["defaults"] = draw(network_dicts())
    if draw(st.booleans()):
        cfg["step_scale"] = draw(from_schema(CFG["properties"]["step_scale"], CFG))
    for section in ("training", "evaluation", "scoring", "packing", "figures"):
        if draw(st.booleans()):
            cfg[section] = draw(from_schema(CFG["properties"][section], CFG))
    return cfg, sweep_docs


# ---------------------------------------------------------------------------------------- mutation
def _walk(x: Any, path: list) -> list[tuple[list, Any]]:
    out = [(path, x)]
    if isinstance(x, dict):
        for k, v in x.items():
            out += _walk(v, path + [k])
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out += _walk(v, path + [i])
    return out


def _set(doc: Any, path: list, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return doc


def _leaf_key(path: list) -> str:
    """The last named key of a path (list indices name nothing)."""
    names = [p for p in path if isinstance(p, str)]
    return names[-1] if names else ""


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _network_section(doc_kind: str, doc: dict) -> tuple[str, dict]:
    """The document's mapping of network parameters (created if absent): ``defaults`` or ``fixed``."""
    section = "defaults" if doc_kind == "config" else "fixed"
    if not isinstance(doc.get(section), dict):
        doc[section] = {}
    return section, doc[section]


@st.composite
def mutation(draw, kind: str, doc_kind: str, doc: Any) -> tuple[Any, str, bool]:
    """(mutated document or its YAML text, key the message must name, whether it must be rejected)."""
    nodes = _walk(doc, [])
    if kind == "wrong_type":
        path, value = draw(st.sampled_from(nodes))
        wrong = [w for w in ("text", [1, 2], {"k": 1}, True, None) if type(w) is not type(value)
                 and not (_is_number(value) and _is_number(w))]
        if isinstance(value, str):
            wrong = [w for w in wrong if not isinstance(w, str)]
        return _set(doc, path, draw(st.sampled_from(wrong))), _leaf_key(path), True
    if kind == "non_finite":
        value = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        numbers = [(p, v) for p, v in nodes if _is_number(v)]
        if not numbers:  # nothing numeric drawn: give the network section a number to spoil
            section, params = _network_section(doc_kind, doc)
            params["learning_rate"] = value
            return doc, "learning_rate", True
        path, _ = draw(st.sampled_from(numbers))
        return _set(doc, path, value), _leaf_key(path), True
    if kind == "out_of_range":
        bounded = []
        for p, v in nodes:
            s = schema_at(doc_kind, p) if p and _is_number(v) else None
            if s and any(b in s for b in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum")):
                bounded.append((p, s))
        if not bounded:
            section, params = _network_section(doc_kind, doc)
            params["n_grid"] = 65537
            return doc, "n_grid", True
        if bounded:
            path, s = draw(st.sampled_from(bounded))
            integer = s.get("type") == "integer"
            options = []
            if "minimum" in s:
                options.append(s["minimum"] - (1 if integer else max(abs(s["minimum"]) * 0.5, 0.5)))
            if "exclusiveMinimum" in s:
                options.append(s["exclusiveMinimum"])
            if "maximum" in s:
                options.append(s["maximum"] + (1 if integer else max(abs(s["maximum"]) * 0.5, 0.5)))
            if "exclusiveMaximum" in s:
                options.append(s["exclusiveMaximum"])
            if "enum" in s:
                options.append(max(e for e in s["enum"] if _is_number(e)) + 1)
            return _set(doc, path, draw(st.sampled_from(options))), _leaf_key(path), True
    if kind == "missing_key":
        required = "sweeps" if doc_kind == "config" else "name"
        if draw(st.booleans()):
            del doc[required]
            return doc, required, True
        keyed = [(p, v) for p, v in nodes if p and isinstance(p[-1], str)]
        path, _ = draw(st.sampled_from(keyed))
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        del parent[path[-1]]
        return doc, "", path == [required]
    if kind == "extra_key":
        mappings = [p for p, v in nodes if isinstance(v, dict)]
        path = draw(st.sampled_from(mappings))
        target = doc
        for p in path:
            target = target[p]
        target["zz_extra"] = draw(st.sampled_from([1, "x", [0.5]]))
        return doc, "zz_extra", True
    if kind == "duplicate_key":
        text = yaml.safe_dump(doc, default_flow_style=False, sort_keys=False)
        lines = text.splitlines()
        keyed = [i for i, line in enumerate(lines) if re.match(r"^\s*[A-Za-z_]\w*:(\s|$)", line)]
        i = draw(st.sampled_from(keyed))
        key = lines[i].split(":")[0].strip()
        lines.insert(i + 1, lines[i])
        return "\n".join(lines) + "\n", key, True
    if kind == "empty_list":
        lists = [p for p, v in nodes if isinstance(v, list) and v]
        if not lists:  # a sweep without a grid
            doc["grid"] = {"seed": []}
            return doc, "seed", True
        path = draw(st.sampled_from(lists))
        s = schema_at(doc_kind, path) or {}
        return _set(doc, path, []), _leaf_key(path), s.get("minItems", 0) >= 1
    if kind == "huge_list":
        if doc_kind == "sweep":
            doc["grid"] = {k: list(range(1, 12)) for k in ("seed", "n_steps", "n_grid", "batch_size", "seq_len", "dataset_size")}
            doc.pop("fixed", None)
            return doc, "grid", True
        section, key, size = draw(st.sampled_from([("scoring", "thresholds", 101), ("figures", "fig4a_thresholds", 101),
                                                    ("figures", "groups", 1001)]))
        doc.setdefault(section, {})[key] = [0.5] * size if key != "groups" else ["g"] * size
        return doc, key, True
    return doc, "", False


# ---------------------------------------------------------------------------------------- the property
#: A key named in a message: "key 'a.b'", a quoted name, or "name=value" (cross-key rules).
KEY_RE = re.compile(r"key '[^']+'|duplicate key '|'[A-Za-z_]\w*'|\b[a-z_]+=")


def _validate(config_path: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", "--config", str(config_path)])
    return code, err.getvalue()


def _first_step(config_path: Path, work: Path) -> None:
    """One training step of each of the first two networks, sizes clamped (module docstring)."""
    from pathint.stages import run_trajectories, training_set_defines
    from pathint.training import TrainRuntime, train

    config = load_experiment(config_path)
    nets = experiment_networks(config, source=str(config_path))
    for k, net in enumerate(nets[:2]):
        c = net.config
        small = replace(c, n_grid=min(c.n_grid, 16), n_place=min(c.n_place, 16), batch_size=min(c.batch_size, 4),
                        seq_len=min(c.seq_len, 4), n_steps=1, lr_warmup_steps=0,
                        dataset_size=max(min(c.dataset_size, 8), min(c.batch_size, 4)))
        small.check("clamped")
        rt = TrainRuntime(device="cpu", threads=1, checkpoint_every=config["training"]["checkpoint_every"],
                          log_every=config["training"]["log_every"], precision=config["training"]["precision"],
                          progress=False)
        if small.data_mode == "dataset":
            rt.dataset_path = str(work / f"data{k}.h5")
            box = {"box_width": small.box_width, "box_height": small.box_height, "periodic": small.periodic}
            run_trajectories(files={"h5": rt.dataset_path, "prov": work / f"data{k}.prov.json"},
                             defines=training_set_defines(small, box))
        result = train(small, work / f"net{k}", rt, log=lambda _msg: None)
        assert result.status in ("ok", "diverged")


def _write(folder: Path, docs: dict[str, Any]) -> None:
    for name, d in docs.items():
        text = d if isinstance(d, str) else yaml.safe_dump(d, default_flow_style=False, sort_keys=False)
        (folder / name).write_text(text)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_input_is_accepted_and_trains_or_rejected_in_one_line(kind, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "exp"
        folder.mkdir()
        cfg, sweep_docs = data.draw(experiments(str(folder)), label="experiment")
        docs = {"config.yaml": ("config", cfg), **{f"s{i}.yaml": ("sweep", s) for i, s in enumerate(sweep_docs)}}
        target = data.draw(st.sampled_from(sorted(docs)), label="mutated file")
        doc_kind, doc = docs[target]
        mutated, key, must_reject = data.draw(mutation(kind, doc_kind, copy.deepcopy(doc)), label="mutation")
        # the input before the mutation: a message may only be pinned on the mutated key if it was valid
        _write(folder, {name: d for name, (_, d) in docs.items()})
        base_code, _ = _validate(folder / "config.yaml")
        _write(folder, {target: mutated})
        before = sorted(folder.rglob("*"))

        code, err = _validate(folder / "config.yaml")
        event(f"{'accepted' if code == 0 else 'rejected'}{' (pinned)' if must_reject and base_code == 0 else ''}")

        assert sorted(folder.rglob("*")) == before, "validation wrote something"
        assert code in (0, 2), (code, err)
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in err, err
            msg = lines[0]
            assert msg.startswith("pathint: ") and any(name in msg for name in docs), msg
            assert KEY_RE.search(msg), msg
            if must_reject and base_code == 0:
                assert target in msg, (kind, target, msg)
                assert key in msg, (kind, key, msg)
        else:
            assert not must_reject, f"{kind} mutation of {target} ({key}) was accepted"
            work = Path(tmp) / "train"
            work.mkdir()
            _first_step(folder / "config.yaml", work)
