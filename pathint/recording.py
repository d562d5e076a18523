"""Recording a network's units on the fixed evaluation trajectories (SPEC §4) and the activations file.

``activations.h5`` layout (all under one file, written atomically):

* ``positions`` (S, 2) float32 — true positions of every recorded step, S = n_trajectories · steps,
  trajectory-major (sample i·steps + t is step t of trajectory i).
* ``trained/activations`` and ``untrained/activations`` (S, Ng) float32 (float16 with ``float16=True``);
  ``{trained,untrained}/decoded`` (S, 2) float32 decoded positions; attribute ``eval_error_cm``.
* ``examples/true`` and ``examples/decoded_{trained,untrained}`` (k, steps, 2): the first k trajectories,
  for a decoded-vs-true figure.
* File attributes: ``n_trajectories``, ``steps``, ``format``, plus the caller's ``attrs`` (non-scalar
  values stored as JSON strings, read back decoded).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import torch

from .errors import DataError
from .io import atomic_path
from .precision import device_precision
from .ratemaps import occupancy
from .trajectories import TrajectoryParams, Trajectories, generate

FORMAT = "pathint-activations-v1"
#: Trajectories kept in ``examples/`` for decoded-vs-true figures.
N_EXAMPLES = 8


@dataclass
class Recording:
    """Activity of the recorded layer on evaluation trajectories, flattened over (trajectory, step)."""

    activations: np.ndarray  # (S, Ng)
    positions: np.ndarray  # (S, 2) true positions, metres
    decoded: np.ndarray  # (S, 2) positions decoded from the readout, metres
    error_cm: float  # mean ‖decoded − true‖ over all steps, cm
    n_trajectories: int
    steps: int

    def trajectories(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """True and decoded positions of the first ``k`` trajectories, each (k, steps, 2)."""
        k = min(k, self.n_trajectories)
        true = self.positions[: k * self.steps].reshape(k, self.steps, 2)
        dec = self.decoded[: k * self.steps].reshape(k, self.steps, 2)
        return true, dec


@torch.no_grad()
def record(
    model: torch.nn.Module,
    readout: Any,
    traj: Trajectories,
    device: str | torch.device = "cpu",
    batch_size: int = 500,
    dtype: type = np.float32,
) -> Recording:
    """Run ``model`` on ``traj`` in eval mode without gradients and record its units.

    The initial state input is ``readout.encode(initial_position)`` (SPEC §2); activations are the
    recorded layer ``g`` of ``model.forward(velocity, init_code) -> (g, z)``; decoded positions come from
    ``readout.decode(z)``. The model and readout are moved to ``device``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    model.to(device)
    moved = readout.to(device) if hasattr(readout, "to") else None
    readout = moved if moved is not None else readout
    n, steps = traj.n, traj.steps
    acts: np.ndarray | None = None
    decoded = np.empty((n * steps, 2), dtype=np.float32)
    dist_sum = 0.0
    try:
        # float32 as on the CPU: torch's CUDA default lets cuDNN's RNN kernels use TF32 (pathint.precision)
        with device_precision(device, "fp32"):
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                vel = torch.as_tensor(traj.velocity[start:stop], dtype=torch.float32, device=device)
                x0 = torch.as_tensor(traj.initial_position[start:stop], dtype=torch.float32, device=device)
                pos = torch.as_tensor(traj.position[start:stop], dtype=torch.float32, device=device)
                g, z = model(vel, readout.encode(x0))
                dec = readout.decode(z).reshape(stop - start, steps, 2)
                dist_sum += float(torch.linalg.vector_norm(dec - pos, dim=-1).double().sum())
                if acts is None:
                    acts = np.empty((n * steps, g.shape[-1]), dtype=dtype)
                rows = slice(start * steps, stop * steps)
                acts[rows] = g.reshape(-1, g.shape[-1]).float().cpu().numpy()
                decoded[rows] = dec.reshape(-1, 2).cpu().numpy()
    finally:
        model.train(was_training)
    assert acts is not None
    return Recording(
        activations=acts,
        positions=traj.position.reshape(-1, 2).astype(np.float32),
        decoded=decoded,
        error_cm=dist_sum / (n * steps) * 100.0,
        n_trajectories=n,
        steps=steps,
    )


def _attr_value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float, np.integer, np.floating, np.bool_)):
        return value
    return "json:" + json.dumps(value, default=str, sort_keys=True)


