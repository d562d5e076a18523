"""Train one path-integrating network (SPEC §3): seeded, resumable, atomic outputs.

Everything random derives from ``cfg.seed`` (``pathint.seeds.derive``): readout parameters ("readout"),
initial weights ("weights"), training batch k ("train_data", k) and the dropout masks of step k
("dropout", k). A run interrupted after a checkpoint and restarted therefore replays exactly the steps an
uninterrupted run takes; on CPU the final weights are bitwise identical (tested).

Outputs in ``out_dir``: ``model.pt`` (weights, readout state, config, status and provenance),
``train_log.csv`` (step, loss, decoding error on the training batch, lr, seconds per step) and, while
training, ``checkpoint.pt`` (removed once ``model.pt`` exists). All writes go through ``atomic_path``.
"""

from __future__ import annotations

import csv
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .config import NetworkConfig
from .errors import ConfigError, DataError
from .io import atomic_path
from .layout import NETWORK_FILES
from .models import PathIntegrator, build_model
from .precision import check_precision, device_name, device_precision
from .seeds import derive, rng

MODEL_FORMAT = "pathint-network-v1"
LOG_COLUMNS = ("step", "loss", "decoding_error_cm", "lr", "seconds_per_step")


@dataclass
class TrainRuntime:
    """How to run training (not part of the network's identity, so not in ``NetworkConfig``).

    ``precision``: "fp32" (default), "tf32" (TF32 matmuls) or "bf16" (autocast); the last two only on CUDA
    and ignored (with a log line) on CPU. ``dataset_path``: the stored trajectories when
    ``cfg.data_mode == "dataset"``.
    """

    device: str = "auto"
    threads: int | None = None
    checkpoint_every: int = 1000
    log_every: int = 100
    precision: str = "fp32"
    progress: bool = True
    dataset_path: str | None = None


@dataclass
class TrainResult:
    """Summary of a finished (or stopped) training run."""

    status: str  # "ok", "diverged" or "stopped" (test hook ``stop_after``; no model.pt written)
    steps: int
    final_loss: float
    final_error_cm: float
    device: str
    wall_time_s: float
    resumed_from: int | None
    model_path: Path | None
    log_path: Path | None
    log_rows: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------------- construction
def _readout_for(cfg: NetworkConfig):
    from .readouts import make_readout

    return make_readout(cfg, rng(cfg.seed, "readout"))


def _weights_generator(cfg: NetworkConfig) -> torch.Generator:
    return torch.Generator().manual_seed(derive(cfg.seed, "weights"))


def init_network(cfg: NetworkConfig, device: str | torch.device = "cpu"):
    """The network of ``cfg`` at step 0 (the untrained baseline): ``(model, readout)`` on ``device``."""
    readout = _readout_for(cfg)
    model = build_model(cfg, readout.n_out, _weights_generator(cfg))
    return model.to(device), readout.to(device)


