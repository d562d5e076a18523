"""Grouped training (pathint.grouped, pathint.stacked): K networks trained together equal each trained alone.

On the CPU every comparison is bitwise: weights, optimiser state, logged losses and decoding errors, and the
files (model.pt, train_log.csv apart from its timing column, checkpoints). Small networks (Ng 16-32, a few
steps); one test at a size where torch splits reductions and elementwise kernels between two threads.
"""

from __future__ import annotations

import csv
import math

import pytest
import torch
from test_training import QUIET, silent, state_equal, tiny

from pathint.config import NetworkConfig
from pathint.errors import ConfigError, DataError
from pathint.grouped import network_bytes, plan_groups, shape_key, train_group
from pathint.stacked import StackedNetworks
from pathint.training import TrainRuntime, init_network, load_network, train

RT = TrainRuntime(log_every=3, checkpoint_every=4, **QUIET)


def members(**shared) -> list[NetworkConfig]:
    """Three networks of one shape that differ in everything a group may vary: readout, seed, weight decay,
    learning rate and schedule, initialiser, encoder gain, dropout rates, n_steps. The first two share
    their learning rate, so their Adam steps run as one fused call (``grouped.optimizer_steps``)."""
    base = dict(n_place=16, n_grid=16, batch_size=8, seq_len=5, n_steps=9, learning_rate=1e-3)
    base.update(shared)
    return [
        tiny(**{**base, "readout": "difference_of_softmaxes", "seed": 3}),
        tiny(**{**base, "readout": "gaussian", "seed": 3, "weight_decay": 0.0, "encoder_gain": 4.0}),
        tiny(**{**base, "readout": "high_dim_cartesian", "seed": 5, "weight_decay": 1e-3, "lr_schedule": "cosine",
                "lr_warmup_steps": 2, "initializer": "orthogonal", "n_steps": 7,
                "input_dropout": 0.5 * base.get("input_dropout", 0.0), "recurrent_dropout": 0.5 * base.get("recurrent_dropout", 0.0)}),
    ]


def rows_without_timing(path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds_per_step"} for r in csv.DictReader(open(path))]


def assert_same_outputs(group_dir, single_dir) -> None:
    """model.pt and train_log.csv of a grouped network equal those of the network trained alone."""
    a = torch.load(group_dir / "model.pt", weights_only=True)
    b = torch.load(single_dir / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert state_equal(a["state_dict"], b["state_dict"]), {k: (a["state_dict"][k] - b["state_dict"][k]).abs().max().item() for k in a["state_dict"]}
    for key in a:
        if key in ("state_dict", "wall_time_s", "readout"):
            continue
        same = a[key] == b[key] or (isinstance(a[key], float) and math.isnan(a[key]) and math.isnan(b[key]))
        assert same, (key, a[key], b[key])
    assert rows_without_timing(group_dir / "train_log.csv") == rows_without_timing(single_dir / "train_log.csv")
    assert not (group_dir / "checkpoint.pt").exists()


def train_both(cfgs, tmp_path, rt=RT, **kw):
    dirs = [tmp_path / "group" / c.id for c in cfgs]
    res = train_group(cfgs, dirs, rt, log=silent, **kw)
    singles = [train(c, tmp_path / "single" / c.id, rt, log=silent) for c in cfgs]
    return dirs, res, singles


@pytest.mark.parametrize("arch", ["RNN", "SRNN", "GRU", "UGRNN", "LSTM"])
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "linear"])
def test_grouped_training_equals_single_training_for_every_architecture_and_activation(tmp_path, arch, act):
    cfgs = members(architecture=arch, activation=act)
    dirs, res, singles = train_both(cfgs, tmp_path)
    for d, r, s, c in zip(dirs, res, singles, cfgs):
        assert r.status == s.status == "ok" and r.steps == s.steps == c.n_steps
        assert r.final_loss == s.final_loss and r.final_error_cm == s.final_error_cm
        assert_same_outputs(d, tmp_path / "single" / c.id)


