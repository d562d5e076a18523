"""Seeded sweep samples (``sample:`` in a sweep, pathint.config.expand_sweep) and configs/paper_lite.yaml.

Paper-lite must be a sample of the paper's own Fig. 2 sweeps (the same grids), hold at least 1,000 distinct
networks with every Fig. 2 group in proportion to the paper's sweep sizes, be deterministic, and plan
(``snakemake -n``) in under a minute.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from pipeline_utils import planned_jobs

from pathint.config import check_experiment, expand_sweep, experiment_networks, load_yaml
from pathint.errors import ConfigError
from pathint.grouped import plan_groups

ROOT = Path(__file__).resolve().parents[1]
LITE = ROOT / "configs" / "paper_lite.yaml"
FIG2_SWEEPS = {  # sweep -> Fig. 2 group, as in configs/paper.yaml
    "cartesian": "Cartesian Low Dim",
    "high_dim_cartesian": "Cartesian High Dim",
    "high_dim_polar": "Polar High Dim",
    "gaussian": "Gaussian",
    "dos": "DoS",
    "true_dog": "DoG",
    "sod": "SoD",
}


def grid_sweep(n: int | None = None, seed: int = 0) -> dict:
    sweep = {"name": "s", "fixed": {"readout": "gaussian", "n_place": 8, "n_grid": 8},
             "grid": {"seed": list(range(10)), "place_cell_rf": [0.1, 0.2, 0.3], "activation": ["relu", "tanh"]}}
    if n is not None:
        sweep["sample"] = {"n": n, "seed": seed}
    return sweep


def test_a_sample_is_a_seeded_subset_of_the_grid_in_grid_order():
    full = expand_sweep(grid_sweep())
    sample = expand_sweep(grid_sweep(12, seed=1))
    assert len(full) == 60 and len(sample) == 12
    ids = [c.id for c in full]
    positions = [ids.index(c.id) for c in sample]
    assert positions == sorted(positions)  # grid order kept
    assert [c.id for c in expand_sweep(grid_sweep(12, seed=1))] == [c.id for c in sample]  # deterministic
    assert {c.id for c in expand_sweep(grid_sweep(12, seed=2))} != {c.id for c in sample}  # the seed matters
    # nested: a larger sample keeps every point of a smaller one
    assert {c.id for c in sample} < {c.id for c in expand_sweep(grid_sweep(30, seed=1))}
    # n at least the grid's size keeps the whole grid
    assert [c.id for c in expand_sweep(grid_sweep(60))] == ids and [c.id for c in expand_sweep(grid_sweep(99))] == ids


def test_a_sample_does_not_depend_on_the_order_of_the_grid_keys():
    sweep = grid_sweep(12, seed=5)
    reordered = dict(sweep, grid=dict(reversed(list(sweep["grid"].items()))))
    assert {c.id for c in expand_sweep(sweep)} == {c.id for c in expand_sweep(reordered)}


def test_bad_samples_are_rejected_with_the_key_named():
    for bad in ({"n": 0}, {"seed": 1}, {"n": 5, "size": 3}, {"n": 2.5}):
        sweep = dict(grid_sweep(), sample=bad)
        with pytest.raises(ConfigError, match="sample"):
            expand_sweep(sweep, source="s.yaml")


@pytest.fixture(scope="module")
def lite():
    cfg = check_experiment(load_yaml(LITE), str(LITE))
    return cfg, experiment_networks(cfg, ROOT)


def test_paper_lite_samples_the_papers_own_grids():
    for name in FIG2_SWEEPS:
        paper = load_yaml(ROOT / "sweeps" / "paper" / f"{name}.yaml")
        lite_sweep = load_yaml(ROOT / "sweeps" / "paper_lite" / f"{name}.yaml")
        assert lite_sweep["name"] == paper["name"]
        assert lite_sweep["grid"] == paper["grid"], name
        # the paper's fixed values stay, except the reduced size and steps and the default recipe's rule
        reduced = {"n_grid", "n_steps", "seq_len", "encoder_gain", "learning_rate"}
        assert {k: v for k, v in paper["fixed"].items() if k not in reduced} == \
               {k: v for k, v in lite_sweep["fixed"].items() if k not in reduced}, name
        n_grid = 1
        for values in paper["grid"].values():
            n_grid *= len(values)
        assert lite_sweep["sample"]["n"] * 16 == n_grid, name  # 1 in 16 of every sweep


def test_paper_lite_has_1000_distinct_networks_in_the_papers_proportions(lite):
    cfg, nets = lite
    assert len(nets) >= 1000 and len({n.id for n in nets}) == len(nets)
    counts = Counter(n.group for n in nets)
    assert set(counts) == set(FIG2_SWEEPS.values())
    paper = {name: 1 for name in FIG2_SWEEPS}
    for name in FIG2_SWEEPS:
        for values in load_yaml(ROOT / "sweeps" / "paper" / f"{name}.yaml")["grid"].values():
            paper[name] *= len(values)
    total_paper, total = sum(paper.values()), len(nets)
    for name, group in FIG2_SWEEPS.items():
        assert counts[group] == paper[name] // 16
        assert abs(counts[group] / total - paper[name] / total_paper) < 1e-9
    # the reduced size is what the file states
    assert {n.config.n_grid for n in nets} == {256} and {n.config.batch_size for n in nets} == {100}
    assert {n.config.n_steps for n in nets} == {cfg["defaults"]["n_steps"]} == {3000}
    # the default experiment's two rules: place codes lr 6e-3 and gain 100, MSE codes lr 3e-3 and gain 1
    mse = {"cartesian", "high_dim_cartesian", "high_dim_polar"}
    assert {(n.config.learning_rate, n.config.encoder_gain) for n in nets if n.config.readout in mse} == {(0.003, 1.0)}
    assert {(n.config.learning_rate, n.config.encoder_gain) for n in nets if n.config.readout not in mse} == {(0.006, 100.0)}
    # and its ids are not the paper's (another size), so the two never share results
    paper_ids = {c.id for c in expand_sweep(load_yaml(ROOT / "sweeps" / "paper" / "sod.yaml"),
                                            load_yaml(ROOT / "configs" / "paper.yaml")["defaults"])}
    assert not paper_ids & {n.id for n in nets}


def test_paper_lite_is_deterministic(lite):
    cfg, nets = lite
    again = experiment_networks(check_experiment(load_yaml(LITE), str(LITE)), ROOT)
    assert [n.id for n in again] == [n.id for n in nets]


def test_paper_lite_packs_into_groups_of_at_most_its_group_size(lite):
    cfg, nets = lite
    groups = plan_groups([n.config for n in nets], max_size=cfg["training"]["group_size"],
                         memory_mb=cfg["training"]["group_memory_mb"])
    assert sorted(i for g in groups for i in g) == list(range(len(nets)))
    assert max(len(g) for g in groups) <= cfg["training"]["group_size"]
    # the sampled sweeps still have groups of useful size (not hundreds of singletons)
    assert len(nets) / len(groups) > 4


@pytest.mark.slow
def test_paper_lite_plans_in_under_a_minute(tmp_path):
    t0 = time.perf_counter()
    jobs = planned_jobs(ROOT, "--configfile", str(LITE), "--config", f"results={tmp_path}/results")
    elapsed = time.perf_counter() - t0
    assert jobs.get("train_pack", 0) + jobs.get("train", 0) > 0 and jobs.get("figure") == 1
    assert elapsed < 60, elapsed