def resolve_device(requested: str) -> torch.device:
    """"auto" → CUDA when available, else CPU; "cuda" without a GPU raises ConfigError."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("runtime device='cuda' was requested but torch sees no CUDA device; use 'auto' or 'cpu'")
    if requested not in ("cpu", "cuda") and not requested.startswith("cuda:"):
        raise ConfigError(f"runtime device={requested!r} is invalid: expected 'auto', 'cpu' or 'cuda'")
    return torch.device(requested)


def make_optimizer(cfg: NetworkConfig, params) -> torch.optim.Optimizer:
    """Optimiser with Keras' defaults (the NFL code used Keras).

    Adam ε = 1e-7 (β = 0.9, 0.999); RMSprop ρ = 0.9, ε = 1e-7, no momentum; SGD without momentum; Adagrad
    initial accumulator 0.1, ε = 1e-7. Known difference: Keras adds Adam's ε to √v̂·√(1-β₂ᵗ) rather
    than to √v̂, which only matters while √v is comparable to ε.
    """
    lr = cfg.learning_rate
    params = list(params)
    # torch's fused kernels (one pass over all parameters, CPU and CUDA) where they exist: on CPU the
    # per-parameter Adam loop costs ~4× more (bench/bench_train_step.py); RMSprop has none, so foreach.
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7, fused=True)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7, momentum=0.0, centered=False, foreach=True)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, fused=True)
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, initial_accumulator_value=0.1, eps=1e-7, fused=True)
    raise ConfigError(f"optimizer={cfg.optimizer!r} is invalid: expected one of adam, rmsprop, sgd, adagrad")


def learning_rate(cfg: NetworkConfig, step: int) -> float:
    """Learning rate of step ``step`` (0-based): linear warm-up over ``lr_warmup_steps``, then constant or
    cosine decay to 0 at ``n_steps``."""
    base = cfg.learning_rate
    w = cfg.lr_warmup_steps
    if step < w:
        return base * (step + 1) / w
    if cfg.lr_schedule == "cosine":
        span = max(cfg.n_steps - w, 1)
        return base * 0.5 * (1.0 + math.cos(math.pi * (step - w) / span))
    return base


# ---------------------------------------------------------------------- data
class _Batches:
    """Batch k of the network's training data as device tensors (velocity, position, initial position)."""

    def __init__(self, cfg: NetworkConfig, runtime: TrainRuntime, device: torch.device):
        from .trajectories import DatasetBatches, TrajectoryParams, online_batch

        self.cfg, self.device = cfg, device
        self.params = TrajectoryParams.from_config(cfg)
        self._online = online_batch
        self.dataset = None
        if cfg.data_mode == "dataset":
            if not runtime.dataset_path:
                raise ConfigError("data_mode='dataset' needs runtime.dataset_path (the stored training trajectories)")
            self.dataset = DatasetBatches(runtime.dataset_path, cfg.seed)
            if self.dataset.data.steps < cfg.seq_len:
                raise DataError(
                    f"{runtime.dataset_path}: trajectories have {self.dataset.data.steps} steps, seq_len={cfg.seq_len} needs more"
                )

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        if self.dataset is None:
            traj = self._online(cfg.seed, step, cfg.batch_size, cfg.seq_len, self.params)
        else:
            traj = self.dataset.batch(step, cfg.batch_size)
        t = cfg.seq_len

        def dev(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device, non_blocking=True)

        return dev(traj.velocity[:, :t]), dev(traj.position[:, :t]), dev(traj.initial_position)


def dropout_generator(cfg: NetworkConfig, step: int, device: torch.device) -> torch.Generator | None:
    """Generator of step ``step``'s dropout masks (``derive(seed, "dropout", step)``), None without dropout."""
    if cfg.input_dropout <= 0 and cfg.recurrent_dropout <= 0:
        return None
    return torch.Generator(device=device).manual_seed(derive(cfg.seed, "dropout", step))


# ---------------------------------------------------------------------- storage
def _storable(state: dict) -> dict:
    """Readout state with numpy arrays as tensors, so ``torch.load(weights_only=True)`` can read it."""
    out = {}
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            out[k] = torch.from_numpy(np.ascontiguousarray(v))
        elif isinstance(v, np.generic):
            out[k] = v.item()
        else:
            out[k] = v
    return out


def _unstorable(state: dict) -> dict:
    return {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in state.items()}


def _save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:  # truncated or foreign file
        raise DataError(f"{path}: cannot be read as a pathint network file ({type(exc).__name__}: {exc}); delete it and rerun") from None


def _remove_debris(out_dir: Path, outputs: tuple[Path, ...]) -> None:
    """Delete temporary files (``.<name>.tmp-*``) of ``outputs`` left by a killed run of this network.

    ``atomic_path`` never renames them onto a final name, so they are never mistaken for output; removing
    them only keeps repeated kills from filling the disk. Only this network's job writes in ``out_dir``.
    """
    if not out_dir.is_dir():
        return
    for path in outputs:
        for tmp in out_dir.glob(f".{path.name}.tmp-*"):
            tmp.unlink(missing_ok=True)