@pytest.mark.parametrize("arch", ["RNN", "SRNN", "GRU", "UGRNN", "LSTM"])
def test_grouped_training_with_dropout_equals_single_training(tmp_path, arch):
    # recurrent dropout sends GRU and LSTM through the step loop; each member draws its own masks
    act = "tanh" if arch in ("GRU", "LSTM") else "relu"
    cfgs = members(architecture=arch, activation=act, input_dropout=0.3, recurrent_dropout=0.2)
    dirs, _, _ = train_both(cfgs, tmp_path)
    for d, c in zip(dirs, cfgs):
        assert_same_outputs(d, tmp_path / "single" / c.id)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adagrad"])
def test_grouped_training_with_each_optimiser_equals_single_training(tmp_path, optimizer):
    cfgs = members(optimizer=optimizer, learning_rate=1e-2)
    dirs, _, _ = train_both(cfgs, tmp_path)
    for d, c in zip(dirs, cfgs):
        assert_same_outputs(d, tmp_path / "single" / c.id)


@pytest.mark.parametrize("arch, act", [("RNN", "relu"), ("SRNN", "tanh"), ("GRU", "tanh"), ("LSTM", "tanh"), ("UGRNN", "sigmoid")])
def test_grouped_training_is_bitwise_with_two_threads_at_a_larger_size(tmp_path, arch, act):
    """B 64 x T 10 x Ng 64 = 40,960 elements per state tensor: above torch's grain size, so its reductions
    and elementwise kernels split between threads (in the single network and in the stack alike)."""
    cfgs = [
        tiny(readout=ro, n_place=48, n_grid=64, batch_size=64, seq_len=10, n_steps=3, seed=s, architecture=arch,
             activation=act, weight_decay=wd)
        for ro, s, wd in (("difference_of_softmaxes", 1, 1e-4), ("gaussian", 2, 0.0), ("high_dim_polar", 3, 1e-3))
    ]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        dirs, _, _ = train_both(cfgs, tmp_path, TrainRuntime(log_every=2, checkpoint_every=100, **QUIET))
    finally:
        torch.set_num_threads(before)
    for d, c in zip(dirs, cfgs):
        assert_same_outputs(d, tmp_path / "single" / c.id)


def test_a_group_resumes_exactly_after_a_kill(tmp_path):
    """Kill the group after the step-4 checkpoint (at step 6); the restarted group ends as single runs do."""
    cfgs = members(architecture="GRU", activation="tanh", input_dropout=0.2)
    dirs = [tmp_path / "group" / c.id for c in cfgs]
    killed = train_group(cfgs, dirs, RT, log=silent, stop_after=6)
    assert [r.status for r in killed] == ["stopped"] * 3
    assert all((d / "checkpoint.pt").exists() and not (d / "model.pt").exists() for d in dirs)
    resumed = train_group(cfgs, dirs, RT, log=silent)
    assert [r.resumed_from for r in resumed] == [4, 4, 4]
    for d, c in zip(dirs, cfgs):
        train(c, tmp_path / "single" / c.id, RT, log=silent, stop_after=6)  # the same kill, alone
        train(c, tmp_path / "single" / c.id, RT, log=silent)
        assert_same_outputs(d, tmp_path / "single" / c.id)


def test_members_at_different_steps_train_together(tmp_path):
    """One member resumes from a step-4 checkpoint written by single training, one starts at step 0, and
    one (n_steps 7) resumes at step 4 and finishes while the others go on."""
    cfgs = members(architecture="UGRNN", activation="tanh")
    dirs = [tmp_path / "group" / c.id for c in cfgs]
    train(cfgs[0], dirs[0], RT, log=silent, stop_after=5)  # checkpoint at step 4
    train(cfgs[2], dirs[2], RT, log=silent, stop_after=6)  # n_steps 7: checkpoint at 4
    res = train_group(cfgs, dirs, RT, log=silent)
    assert [r.resumed_from for r in res] == [4, None, 4]
    for d, c, kill in zip(dirs, cfgs, (5, None, 6)):
        if kill:
            train(c, tmp_path / "single" / c.id, RT, log=silent, stop_after=kill)
        train(c, tmp_path / "single" / c.id, RT, log=silent)
        assert_same_outputs(d, tmp_path / "single" / c.id)