def _from_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value.startswith("json:"):
        return json.loads(value[5:])
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_activations(
    path: str | os.PathLike,
    trained: Recording,
    untrained: Recording,
    attrs: dict | None = None,
    float16: bool = False,
    n_examples: int = N_EXAMPLES,
) -> None:
    """Write both recordings (same trajectories) to an HDF5 file atomically; layout in the module doc."""
    if trained.positions.shape != untrained.positions.shape or not np.array_equal(
        trained.positions, untrained.positions
    ):
        raise ValueError("trained and untrained recordings must come from the same trajectories")
    act_dtype = np.float16 if float16 else np.float32
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["n_trajectories"] = trained.n_trajectories
            f.attrs["steps"] = trained.steps
            for key, value in (attrs or {}).items():
                f.attrs[key] = _attr_value(value)
            f.create_dataset("positions", data=trained.positions.astype(np.float32))
            for name, rec in (("trained", trained), ("untrained", untrained)):
                grp = f.create_group(name)
                units = rec.activations.shape[1]
                grp.create_dataset(
                    "activations",
                    data=rec.activations.astype(act_dtype, copy=False),
                    chunks=(min(4096, rec.activations.shape[0]), units),
                )
                grp.create_dataset("decoded", data=rec.decoded.astype(np.float32))
                grp.attrs["eval_error_cm"] = float(rec.error_cm)
            true, dec_t = trained.trajectories(n_examples)
            _, dec_u = untrained.trajectories(n_examples)
            ex = f.create_group("examples")
            ex.create_dataset("true", data=true)
            ex.create_dataset("decoded_trained", data=dec_t)
            ex.create_dataset("decoded_untrained", data=dec_u)


def read_activations(path: str | os.PathLike) -> tuple[Recording, Recording, dict]:
    """Read ``(trained, untrained, attrs)`` written by :func:`write_activations` (activations as float32).

    A missing, truncated or corrupted file raises :class:`DataError` naming it.
    """
    try:
        with h5py.File(path, "r") as f:
            if _from_attr(f.attrs.get("format")) != FORMAT:
                raise DataError(f"{path}: not a pathint activations file (format {f.attrs.get('format')!r})")
            attrs = {k: _from_attr(v) for k, v in f.attrs.items()}
            n, steps = int(attrs["n_trajectories"]), int(attrs["steps"])
            positions = f["positions"][...]
            recs = []
            for name in ("trained", "untrained"):
                grp = f[name]
                recs.append(
                    Recording(
                        activations=grp["activations"][...].astype(np.float32, copy=False),
                        positions=positions,
                        decoded=grp["decoded"][...],
                        error_cm=float(grp.attrs["eval_error_cm"]),
                        n_trajectories=n,
                        steps=steps,
                    )
                )
    except DataError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: unreadable or incomplete activations file ({exc}); delete it and rerun") from exc
    for name, rec in zip(("trained", "untrained"), recs):
        if rec.activations.shape[0] != n * steps or rec.decoded.shape != (n * steps, 2):
            raise DataError(f"{path}: {name} arrays do not match n_trajectories·steps = {n * steps}")
    return recs[0], recs[1], {k: v for k, v in attrs.items() if k not in ("format", "n_trajectories", "steps")}


def eval_trajectories_needed(
    bins: int = 44,
    min_samples: int = 20,
    coverage: float = 0.95,
    steps: int = 50,
    seeds: tuple[int, ...] = (0, 1, 2),
    increment: int = 100,
    params: TrajectoryParams = TrajectoryParams(),
) -> int:
    """Smallest number of evaluation trajectories (a multiple of ``increment``) of ``steps`` steps such
    that at least ``coverage`` of the bins×bins rate-map bins receive ≥ ``min_samples`` samples; the
    maximum over ``seeds`` (each a fresh ``numpy.random.default_rng(seed)`` stream).

    Measured at the defaults (44 bins, 20 samples, 95 %, T = 50): 1500 trajectories for each of seeds
    0, 1, 2 (75,000 samples; wall avoidance under-samples the edges and corners). The pipeline default
    of 2000 trajectories (100,000 samples, 10× the original single batch) keeps a margin for any seed.
    """
    box = (params.box_width, params.box_height)
    worst = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        counts = np.zeros((bins, bins), dtype=np.int64)
        n = 0
        while (counts >= min_samples).mean() < coverage:
            traj = generate(rng, increment, steps, params)
            counts += occupancy(traj.position.reshape(-1, 2), bins, box)
            n += increment
            if n > 10_000_000:
                raise RuntimeError("coverage not reached with 10 million trajectories")
        worst = max(worst, n)
    return worst


def write_status_only(path: str | os.PathLike, attrs: dict) -> None:
    """An activations file for a network that has nothing to record (e.g. ``status="diverged"``).

    It carries the format and the status but no datasets, so scoring can mark the network instead of
    failing, and the sweep goes on.
    """
    if attrs.get("status", "ok") == "ok":
        raise ValueError("write_status_only is for networks whose status is not 'ok'")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            for key, value in attrs.items():
                f.attrs[key] = _attr_value(value)


def read_status(path: str | os.PathLike) -> str:
    """The ``status`` attribute of an activations file ("ok" when absent); DataError if unreadable."""
    try:
        with h5py.File(path, "r") as f:
            if _from_attr(f.attrs.get("format")) != FORMAT:
                raise DataError(f"{path}: not a pathint activations file (format {f.attrs.get('format')!r})")
            return str(_from_attr(f.attrs.get("status", "ok")))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except OSError as exc:
        raise DataError(f"{path}: unreadable or truncated activations file ({exc}); delete it and rerun") from exc
