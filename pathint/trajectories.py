"""Simulated rat trajectories in a square box (the Sorscher et al. 2019 generator, SPEC §1)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from .errors import DataError

if TYPE_CHECKING:  # pragma: no cover - typing only, avoids importing yaml/jsonschema at runtime
    from .config import NetworkConfig

_WALL_NORMALS = np.array([0.0, np.pi / 2, np.pi, 3 * np.pi / 2])


@dataclass(frozen=True)
class TrajectoryParams:
    """Constants of the random walk; defaults are the paper's."""

    box_width: float = 2.2
    box_height: float = 2.2
    dt: float = 0.02
    rotation_velocity_std: float = 11.52  # rad/s
    speed_scale: float = 0.13 * 2 * np.pi  # Rayleigh scale of forward speed, m/s
    border_region: float = 0.03  # m
    border_slow_factor: float = 0.25
    periodic: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, cfg: "NetworkConfig") -> "TrajectoryParams":
        """The environment of a network: box size and periodicity from its config, other laws default."""
        return cls(box_width=float(cfg.box_width), box_height=float(cfg.box_height), periodic=bool(cfg.periodic))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "trajectory parameters") -> "TrajectoryParams":
        """Rebuild from ``to_dict()`` output (e.g. HDF5 attributes); unknown keys are ignored."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in d:
                v = d[f.name]
                kwargs[f.name] = bool(v) if f.type in ("bool", bool) else float(v)
        return cls(**kwargs)


@dataclass
class Trajectories:
    """A batch of trajectories; every array is float32.

    ``velocity[:, t]`` is the exact displacement (m/step) that takes ``position[:, t-1]`` (or
    ``initial_position`` for t = 0) to ``position[:, t]``.
    """

    velocity: np.ndarray  # (n, T, 2)
    position: np.ndarray  # (n, T, 2)
    initial_position: np.ndarray  # (n, 2)
    head_direction: np.ndarray  # (n, T), radians in [0, 2π)
    speed: np.ndarray  # (n, T), m/s

    @property
    def n(self) -> int:
        return self.velocity.shape[0]

    @property
    def steps(self) -> int:
        return self.velocity.shape[1]

    def subset(self, index: slice | np.ndarray) -> "Trajectories":
        return Trajectories(
            self.velocity[index],
            self.position[index],
            self.initial_position[index],
            self.head_direction[index],
            self.speed[index],
        )


def _wrap_angle(a: np.ndarray) -> np.ndarray:
    """Wrap to [-π, π)."""
    return (a + np.pi) % (2 * np.pi) - np.pi


def generate(
    rng: np.random.Generator, n: int, steps: int, params: TrajectoryParams = TrajectoryParams()
) -> Trajectories:
    """Generate ``n`` trajectories of ``steps`` velocity inputs each, vectorised over trajectories.

    Follows SPEC §1: a random walk with Normal turning and Rayleigh speed; within ``border_region`` of
    the nearest wall and heading into it, the animal turns parallel to the wall and slows down. The turn
    acts from the next step, so a few positions lie slightly outside the box (rate maps drop them).
    """
    if n < 1 or steps < 1:
        raise ValueError(f"need n >= 1 and steps >= 1, got n={n}, steps={steps}")
    p = params
    half_w, half_h = p.box_width / 2, p.box_height / 2
    slots = steps + 2
    pos = np.empty((n, slots, 2))
    hd = np.empty((n, slots))
    pos[:, 0, 0] = rng.uniform(-half_w, half_w, n)
    pos[:, 0, 1] = rng.uniform(-half_h, half_h, n)
    hd[:, 0] = rng.uniform(0, 2 * np.pi, n)
    turn = rng.normal(0.0, p.rotation_velocity_std, (n, steps + 1))
    speed = rng.rayleigh(p.speed_scale, (n, steps + 1))

    for t in range(steps + 1):
        v = speed[:, t].copy()
        turn_angle = np.zeros(n)
        if not p.periodic:
            x, y = pos[:, t, 0], pos[:, t, 1]
            dist = np.stack([half_w - x, half_h - y, half_w + x, half_h + y], axis=1)
            nearest = np.argmin(dist, axis=1)
            d_wall = dist[np.arange(n), nearest]
            a_wall = _wrap_angle(np.mod(hd[:, t], 2 * np.pi) - _WALL_NORMALS[nearest])
            near = (d_wall < p.border_region) & (np.abs(a_wall) < np.pi / 2)
            turn_angle[near] = np.sign(a_wall[near]) * (np.pi / 2 - np.abs(a_wall[near]))
            v[near] *= p.border_slow_factor
        turn_angle += p.dt * turn[:, t]
        step = (v * p.dt)[:, None] * np.stack([np.cos(hd[:, t]), np.sin(hd[:, t])], axis=1)
        pos[:, t + 1] = pos[:, t] + step
        hd[:, t + 1] = hd[:, t] + turn_angle

    velocity = np.diff(pos[:, 1:], axis=1)  # pos[t+2] - pos[t+1]
    initial = pos[:, 1]
    targets = pos[:, 2:]
    if p.periodic:
        box = np.array([p.box_width, p.box_height])
        initial = np.mod(initial + box / 2, box) - box / 2
        targets = np.mod(targets + box / 2, box) - box / 2
    return Trajectories(
        velocity=velocity.astype(np.float32),
        position=targets.astype(np.float32),
        initial_position=initial.astype(np.float32),
        head_direction=np.mod(hd[:, 1:-1], 2 * np.pi).astype(np.float32),
        speed=(np.linalg.norm(velocity, axis=-1) / p.dt).astype(np.float32),
    )


# ---------------------------------------------------------------------- storage (HDF5)
_DATASETS = ("velocity", "position", "initial_position", "head_direction", "speed")
#: Trailing shape of each dataset after the trajectory axis (``None`` = the time axis T).
_SHAPES = {
    "velocity": (None, 2),
    "position": (None, 2),
    "initial_position": (2,),
    "head_direction": (None,),
    "speed": (None,),
}
def _attr_value(v: Any) -> Any:
    """HDF5 attributes cannot hold None or nested dicts; store those as strings."""
    if v is None:
        return "None"
    if isinstance(v, Mapping):
        import json

        return json.dumps(v, sort_keys=True, default=str)
    return v


def write_hdf5(
    path: str | os.PathLike,
    traj: Trajectories,
    params: TrajectoryParams,
    seed: int,
    extra_attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write ``traj`` to ``path`` atomically with its generator parameters, seed and pathint version.

    Datasets are chunked along trajectories (a few hundred per chunk, so reading a batch decompresses
    little) and gzip-compressed (readable by any HDF5 build, unlike lzf).
    """
    import h5py

    from . import __version__
    from .io import atomic_path

    n, steps = traj.n, traj.steps
    rows = max(1, min(n, 512))
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for name in _DATASETS:
                arr = np.ascontiguousarray(getattr(traj, name), dtype=np.float32)
                f.create_dataset(
                    name, data=arr, chunks=(rows, *arr.shape[1:]), compression="gzip", compression_opts=4, shuffle=True
                )
            for k, v in params.to_dict().items():
                f.attrs[k] = v
            f.attrs["seed"] = int(seed)
            f.attrs["n_trajectories"] = int(n)
            f.attrs["steps"] = int(steps)
            f.attrs["pathint_version"] = __version__
            for k, v in (extra_attrs or {}).items():
                f.attrs[str(k)] = _attr_value(v)