def test_a_diverging_member_is_marked_and_dropped_while_the_others_go_on(tmp_path):
    good = tiny(readout="cartesian", n_place=2, activation="linear", optimizer="sgd", learning_rate=1e-3, n_steps=20, seed=1)
    bad = tiny(readout="cartesian", n_place=2, activation="linear", optimizer="sgd", learning_rate=1e12, n_steps=20, seed=2)
    other = tiny(readout="high_dim_cartesian", n_place=2, activation="linear", optimizer="sgd", learning_rate=1e-2, n_steps=20, seed=3)
    rt = TrainRuntime(log_every=5, checkpoint_every=4, **QUIET)
    cfgs = [good, bad, other]
    messages: list[str] = []
    dirs = [tmp_path / "group" / c.id for c in cfgs]
    res = train_group(cfgs, dirs, rt, log=messages.append)
    assert [r.status for r in res] == ["ok", "diverged", "ok"]
    assert res[1].steps < 20 and any("non-finite" in m and bad.id in m for m in messages)
    meta = load_network(dirs[1] / "model.pt")[3]
    assert meta["status"] == "diverged" and 1 <= meta["diverged_step"] <= meta["steps"]
    for d, c in zip(dirs, cfgs):
        train(c, tmp_path / "single" / c.id, rt, log=silent)
        a = torch.load(d / "model.pt", weights_only=True)
        b = torch.load(tmp_path / "single" / c.id / "model.pt", weights_only=True)
        assert (a["status"], a["steps"], a["diverged_step"]) == (b["status"], b["steps"], b["diverged_step"])
        for k in a["state_dict"]:  # the diverged weights are NaN/inf in the same places with the same values
            assert torch.equal(torch.nan_to_num(a["state_dict"][k], nan=7.0), torch.nan_to_num(b["state_dict"][k], nan=7.0))
        assert rows_without_timing(d / "train_log.csv") == rows_without_timing(tmp_path / "single" / c.id / "train_log.csv")


def test_a_stopped_member_leaves_while_the_others_go_on(tmp_path):
    cfgs = members(architecture="RNN", activation="relu")
    short = NetworkConfig.from_dict({**cfgs[2].to_dict(), "n_steps": 3})  # finishes first
    cfgs = [cfgs[0], cfgs[1], short]
    dirs, res, _ = train_both(cfgs, tmp_path)
    assert [r.steps for r in res] == [9, 9, 3]
    for d, c in zip(dirs, cfgs):
        assert_same_outputs(d, tmp_path / "single" / c.id)


def test_dataset_mode_members_read_their_own_stored_trajectories(tmp_path):
    from pathint import seeds
    from pathint.trajectories import TrajectoryParams, generate, write_hdf5

    paths = [tmp_path / "d0.h5", tmp_path / "d1.h5"]
    for seed, p in zip((11, 12), paths):
        write_hdf5(p, generate(seeds.rng(seed, "train_trajectories"), 40, 6), TrajectoryParams(), seed=seed)
    cfgs = [tiny(data_mode="dataset", dataset_size=40, seed=1), tiny(data_mode="dataset", dataset_size=40, seed=2, readout="gaussian")]
    dirs = [tmp_path / "group" / c.id for c in cfgs]
    train_group(cfgs, dirs, RT, log=silent, dataset_paths=[str(p) for p in paths])
    for d, c, p in zip(dirs, cfgs, paths):
        train(c, tmp_path / "single" / c.id, TrainRuntime(log_every=3, checkpoint_every=4, dataset_path=str(p), **QUIET), log=silent)
        assert_same_outputs(d, tmp_path / "single" / c.id)