def _read_checkpoint(path: Path, log: Callable[[str], Any]) -> dict | None:
    """The checkpoint at ``path``, or None (after moving it aside) when it cannot be read.

    Checkpoints are written atomically, so an unreadable one means outside damage (a disk fault, a
    partial copy). Training is deterministic, so starting again from step 0 gives the same result; only
    time is lost, never correctness.
    """
    try:
        ck = _load(path)
        if not isinstance(ck, dict) or ck.get("format") != MODEL_FORMAT + "-checkpoint":
            raise DataError(f"{path}: not a pathint checkpoint")
        return ck
    except DataError as exc:
        aside = path.with_name(path.name + ".corrupt")
        path.replace(aside)
        log(f"{exc}; moved to {aside.name}, training restarts from step 0")
        return None


def _write_log(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
            w.writeheader()
            for r in rows:
                w.writerow({k: r[k] for k in LOG_COLUMNS})


def _versions() -> dict:
    return {"torch": str(torch.__version__), "numpy": np.__version__, "python": platform.python_version()}


def load_network(model_path: str | Path, device: str | torch.device = "cpu"):
    """Read ``model.pt``: ``(model (eval mode), readout, cfg, metadata)`` on ``device``.

    ``metadata`` holds everything else stored (status, steps, final loss, device, versions, wall time).
    """
    path = Path(model_path)
    blob = _load(path)
    if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
        raise DataError(f"{path}: not a pathint network file (format {blob.get('format') if isinstance(blob, dict) else None!r}, expected {MODEL_FORMAT!r})")
    from .readouts import Readout

    cfg = NetworkConfig.from_dict(blob["config"], source=f"{path} (config)")
    readout = Readout.from_state(_unstorable(blob["readout"]))
    model = build_model(cfg, readout.n_out, torch.Generator().manual_seed(0))
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise DataError(f"{path}: weights do not fit the stored config ({exc})") from None
    meta = {k: v for k, v in blob.items() if k not in ("state_dict", "readout", "config")}
    model.eval()
    return model.to(device), readout.to(device), cfg, meta


# ---------------------------------------------------------------------- progress output
class _LogStream:
    """File-like adapter so tqdm writes whole lines through the ``log`` callable."""

    def __init__(self, log: Callable[[str], Any]):
        self.log = log

    def write(self, s: str) -> None:
        s = s.strip("\r\n ")
        if s:
            self.log(s)

    def flush(self) -> None:
        pass


def _progress(runtime: TrainRuntime, log: Callable, total: int, initial: int, desc: str):
    if not runtime.progress:
        return None
    from tqdm import tqdm

    file = sys.stderr if log is print else _LogStream(log)
    return tqdm(total=total, initial=initial, desc=desc, file=file, ascii=True, mininterval=5.0 if file is not sys.stderr else 0.5)


# ---------------------------------------------------------------------- training
def training_step(
    model: PathIntegrator,
    readout,
    optimizer: torch.optim.Optimizer,
    velocity: torch.Tensor,
    position: torch.Tensor,
    initial_position: torch.Tensor,
    dropout_gen: torch.Generator | None = None,
    autocast=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One gradient step (one forward pass); targets are encoded on the device. Returns (loss, z), unsynced."""
    # The loss is a mean over (B,T), so it is taken time-major (T,B,·): that is how the CPU recurrence stores
    # its states, and the readout logits then need no transposed copy (forward or backward).
    targets = readout.encode(position.transpose(0, 1))
    init_code = readout.encode(initial_position)
    with autocast if autocast is not None else torch.autocast(velocity.device.type, enabled=False):
        _, z = model(velocity, init_code, dropout_gen)
        loss = readout.loss(z.transpose(0, 1).float(), targets) + model.weight_decay_term()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, z


def train(
    cfg: NetworkConfig,
    out_dir: str | Path,
    runtime: TrainRuntime | None = None,
    log: Callable[[str], Any] = print,
    *,
    stop_after: int | None = None,
) -> TrainResult:
    """Train the network of ``cfg`` for ``cfg.n_steps`` steps; write ``model.pt`` and ``train_log.csv``.

    Resumes from ``out_dir/checkpoint.pt`` if present. A non-finite loss ends training cleanly with
    status "diverged" (``model.pt`` records the first bad step). ``stop_after`` is a test hook that
    simulates a kill: return after that many total steps without writing ``model.pt`` (a checkpoint
    due at or before that step has been written).
    """
    runtime = runtime or TrainRuntime()
    out_dir = Path(out_dir)
    check_precision(runtime.precision)
    if runtime.checkpoint_every < 1 or runtime.log_every < 1:
        raise ConfigError(f"runtime checkpoint_every={runtime.checkpoint_every}, log_every={runtime.log_every}: both must be >= 1")
    if runtime.threads:
        torch.set_num_threads(int(runtime.threads))
    device = resolve_device(runtime.device)
    use_cuda_precision = device.type == "cuda" and runtime.precision != "fp32"
    if runtime.precision != "fp32" and not use_cuda_precision:
        log(f"precision={runtime.precision} applies only on CUDA; training in fp32 on {device}")
    log(f"training network {cfg.id} ({cfg.architecture} {cfg.activation}, Ng={cfg.n_grid}, readout {cfg.readout}) on {device}")

    model, readout = init_network(cfg, device)
    model.train()
    optimizer = make_optimizer(cfg, model.parameters())
    batches = _Batches(cfg, runtime, device)

    ckpt_path, model_path, log_path = run_paths(out_dir)
    start, rows, wall_before, resumed_from = open_run(cfg, out_dir, model, optimizer, log)

    t0 = time.perf_counter()
    t_last, step_last = t0, start
    # first non-finite step, tracked on the device so the step never waits for the GPU
    first_bad = torch.full((), -1, dtype=torch.int64, device=device)
    status, diverged_step = "ok", None
    last_loss, last_err = float("nan"), float("nan")
    bar = _progress(runtime, log, cfg.n_steps, start, f"train {cfg.id}")
    k = start
    try:
        # the TF32 switches are process-wide: set for this loop only, restored after (a no-op on the CPU)
        with device_precision(device, runtime.precision) as autocast:
            for k in range(start, cfg.n_steps):
                lr = learning_rate(cfg, k)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                vel, pos, p0 = batches(k)
                loss, z = training_step(model, readout, optimizer, vel, pos, p0, dropout_generator(cfg, k, device), autocast)
                first_bad.masked_fill_(~torch.isfinite(loss.detach()) & (first_bad < 0), k)

                done = k + 1
                is_log = done % runtime.log_every == 0 or done == 1 or done == cfg.n_steps
                is_ckpt = done % runtime.checkpoint_every == 0 and done < cfg.n_steps
                stopping = stop_after is not None and done >= stop_after
                if is_log or is_ckpt or stopping:
                    fb = int(first_bad)
                    if fb >= 0:
                        status, diverged_step = "diverged", fb
                        last_loss = float(loss.detach())
                        rows.append({"step": done, "loss": last_loss, "decoding_error_cm": float("nan"), "lr": lr,
                                     "seconds_per_step": (time.perf_counter() - t_last) / max(done - step_last, 1)})
                        log(f"loss became non-finite at step {fb + 1}; stopping (status 'diverged')")
                        break
                if is_log:
                    from .readouts import decoding_error_cm

                    last_loss = float(loss.detach())
                    last_err = decoding_error_cm(readout, z.detach().float(), pos)
                    now = time.perf_counter()
                    rows.append(
                        {
                            "step": done,
                            "loss": last_loss,
                            "decoding_error_cm": last_err,
                            "lr": lr,
                            "seconds_per_step": (now - t_last) / max(done - step_last, 1),
                        }
                    )
                    t_last, step_last = now, done
                    if bar is not None:
                        bar.set_postfix(loss=f"{last_loss:.4g}", err_cm=f"{last_err:.1f}", refresh=False)
                if bar is not None:
                    bar.update(1)
                if is_ckpt:
                    _save(checkpoint_blob(cfg, model.state_dict(), optimizer, done, rows, wall_before + time.perf_counter() - t0), ckpt_path)
                if stopping:
                    return TrainResult("stopped", done, last_loss, last_err, device_name(device), wall_before + time.perf_counter() - t0,
                                       resumed_from, None, None, rows)
    finally:
        if bar is not None:
            bar.close()

    steps_done = k + 1 if cfg.n_steps > start else start
    wall = wall_before + time.perf_counter() - t0
    state = {k_: v.detach().cpu() for k_, v in model.state_dict().items()}
    precision = runtime.precision if use_cuda_precision else "fp32"
    return finish_run(cfg, out_dir, state, readout, status, steps_done, diverged_step, last_loss, last_err, device,
                      precision, wall, resumed_from, rows, log)


# ---------------------------------------------------------------------- one network's files (shared with pathint.grouped)
def run_paths(out_dir: Path) -> tuple[Path, Path, Path]:
    """``(checkpoint.pt, model.pt, train_log.csv)`` of the network trained in ``out_dir``."""
    return tuple(out_dir / NETWORK_FILES[k] for k in ("checkpoint", "model", "train_log"))


def open_run(cfg: NetworkConfig, out_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             log: Callable[[str], Any]) -> tuple[int, list[dict], float, int | None]:
    """Prepare ``out_dir`` for training ``cfg``: remove a killed run's temporary files and, if a checkpoint
    exists, load it into ``model`` and ``optimizer``. Returns ``(start step, log rows, wall time before,
    resumed_from)``; a checkpoint of another configuration raises DataError."""
    ckpt_path, model_path, log_path = run_paths(out_dir)
    start, rows, wall_before, resumed_from = 0, [], 0.0, None
    _remove_debris(out_dir, (ckpt_path, model_path, log_path))
    ck = _read_checkpoint(ckpt_path, log) if ckpt_path.exists() else None
    if ck is not None:
        if ck.get("config") != cfg.to_dict():
            raise DataError(f"{ckpt_path}: checkpoint belongs to a different configuration; delete it and rerun")
        model.load_state_dict(ck["state_dict"])
        optimizer.load_state_dict(ck["optimizer"])
        start, rows, wall_before = int(ck["step"]), list(ck["log_rows"]), float(ck["wall_time_s"])
        resumed_from = start
        log(f"resuming from {ckpt_path} at step {start}")
    return start, rows, wall_before, resumed_from


def checkpoint_blob(cfg: NetworkConfig, state_dict: dict, optimizer: torch.optim.Optimizer, done: int,
                    rows: list[dict], wall_time_s: float) -> dict:
    """What ``checkpoint.pt`` holds after ``done`` steps."""
    return {
        "format": MODEL_FORMAT + "-checkpoint",
        "config": cfg.to_dict(),
        "state_dict": state_dict,
        "optimizer": optimizer.state_dict(),
        "step": done,
        "log_rows": rows,
        "wall_time_s": wall_time_s,
    }


def finish_run(cfg: NetworkConfig, out_dir: Path, state_dict: dict, readout, status: str, steps_done: int,
               diverged_step: int | None, last_loss: float, last_err: float, device: torch.device, precision: str,
               wall: float, resumed_from: int | None, rows: list[dict], log: Callable[[str], Any]) -> TrainResult:
    """Write ``train_log.csv`` and ``model.pt`` (``diverged_step`` 0-based, stored 1-based), remove the
    checkpoint, log the summary line and return the result."""
    ckpt_path, model_path, log_path = run_paths(out_dir)
    meta = {
        "format": MODEL_FORMAT,
        "network_id": cfg.id,
        "config": cfg.to_dict(),
        "state_dict": state_dict,
        "readout": _storable(readout.state()),
        "status": status,
        "steps": steps_done,
        "diverged_step": None if diverged_step is None else diverged_step + 1,
        "final_loss": last_loss,
        "final_error_cm": last_err,
        "device": device_name(device),
        "precision": precision,
        "versions": _versions(),
        "wall_time_s": wall,
        "resumed_from": resumed_from,
    }
    _write_log(log_path, rows)
    _save(meta, model_path)
    ckpt_path.unlink(missing_ok=True)
    log(f"network {cfg.id}: status {status}, {steps_done} steps, loss {last_loss:.4g}, error {last_err:.2f} cm, {wall:.1f} s")
    return TrainResult(status, steps_done, last_loss, last_err, device_name(device), wall, resumed_from, model_path, log_path, rows)
