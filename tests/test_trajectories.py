"""Trajectory generator, HDF5 storage and training batch sources (SPEC §1)."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
from scipy import stats

import pathint
from pathint.config import NetworkConfig
from pathint.errors import DataError
from pathint.seeds import derive
from pathint.trajectories import (
    DatasetBatches,
    TrajectoryParams,
    Trajectories,
    generate,
    online_batch,
    read_hdf5,
    write_hdf5,
)

P = TrajectoryParams()


@pytest.fixture(scope="module")
def traj() -> Trajectories:
    return generate(np.random.default_rng(0), 4000, 20, P)


def previous_positions(t: Trajectories) -> np.ndarray:
    """Position before each step: initial position, then the targets shifted by one."""
    return np.concatenate([t.initial_position[:, None], t.position[:, :-1]], axis=1)


def outside_distance(pos: np.ndarray, params: TrajectoryParams = P) -> np.ndarray:
    return np.maximum(np.abs(pos[..., 0]) - params.box_width / 2, np.abs(pos[..., 1]) - params.box_height / 2)


# ---------------------------------------------------------------------- generator
def test_shapes_and_dtypes(traj):
    assert traj.velocity.shape == (4000, 20, 2) and traj.position.shape == (4000, 20, 2)
    assert traj.initial_position.shape == (4000, 2)
    assert traj.head_direction.shape == (4000, 20) and traj.speed.shape == (4000, 20)
    for name in ("velocity", "position", "initial_position", "head_direction", "speed"):
        assert getattr(traj, name).dtype == np.float32, name
    assert traj.n == 4000 and traj.steps == 20
    assert 0 <= traj.head_direction.min() and traj.head_direction.max() < 2 * np.pi + 1e-6


def test_velocity_integrates_to_position(traj):
    """SPEC §1.4 invariant: x0 + cumsum(v) = targets (float32 precision)."""
    integrated = traj.initial_position[:, None] + np.cumsum(traj.velocity, axis=1, dtype=np.float32)
    np.testing.assert_allclose(integrated, traj.position, atol=1e-5, rtol=0)
    np.testing.assert_allclose(traj.speed, np.linalg.norm(traj.velocity, axis=-1) / P.dt, rtol=1e-5)


def test_step_length_and_net_displacement(traj):
    step = np.linalg.norm(traj.velocity, axis=-1)
    assert step.mean() == pytest.approx(0.020, rel=0.05)
    net = np.linalg.norm(traj.position[:, -1] - traj.initial_position, axis=-1)
    assert net.mean() == pytest.approx(0.36, rel=0.1)


def test_speed_is_rayleigh_away_from_walls(traj):
    """Far from the walls nothing slows the animal: speeds are exact Rayleigh(0.13*2pi) draws."""
    far = outside_distance(previous_positions(traj)) < -(P.border_region + 0.01)
    speeds = traj.speed[far].astype(np.float64)
    assert speeds.size > 50_000
    assert stats.kstest(speeds, stats.rayleigh(scale=P.speed_scale).cdf).pvalue > 1e-3
    assert speeds.mean() == pytest.approx(P.speed_scale * np.sqrt(np.pi / 2), rel=0.01)
    # sensitivity: a 3 % wrong scale is rejected
    assert stats.kstest(speeds, stats.rayleigh(scale=1.03 * P.speed_scale).cdf).pvalue < 1e-6
    # near a wall and heading into it the animal is slowed: speeds there are lower on average
    near = outside_distance(previous_positions(traj)) > -P.border_region
    assert traj.speed[near].mean() < 0.9 * speeds.mean()


def test_few_positions_outside_the_box():
    """≈0.5 % of positions lie outside (the wall turn acts one step late), almost all by < 6 cm.

    The overshoot is one Rayleigh step, so it has no hard bound: about 1.5e-5 of positions exceed 6 cm.
    """
    t = generate(np.random.default_rng(1), 10_000, 20, P)
    out = outside_distance(np.concatenate([t.initial_position[:, None], t.position], axis=1))
    assert 0.001 < (out > 0).mean() <= 0.01
    assert (out > 0.06).mean() < 1e-4
    assert out.max() < 0.15


def test_seed_determinism():
    a = generate(np.random.default_rng(5), 50, 20, P)
    b = generate(np.random.default_rng(5), 50, 20, P)
    c = generate(np.random.default_rng(6), 50, 20, P)
    for name in ("velocity", "position", "initial_position", "head_direction", "speed"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.allclose(a.position, c.position)


def test_periodic_box_keeps_positions_inside():
    params = dataclasses.replace(P, periodic=True)
    t = generate(np.random.default_rng(2), 2000, 50, params)
    assert np.abs(t.position).max() <= 1.1 and np.abs(t.initial_position).max() <= 1.1
    # the velocity is the unwrapped displacement: integrating it agrees with the positions modulo the box
    integrated = t.initial_position[:, None] + np.cumsum(t.velocity, axis=1, dtype=np.float64)
    d = integrated - t.position
    np.testing.assert_allclose(d - 2.2 * np.round(d / 2.2), 0.0, atol=1e-5)
    # no wall avoidance: every step is a Rayleigh draw, and some walks cross the edge
    assert stats.kstest(t.speed.ravel(), stats.rayleigh(scale=P.speed_scale).cdf).pvalue > 1e-3
    assert (np.abs(d) > 1.0).any()


def test_invalid_sizes():
    with pytest.raises(ValueError, match="n=0"):
        generate(np.random.default_rng(0), 0, 20, P)


def test_params_from_config():
    cfg = NetworkConfig(box_width=1.5, box_height=2.0, periodic=True)
    p = TrajectoryParams.from_config(cfg)
    assert (p.box_width, p.box_height, p.periodic) == (1.5, 2.0, True)
    assert p.dt == P.dt and p.speed_scale == P.speed_scale
    assert TrajectoryParams.from_config(NetworkConfig()) == P


# ---------------------------------------------------------------------- HDF5
def test_hdf5_round_trip(tmp_path):
    t = generate(np.random.default_rng(3), 300, 20, P)
    path = tmp_path / "sub" / "eval.h5"
    write_hdf5(path, t, P, seed=42, extra_attrs={"purpose": "eval", "note": None})
    assert sorted(p.name for p in path.parent.iterdir()) == ["eval.h5"]  # no temporary left behind
    back, attrs = read_hdf5(path)
    for name in ("velocity", "position", "initial_position", "head_direction", "speed"):
        np.testing.assert_array_equal(getattr(back, name), getattr(t, name))
        assert getattr(back, name).dtype == np.float32
    assert attrs["seed"] == 42 and attrs["purpose"] == "eval" and attrs["note"] == "None"
    assert attrs["pathint_version"] == pathint.__version__
    assert TrajectoryParams.from_dict(attrs) == P
    for k, v in P.to_dict().items():
        assert attrs[k] == v
    with h5py.File(path) as f:
        assert f["position"].compression == "gzip" and f["position"].chunks is not None


def test_missing_truncated_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="nope.h5.*not found"):
        read_hdf5(tmp_path / "nope.h5")
    path = tmp_path / "train.h5"
    write_hdf5(path, generate(np.random.default_rng(3), 2000, 20, P), P, seed=1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="train.h5"):
        read_hdf5(path)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file" * 100)
    with pytest.raises(DataError, match="junk.h5"):
        read_hdf5(junk)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["velocity"] = np.zeros((2, 3, 2), np.float32)
    with pytest.raises(DataError, match="other.h5.*missing dataset.*position"):
        read_hdf5(other)
    with h5py.File(other, "a") as f:
        for name, shape in [
            ("position", (2, 3, 2)),
            ("initial_position", (2, 2)),
            ("head_direction", (2, 4)),
            ("speed", (2, 3)),
        ]:
            f[name] = np.zeros(shape, np.float32)
    with pytest.raises(DataError, match="head_direction"):
        read_hdf5(other)


# ---------------------------------------------------------------------- batch sources
def test_online_batch_is_reproducible():
    a = online_batch(7, 123, 16, 20, P)
    b = online_batch(7, 123, 16, 20, P)
    np.testing.assert_array_equal(a.velocity, b.velocity)
    expected = generate(np.random.default_rng(derive(7, "train_data", 123)), 16, 20, P)
    np.testing.assert_array_equal(a.position, expected.position)
    assert not np.allclose(online_batch(7, 124, 16, 20, P).position, a.position)
    assert not np.allclose(online_batch(8, 123, 16, 20, P).position, a.position)
    assert a.velocity.shape == (16, 20, 2)


def test_dataset_batches(tmp_path):
    from pathint.seeds import rng
    from pathint.stages import run_trajectories

    path = tmp_path / "train.h5"
    box = {"box_width": P.box_width, "box_height": P.box_height, "periodic": P.periodic}
    run_trajectories(files={"h5": path, "prov": tmp_path / "train.prov.json"},
                     defines={"kind": "train", "seed": 3, "n": 1050, "steps": 20, "box": box})
    back, attrs = read_hdf5(path)
    assert attrs["kind"] == "train" and attrs["seed"] == 3
    expected = generate(rng(3, "train_trajectories"), 1050, 20, P)
    np.testing.assert_array_equal(back.velocity, expected.velocity)

    src = DatasetBatches(path, seed=9)
    per_epoch = 1050 // 100  # 10 batches, 50 trajectories left out per epoch
    epoch0 = [src.batch(k, 100) for k in range(per_epoch)]
    starts = np.concatenate([b.initial_position for b in epoch0])
    assert len(np.unique(starts, axis=0)) == 1000  # no repeats within an epoch
    # resume: a fresh object gives the same batch for the same step, also across epochs
    again = DatasetBatches(path, seed=9)
    np.testing.assert_array_equal(again.batch(3, 100).position, epoch0[3].position)
    np.testing.assert_array_equal(again.batch(per_epoch + 2, 100).position, src.batch(per_epoch + 2, 100).position)
    # a new epoch reshuffles; another seed shuffles differently
    assert not np.array_equal(src.batch(per_epoch, 100).position, epoch0[0].position)
    assert not np.array_equal(DatasetBatches(path, seed=10).batch(0, 100).position, epoch0[0].position)
    # batches are consistent trajectories (the invariant survives indexing)
    b = epoch0[5]
    np.testing.assert_allclose(b.initial_position[:, None] + np.cumsum(b.velocity, 1), b.position, atol=1e-5)
    with pytest.raises(DataError, match="batch_size=2000"):
        src.batch(0, 2000)