def _plain_attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def read_hdf5(path: str | os.PathLike) -> tuple[Trajectories, dict]:
    """Read trajectories written by ``write_hdf5``; returns (trajectories, attributes).

    A missing, truncated or corrupt file, or one lacking a dataset or with inconsistent shapes, raises
    ``DataError`` naming the file and the problem.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: trajectory file not found")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in _DATASETS if k not in f]
            if missing:
                raise DataError(f"{path}: not a trajectory file, missing dataset(s) {', '.join(missing)}")
            arrays = {k: np.asarray(f[k][...], dtype=np.float32) for k in _DATASETS}
            attrs = {k: _plain_attr(v) for k, v in f.attrs.items()}
    except DataError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DataError(
            f"{path}: cannot read trajectory file (truncated or corrupt?): {exc}; delete it and rerun"
        ) from exc
    n, steps = arrays["velocity"].shape[:2] if arrays["velocity"].ndim == 3 else (-1, -1)
    for name, trailing in _SHAPES.items():
        want = (n, *(steps if t is None else t for t in trailing))
        if arrays[name].shape != want or n < 1:
            raise DataError(f"{path}: dataset '{name}' has shape {arrays[name].shape}, expected {want}")
    return Trajectories(**arrays), attrs


# ---------------------------------------------------------------------- batch sources for training
def online_batch(seed: int, step: int, batch_size: int, steps: int, params: TrajectoryParams) -> Trajectories:
    """Fresh training batch number ``step`` of a network (the paper's online data).

    Seeded by ``derive(seed, "train_data", step)`` only, so batch k is the same whether or not training
    was interrupted and resumed before it.
    """
    from .seeds import derive

    return generate(np.random.default_rng(derive(seed, "train_data", step)), batch_size, steps, params)


class DatasetBatches:
    """Training batches drawn from a stored dataset, epoch by epoch.

    Epoch e visits the trajectories in the order of a permutation seeded by ``derive(seed, "epoch", e)``;
    an epoch has ``n // batch_size`` batches (the remainder of the permutation is skipped). ``batch(step)``
    depends only on ``step``, so resuming reproduces the same batches. The file is read once.
    """

    def __init__(self, path: str | os.PathLike, seed: int):
        self.path = Path(path)
        self.seed = int(seed)
        self.data, self.attrs = read_hdf5(self.path)
        self._perm_epoch: int | None = None
        self._perm: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.data.n

    def _permutation(self, epoch: int) -> np.ndarray:
        from .seeds import derive

        if self._perm_epoch != epoch:
            self._perm = np.random.default_rng(derive(self.seed, "epoch", epoch)).permutation(self.n)
            self._perm_epoch = epoch
        assert self._perm is not None
        return self._perm

    def batch(self, step: int, batch_size: int) -> Trajectories:
        """Batch number ``step`` (0-based) of ``batch_size`` trajectories."""
        if batch_size < 1 or batch_size > self.n:
            raise DataError(f"{self.path}: batch_size={batch_size} is invalid for a dataset of {self.n} trajectories")
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        per_epoch = self.n // batch_size
        epoch, k = divmod(int(step), per_epoch)
        idx = self._permutation(epoch)[k * batch_size : (k + 1) * batch_size]
        return self.data.subset(idx)