def test_checkpoints_hold_only_their_own_network(tmp_path):
    """A member's checkpoint and model.pt store its own tensors, not views of the whole stack."""
    cfgs = members(architecture="RNN", activation="tanh")
    dirs = [tmp_path / "group" / c.id for c in cfgs]
    train_group(cfgs, dirs, RT, log=silent, stop_after=5)
    ck = torch.load(dirs[0] / "checkpoint.pt", weights_only=True)
    single_model, _ = init_network(cfgs[0])
    for name, v in ck["state_dict"].items():
        assert v.shape == single_model.state_dict()[name].shape
        assert v.untyped_storage().nbytes() == v.numel() * v.element_size()


def test_train_group_rejects_networks_of_different_shapes(tmp_path):
    with pytest.raises(ConfigError, match="do not share one shape"):
        train_group([tiny(), tiny(n_grid=32)], [tmp_path / "a", tmp_path / "b"], RT, log=silent)
    with pytest.raises(ConfigError, match="share an output directory"):
        train_group([tiny(), tiny(seed=9)], [tmp_path / "a", tmp_path / "a"], RT, log=silent)
    with pytest.raises(ValueError, match="share architecture"):
        StackedNetworks([init_network(tiny())[0], init_network(tiny(architecture="GRU"))[0]])


def test_train_group_refuses_a_checkpoint_of_another_config(tmp_path):
    train(tiny(), tmp_path / "a", TrainRuntime(checkpoint_every=2, **QUIET), log=silent, stop_after=3)
    with pytest.raises(DataError, match="different configuration"):
        train_group([tiny(learning_rate=2e-3), tiny(seed=9)], [tmp_path / "a", tmp_path / "b"], RT, log=silent)


# ---------------------------------------------------------------------- grouping
def test_shape_key_separates_what_cannot_share_a_group():
    a = tiny()
    assert shape_key(a) == shape_key(tiny(readout="gaussian", seed=7, learning_rate=3e-3, weight_decay=0.0, n_steps=99))
    for change in (dict(architecture="GRU"), dict(activation="tanh"), dict(n_grid=32), dict(n_place=24),
                   dict(batch_size=4), dict(seq_len=6), dict(optimizer="sgd"), dict(input_dropout=0.1), dict(recurrent_dropout=0.1)):
        assert shape_key(a) != shape_key(tiny(**change)), change
    assert shape_key(tiny(input_dropout=0.1)) == shape_key(tiny(input_dropout=0.5))


def test_plan_groups_packs_by_shape_within_size_and_memory():
    cfgs = [tiny(seed=s, readout=r) for s in range(10) for r in ("gaussian", "difference_of_softmaxes")]
    cfgs += [tiny(architecture="GRU", seed=s) for s in range(5)]
    groups = plan_groups(cfgs, max_size=6)
    assert sorted(i for g in groups for i in g) == list(range(len(cfgs)))
    assert all(len({shape_key(cfgs[i]) for i in g}) == 1 for g in groups)
    assert sorted(len(g) for g in groups) == [5, 5, 5, 5, 5]  # 20 -> 4 groups of 5 (not 6+6+6+2), 5 GRUs -> 1
    # members of a group are ordered by seed, so networks that share their batches sit together
    assert all([cfgs[i].seed for i in g] == sorted(cfgs[i].seed for i in g) for g in groups)
    # deterministic whatever the input order
    perm = list(reversed(range(len(cfgs))))
    again = plan_groups([cfgs[i] for i in perm], max_size=6)
    assert sorted(sorted(cfgs[perm[i]].id for i in g) for g in again) == sorted(sorted(cfgs[i].id for i in g) for g in groups)
    # a memory budget of two networks gives groups of at most two
    mb = 2.5 * network_bytes(cfgs[0]) / 2**20
    assert max(len(g) for g in plan_groups(cfgs, max_size=64, memory_mb=mb)) == 2
    with pytest.raises(ConfigError, match="group size"):
        plan_groups(cfgs, max_size=0)


