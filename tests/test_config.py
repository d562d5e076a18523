"""Sweep expansion, stable ids and configuration validation (pathint.config)."""

from dataclasses import fields

import pytest
import yaml

from pathint.config import (
    NetworkConfig,
    Uniform,
    expand_sweep,
    experiment_networks,
    load_schema,
    load_yaml,
    network_id,
)
from pathint.errors import ConfigError


def test_schema_and_dataclass_list_the_same_keys_and_defaults():
    props = load_schema("network.schema.yaml")["properties"]
    assert set(props) == {f.name for f in fields(NetworkConfig)}
    default = NetworkConfig().to_dict()
    for key, spec in props.items():
        assert spec["default"] == default[key], key


def test_grid_is_a_product_over_fixed_over_defaults():
    sweep = {"name": "s", "fixed": {"readout": "gaussian"}, "grid": {"seed": [0, 1, 2], "activation": ["relu", "tanh"]}}
    cfgs = expand_sweep(sweep, {"n_grid": 64, "readout": "cartesian"})
    assert len(cfgs) == 6
    assert {c.readout for c in cfgs} == {"gaussian"}
    assert {c.n_grid for c in cfgs} == {64}
    assert {(c.seed, c.activation) for c in cfgs} == {(s, a) for s in range(3) for a in ("relu", "tanh")}


def test_ids_are_stable_when_a_value_is_added():
    base = {"name": "s", "fixed": {"readout": "difference_of_softmaxes"}, "grid": {"seed": [0, 1]}}
    more = {"name": "s", "fixed": {"readout": "difference_of_softmaxes"}, "grid": {"seed": [0, 1, 2]}}
    ids_before = [c.id for c in expand_sweep(base)]
    ids_after = [c.id for c in expand_sweep(more)]
    assert ids_after[:2] == ids_before
    assert len(set(ids_after)) == 3


def test_id_ignores_how_a_number_was_written():
    a = NetworkConfig.from_dict({"weight_decay": 0, "learning_rate": 1e-3, "n_grid": 64})
    b = NetworkConfig.from_dict({"weight_decay": 0.0, "learning_rate": 0.001, "n_grid": 64})
    assert network_id(a) == network_id(b)
    assert network_id(a) != network_id(NetworkConfig.from_dict({"weight_decay": 0.0, "learning_rate": 0.002, "n_grid": 64}))


def test_uniform_values_round_trip_and_change_the_id():
    cfg = NetworkConfig.from_dict({"place_cell_rf": {"uniform": [0.06, 0.18]}})
    assert cfg.place_cell_rf == Uniform(0.06, 0.18)
    assert NetworkConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.id != NetworkConfig().id


def test_yaml_loader_reads_exponent_floats(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\nfixed: {learning_rate: 1e-4, weight_decay: 1E-3}\n")
    sweep = load_yaml(p)
    (cfg,) = expand_sweep(sweep)
    assert cfg.learning_rate == 1e-4 and cfg.weight_decay == 1e-3


def test_step_scale_shortens_training_and_changes_ids(tmp_path):
    (tmp_path / "s.yaml").write_text("name: s\nfixed: {n_steps: 1000}\n")
    full = experiment_networks({"sweeps": ["s.yaml"]}, tmp_path)
    tenth = experiment_networks({"sweeps": ["s.yaml"], "step_scale": 0.1}, tmp_path)
    assert full[0].config.n_steps == 1000 and tenth[0].config.n_steps == 100
    assert full[0].id != tenth[0].id


def test_seed_offset_moves_every_seed_and_changes_ids(tmp_path):
    (tmp_path / "s.yaml").write_text("name: s\nfixed: {seed: 0}\n")
    (tmp_path / "t.yaml").write_text("name: t\nfixed: {learning_rate: 0.01}\ngrid: {seed: [0, 1]}\n")
    base = experiment_networks({"sweeps": ["s.yaml", "t.yaml"]}, tmp_path)
    moved = experiment_networks({"sweeps": ["s.yaml", "t.yaml"], "seed_offset": 2}, tmp_path)
    assert [n.config.seed for n in base] == [0, 0, 1] and [n.config.seed for n in moved] == [2, 2, 3]
    assert not {n.id for n in base} & {n.id for n in moved}
    assert [n.config.learning_rate for n in moved] == [n.config.learning_rate for n in base]


def test_networks_shared_by_sweeps_are_listed_once(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\ngrid: {seed: [0, 1]}\n")
    (tmp_path / "b.yaml").write_text("name: b\ngrid: {seed: [1, 2]}\n")
    nets = experiment_networks({"sweeps": ["a.yaml", "b.yaml"]}, tmp_path)
    assert len(nets) == 3
    shared = [n for n in nets if n.config.seed == 1]
    assert shared[0].sweeps == ("a", "b")
    assert shared[0].group == "DoS"


@pytest.mark.parametrize(
    "sweep, fragment",
    [
        ({"name": "s", "fixed": {"readout": "high_dim_polar", "n_place": 127}}, "n_place=127"),
        ({"name": "s", "grid": {"seed": []}}, "grid.seed"),
        ({"name": "s", "fixed": {"n_gird": 5}}, "'n_gird'"),
        ({"name": "s", "fixed": {"surround_scale": 1.0}}, "surround_scale=1.0"),
        ({"name": "s", "fixed": {"place_cell_rf": {"uniform": [0.2, 0.1]}}}, "place_cell_rf"),
        ({"name": "s", "fixed": {"activation": "gelu"}}, "'gelu'"),
        ({"name": "s", "fixed": {"n_steps": -5}}, "n_steps"),
        ({"name": "s", "fixed": {"learning_rate": "fast"}}, "learning_rate"),
        ({"name": "s", "fixed": {"n_grid": 1.5}}, "n_grid"),
        ({"name": "s", "fixed": {"periodic": "yes"}}, "periodic"),
        ({"name": "s", "fixed": {"seed": 0}, "grid": {"seed": [1]}}, "'seed'"),
        ({"fixed": {"seed": 0}}, "name"),
        ({"name": "s", "grid": {"seed": 3}}, "grid.seed"),
        ({"name": "s", "fixed": {"readout": "cartesian"}}, "n_place"),
        ({"name": "s", "fixed": {"input_dropout": 1.0}}, "input_dropout"),
    ],
)
def test_invalid_sweeps_name_the_key(sweep, fragment):
    with pytest.raises(ConfigError) as err:
        expand_sweep(sweep, {}, source="my_sweep.yaml")
    msg = str(err.value)
    assert fragment in msg and "my_sweep.yaml" in msg
    assert "\n" not in msg


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        experiment_networks({"sweeps": ["nope.yaml"]}, tmp_path)
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml.*not valid YAML"):
        experiment_networks({"sweeps": ["bad.yaml"]}, tmp_path)
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty.yaml: empty sweep file"):
        experiment_networks({"sweeps": ["empty.yaml"]}, tmp_path)


def test_shipped_configs_expand(repo_root):
    for name in ("config.yaml", "configs/smoke.yaml"):
        cfg = yaml.safe_load((repo_root / name).read_text())
        nets = experiment_networks(cfg, repo_root)
        assert nets, name
        assert len({n.id for n in nets}) == len(nets)
