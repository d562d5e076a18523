"""Memory estimates (pathint.memory) against measured peak RSS, and the check that uses them."""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from pathint.config import NetworkConfig, check_experiment
from pathint.errors import ConfigError
from pathint.memory import (
    TOLERANCE,
    check_memory,
    estimate_mb,
    n_parameters,
    rule_limits,
    training_device,
)
from pathint.models import build_model
from pipeline_utils import ROOT


def _bench():
    spec = importlib.util.spec_from_file_location("bench_memory", ROOT / "bench" / "bench_memory.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def measured():
    """Peak RSS of training, recording and scoring at the two small sizes, each stage in a fresh process
    (the two sizes side by side, one core each)."""
    bench = _bench()
    with ThreadPoolExecutor(2) as pool:
        runs = {name: pool.submit(bench.measure, bench.SIZES[name]) for name in ("small_ng", "small_np")}
        return {name: (bench, run.result()) for name, run in runs.items()}


@pytest.mark.parametrize("size", ["small_ng", "small_np"])
@pytest.mark.parametrize("stage", ["train", "record", "score"])
def test_estimate_is_within_the_stated_factor_of_the_measured_peak(measured, size, stage):
    bench, peaks = measured[size]
    est = bench.estimate(bench.SIZES[size])[stage]
    got = peaks[stage]
    assert 1 / TOLERANCE <= est / got <= TOLERANCE, f"{size} {stage}: estimate {est:.0f} MB, measured {got:.0f} MB"


def test_the_measured_sizes_exercise_the_estimate_beyond_its_base():
    """A comparison dominated by the fixed base could not catch a wrong size model: for every stage, the
    network-sized terms are at least 40 % of the estimate at one of the two sizes."""
    from pathint.memory import BASE_MB

    bench = _bench()
    est = {size: bench.estimate(bench.SIZES[size]) for size in ("small_ng", "small_np")}
    for stage in ("train", "record", "score"):
        assert max((e[stage] - BASE_MB[stage]) / e[stage] for e in est.values()) > 0.4, stage


@pytest.mark.parametrize("arch", ["RNN", "SRNN", "GRU", "UGRNN", "LSTM"])
@pytest.mark.parametrize("readout, n_place", [("difference_of_softmaxes", 24), ("cartesian", 2)])
def test_parameter_count_matches_the_built_model(arch, readout, n_place):
    cfg = NetworkConfig(architecture=arch, readout=readout, n_place=n_place, n_grid=20)
    model = build_model(cfg, cfg.n_out, torch.Generator().manual_seed(0))
    assert n_parameters(cfg) == sum(p.numel() for p in model.parameters())


def test_estimates_grow_with_every_size_they_depend_on():
    base = NetworkConfig(n_grid=256, n_place=256, batch_size=100, seq_len=10)
    ev = {"n_trajectories": 1000, "seq_len": 50, "batch_size": 500}
    sc = {"bins": 44}

    def est(stage, cfg=base, evaluation=ev, scoring=sc):
        return estimate_mb(cfg, stage, evaluation=evaluation, scoring=scoring)

    bigger = {
        "n_grid": NetworkConfig(n_grid=512, n_place=256, batch_size=100, seq_len=10),
        "n_place": NetworkConfig(n_grid=256, n_place=1024, batch_size=100, seq_len=10),
        "batch": NetworkConfig(n_grid=256, n_place=256, batch_size=400, seq_len=10),
        "seq_len": NetworkConfig(n_grid=256, n_place=256, batch_size=100, seq_len=40),
    }
    for name, cfg in bigger.items():
        assert est("train", cfg) > est("train"), name
    assert est("record", bigger["n_grid"]) > est("record")
    assert est("score", bigger["n_grid"]) > est("score")
    more_eval = dict(ev, n_trajectories=4000)
    assert est("record", evaluation=more_eval) > est("record")
    assert est("score", evaluation=more_eval) > est("score")
    assert est("score", scoring={"bins": 20}) < est("score")
    lstm = NetworkConfig(n_grid=256, n_place=256, batch_size=100, seq_len=10, architecture="LSTM")
    assert est("train", lstm) > est("train")
    dataset = NetworkConfig(n_grid=256, n_place=256, batch_size=100, seq_len=10, data_mode="dataset",
                            dataset_size=1_000_000)
    assert est("train", dataset) > est("train") + 100


def test_check_names_the_networks_the_estimate_and_the_limit():
    small = NetworkConfig(n_grid=64, n_place=64)
    large = NetworkConfig(n_grid=4096, n_place=512)
    ev = {"n_trajectories": 4000, "seq_len": 50}
    check_memory([small], {"train": 4000, "record": 4000, "score": 4000}, evaluation=ev)
    with pytest.raises(ConfigError) as err:
        check_memory([small, large], {"train": 4000, "record": 16000, "score": 4000}, evaluation=ev, source="c.yaml")
    msg = str(err.value)
    assert msg.startswith("c.yaml: key 'scoring.mem_mb': the score job of 1 network(s) (" + large.id + ")"), msg
    assert "n_grid=4096" in msg and "mem_mb=4,000" in msg and "\n" not in msg
    est = estimate_mb(large, "score", evaluation=ev)
    assert f"{est:,.0f} MB" in msg


def test_check_against_the_machine_applies_only_when_given():
    cfg = NetworkConfig(n_grid=2048, n_place=512)
    limits = {"train": 1e6, "record": 1e6, "score": 1e6}
    check_memory([cfg], limits, machine_mb=None)
    with pytest.raises(ConfigError, match=r"more than this machine's 1,000 MB of memory"):
        check_memory([cfg], limits, machine_mb=1000)


def test_rule_limits_follow_the_config():
    cfg = check_experiment({"sweeps": ["s.yaml"], "training": {"mem_mb": 16000}, "scoring": {"mem_mb": 12000}})
    assert rule_limits(cfg) == {"train": 16000, "record": 16000, "score": 12000}
    assert rule_limits(check_experiment({"sweeps": ["s.yaml"]})) == {"train": 4000, "record": 4000, "score": 4000}


def test_gpu_jobs_add_the_cuda_allowance_to_training_and_recording():
    cfg = NetworkConfig(n_grid=256)
    for stage in ("train", "record"):
        assert estimate_mb(cfg, stage, device="cuda") > estimate_mb(cfg, stage, device="cpu")
    assert estimate_mb(cfg, "score", device="cuda") == estimate_mb(cfg, "score", device="cpu")
    assert training_device({"training": {"device": "cuda"}}, local=True) == "cuda"
    assert training_device({"training": {"device": "cpu", "gpu": True}}, local=False) == "cpu"
    assert training_device({"training": {"device": "auto", "gpu": True}}, local=False) == "cuda"
    assert training_device({"training": {"device": "auto"}}, local=False) == "cpu"