def test_network_bytes_scales_with_the_network():
    small, big = NetworkConfig(n_grid=256), NetworkConfig(n_grid=1024)
    assert 2 * network_bytes(small) < network_bytes(big) < 16 * network_bytes(small)
    sizes = {a: network_bytes(NetworkConfig(architecture=a)) for a in ("RNN", "SRNN", "UGRNN", "GRU", "LSTM")}
    assert sizes["RNN"] < sizes["SRNN"] < sizes["UGRNN"] < sizes["GRU"] < sizes["LSTM"]
    assert 1.5e8 < sizes["RNN"] and sizes["LSTM"] < 1e9  # measured CPU peaks: 0.2-0.36 GB per network at Ng 1024


# ---------------------------------------------------------------------- CUDA (skipped without a GPU)
CUDA_TOLERANCE = 1e-4  # of each tensor's largest magnitude, after 3 steps


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("arch", ["RNN", "SRNN", "GRU", "UGRNN", "LSTM"])
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "linear"])
def test_grouped_training_on_cuda_matches_single_training_within_tolerance(tmp_path, arch, act):
    """On CUDA the single networks use cuDNN's RNN kernels (RNN/SRNN relu/tanh, GRU/LSTM tanh), which have
    no batched form; the group runs the batched equations instead, so the two agree within float32
    rounding, not bitwise: after 3 steps every weight within 1e-4 of its tensor's largest magnitude, and
    the logged losses within 1e-4 relative."""
    cfgs = [NetworkConfig.from_dict({**c.to_dict(), "n_steps": 3}) for c in members(architecture=arch, activation=act)]
    rt = TrainRuntime(device="cuda", log_every=1, checkpoint_every=100, progress=False)
    dirs, res, singles = train_both(cfgs, tmp_path, rt)
    for d, r, s_, c in zip(dirs, res, singles, cfgs):
        a = torch.load(d / "model.pt", weights_only=True)["state_dict"]
        b = torch.load(tmp_path / "single" / c.id / "model.pt", weights_only=True)["state_dict"]
        for k in a:
            scale = b[k].abs().max().clamp_min(1e-12)
            assert ((a[k] - b[k]).abs().max() / scale) < CUDA_TOLERANCE, (k, float((a[k] - b[k]).abs().max() / scale))
        for ra, rb in zip(r.log_rows, s_.log_rows):
            assert ra["loss"] == pytest.approx(rb["loss"], rel=CUDA_TOLERANCE)


def test_grouped_training_refuses_bf16_on_cuda_only(tmp_path):
    messages: list[str] = []
    train_group([tiny(n_steps=1)], [tmp_path / "cpu"], TrainRuntime(precision="bf16", **QUIET), log=messages.append)
    assert any("applies only on CUDA" in m for m in messages)
    if torch.cuda.is_available():
        with pytest.raises(ConfigError, match="bf16"):
            train_group([tiny(n_steps=1)], [tmp_path / "gpu"], TrainRuntime(device="cuda", precision="bf16", progress=False), log=silent)


def test_the_grouped_benchmark_runs_at_a_tiny_size():
    """bench/bench_grouped.py end to end (worker processes included); its timings are not checked."""
    import subprocess
    import sys

    from pipeline_utils import ROOT

    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_grouped.py"), "--ng", "16", "--k", "2",
                           "--steps", "1", "--warmup", "0"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip().startswith("16 ")]
    assert [r[2] for r in rows] == ["1x1", "2x1", "1x2", "2x1"], proc.stdout
