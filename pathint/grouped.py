"""Train many networks of one shape in one process: batched products, per-network everything else.

A sweep is thousands of networks that differ in readout, seed, dropout rate, weight decay or learning rate
but share the shapes of their products. :func:`train_group` trains such a group together
(:class:`pathint.stacked.StackedNetworks`: one batched product per layer instead of K), while every network
keeps its own readout, targets, data (``derive(seed, "train_data", step)``), dropout masks, learning-rate
schedule, weight decay, optimiser and optimiser state, step counter, checkpoint, log and ``model.pt``: the
files each network gets are those :func:`pathint.training.train` writes for it alone, with the same values
(bitwise on the CPU, ``tests/test_grouped.py``), except the timing columns.

Members need not be at the same step: each resumes from its own checkpoint, and a member that finishes
(its ``n_steps``), diverges or stops leaves the group while the others go on (the stack is rebuilt from the
remaining members, optimiser state untouched). Killing the process loses at most each member's steps since
its last checkpoint, exactly as for single training.

:func:`shape_key` says which networks may share a group and :func:`plan_groups` splits a list of networks
into groups of at most K members or within a memory budget; the workflow calls both.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Hashable, Sequence

import torch

from .config import NetworkConfig
from .errors import ConfigError
from .precision import check_precision, device_name, device_precision
from .stacked import StackedNetworks
from .training import (
    TrainResult,
    TrainRuntime,
    _Batches,
    _progress,
    _save,
    checkpoint_blob,
    dropout_generator,
    finish_run,
    init_network,
    learning_rate,
    make_optimizer,
    open_run,
    resolve_device,
    run_paths,
)

#: Default largest group (networks trained together).
DEFAULT_GROUP_SIZE = 64


# ---------------------------------------------------------------------- grouping
def shape_key(cfg: NetworkConfig) -> tuple:
    """What networks of one group must share: the shapes of their products and the code path of their
    recurrent layer. Everything else (readout and its parameters, seed, rates, weight decay, learning
    rate and schedule, initialiser, encoder gain, n_steps, data mode) may differ within a group.

    Whether each dropout rate is zero is part of the key because it decides the recurrent layer's path
    (a masked recurrence sums in another order than an unmasked one); the optimiser is part of it so a
    group's optimiser steps are of one kind.
    """
    return (
        cfg.architecture,
        cfg.activation,
        int(cfg.n_grid),
        int(cfg.n_out),
        int(cfg.batch_size),
        int(cfg.seq_len),
        cfg.optimizer,
        cfg.input_dropout > 0,
        cfg.recurrent_dropout > 0,
    )


#: Floats of activations kept for the backward pass per (B·T) row, by architecture: ``(per Ng, per n_out)``
#: (states, gates, the copies the stacked recurrence makes, the head's dense layer, and the logits,
#: log-softmax, targets and their gradients), with a margin.
_ACTIVATION_FLOATS = {"RNN": (7, 8), "SRNN": (10, 8), "GRU": (16, 8), "UGRNN": (14, 8), "LSTM": (18, 8)}


def network_bytes(cfg: NetworkConfig) -> int:
    """Estimated memory one network takes while training in a group (bytes, float32): parameters,
    gradients and two optimiser moments (4 copies of every weight) plus the activations of one step.

    An estimate for packing groups, not a bound: at Ng 1024, B 200, T 20, Np 512 it gives 204 MiB (RNN),
    441 MiB (GRU), 512 MiB (LSTM), 378 MiB (UGRNN); the CPU peak (max RSS) of a 2-step group grew by 199,
    351, 311 and 344 MiB per network from K = 1 to K = 3 (``docs/performance.md``, "Grouped training").
    """
    ng, n_out, gates = int(cfg.n_grid), int(cfg.n_out), {"GRU": 3, "LSTM": 4, "UGRNN": 2}.get(cfg.architecture, 1)
    if cfg.architecture == "RNN":
        weights = 2 * ng * n_out + 2 * ng + ng * ng
    else:
        encoders = 2 if cfg.architecture == "LSTM" else 1
        weights = encoders * (ng * n_out + ng) + 3 * ng + 2 * gates * ng * ng + 2 * gates * ng + ng * ng + ng + ng * n_out + n_out
    per_ng, per_out = _ACTIVATION_FLOATS[cfg.architecture]
    rows = int(cfg.batch_size) * int(cfg.seq_len)
    activations = rows * (per_ng * ng + per_out * n_out)
    return 4 * (4 * weights + activations)


def plan_groups(
    cfgs: Sequence[NetworkConfig],
    *,
    max_size: int = DEFAULT_GROUP_SIZE,
    memory_mb: float | None = None,
) -> list[list[int]]:
    """Split networks into groups that :func:`train_group` can train together; returns lists of indices.

    Networks are grouped by :func:`shape_key`, ordered by (n_steps, seed, id) within a key so that a group
    holds networks of equal length (none idles while others finish) and few distinct seeds (members that
    share a seed share their training batches), and each key's networks are cut into the fewest groups
    of at most ``max_size`` members, and of at most ``memory_mb`` by :func:`network_bytes`, of nearly equal
    size. Deterministic: the same networks give the same groups whatever their input order.
    """
    if max_size < 1:
        raise ConfigError(f"group size {max_size} is invalid: expected >= 1")
    if memory_mb is not None and memory_mb <= 0:
        raise ConfigError(f"group memory budget {memory_mb} MB is invalid: expected > 0")
    by_key: dict[Hashable, list[int]] = defaultdict(list)
    for i, cfg in enumerate(cfgs):
        by_key[shape_key(cfg)].append(i)
    groups: list[list[int]] = []
    for key in sorted(by_key, key=repr):
        idx = sorted(by_key[key], key=lambda i: (cfgs[i].n_steps, cfgs[i].seed, cfgs[i].id))
        cap = max_size
        if memory_mb is not None:
            per = network_bytes(cfgs[idx[0]]) / 2**20
            cap = max(1, min(cap, int(memory_mb // per)))
        n_groups = math.ceil(len(idx) / cap)
        base, extra = divmod(len(idx), n_groups)
        start = 0
        for g in range(n_groups):
            size = base + (g < extra)
            groups.append(idx[start : start + size])
            start += size
    return groups


# ---------------------------------------------------------------------- one member of a group
@dataclasses.dataclass
class _Member:
    """Training state of one network of a group (what ``train`` keeps in local variables)."""

    index: int
    cfg: NetworkConfig
    out_dir: Path
    model: Any
    readout: Any
    optimizer: torch.optim.Optimizer
    batches: Any
    data_key: Hashable
    step: int  # next step to run (= steps done)
    rows: list[dict]
    wall_before: float
    resumed_from: int | None
    t_last: float = 0.0
    step_last: int = 0
    last_loss: float = float("nan")
    last_err: float = float("nan")


def _data_key(cfg: NetworkConfig, dataset_path: str | None) -> Hashable:
    """Members with equal keys see the same training batch at the same step (``_Batches``)."""
    from .trajectories import TrajectoryParams

    source = ("online",) if cfg.data_mode == "online" else ("dataset", str(dataset_path))
    return source + (int(cfg.seed), int(cfg.batch_size), int(cfg.seq_len), TrajectoryParams.from_config(cfg))


# ---------------------------------------------------------------------- training
def train_group(
    cfgs: Sequence[NetworkConfig],
    out_dirs: Sequence[str | Path],
    runtime: TrainRuntime | None = None,
    log: Callable[[str], Any] = print,
    *,
    dataset_paths: Sequence[str | None] | None = None,
    stop_after: int | None = None,
) -> list[TrainResult]:
    """Train the networks ``cfgs`` together, network i into ``out_dirs[i]``; returns their results in order.

    Every network's outputs are those of ``pathint.training.train(cfgs[i], out_dirs[i], runtime)``:
    ``model.pt`` (same weights, readout, config, status and metadata), ``train_log.csv`` (same rows; the
    ``seconds_per_step`` column is the group's wall time per step) and ``checkpoint.pt`` while training
    (removed once ``model.pt`` exists); each resumes from its own checkpoint. The networks must share
    :func:`shape_key` (ConfigError otherwise). ``runtime.dataset_path`` is ignored; ``dataset_paths[i]``
    gives network i's stored trajectories when its ``data_mode`` is "dataset". ``stop_after`` is
    ``train``'s test hook, per network: a network stops after that many total steps (its checkpoints due
    by then written, no ``model.pt``, status "stopped") while the others go on.
    """
    return _GroupRun(cfgs, out_dirs, runtime or TrainRuntime(), log, dataset_paths, stop_after).run()


class _GroupRun:
    """One call of :func:`train_group`: the members, the stack of the active ones, the clock."""

    def __init__(self, cfgs, out_dirs, runtime: TrainRuntime, log, dataset_paths, stop_after):
        cfgs = list(cfgs)
        out_dirs = [Path(d) for d in out_dirs]
        if len(out_dirs) != len(cfgs):
            raise ConfigError(f"train_group: {len(cfgs)} networks but {len(out_dirs)} output directories")
        if len({d.resolve() for d in out_dirs}) != len(out_dirs):
            raise ConfigError("train_group: two networks of one group share an output directory")
        keys = {shape_key(c) for c in cfgs}
        if len(keys) > 1:
            raise ConfigError(
                f"train_group: the networks do not share one shape (pathint.grouped.shape_key): {sorted(keys, key=repr)}"
            )
        datasets = list(dataset_paths) if dataset_paths is not None else [None] * len(cfgs)
        if len(datasets) != len(cfgs):
            raise ConfigError(f"train_group: {len(cfgs)} networks but {len(datasets)} dataset paths")
        check_precision(runtime.precision)
        if runtime.checkpoint_every < 1 or runtime.log_every < 1:
            raise ConfigError(
                f"runtime checkpoint_every={runtime.checkpoint_every}, log_every={runtime.log_every}: both must be >= 1"
            )
        if runtime.threads:
            torch.set_num_threads(int(runtime.threads))
        self.runtime, self.log, self.stop_after = runtime, log, stop_after
        self.device = device = resolve_device(runtime.device)
        if device.type == "cuda" and runtime.precision == "bf16":
            # the stacked products are custom autograd functions whose backward would mix bf16 and fp32
            raise ConfigError("runtime precision='bf16' is not supported by grouped training; use fp32 or tf32 "
                              "(or train the networks alone)")
        use_cuda_precision = device.type == "cuda" and runtime.precision != "fp32"
        self.precision = runtime.precision if use_cuda_precision else "fp32"
        if runtime.precision != "fp32" and not use_cuda_precision:
            log(f"precision={runtime.precision} applies only on CUDA; training in fp32 on {device}")
        # Every member is set up (checkpoint read and checked) before any training, so bad input fails fast.
        self.members: list[_Member] = []
        sources: dict[Hashable, Any] = {}
        for i, (cfg, out_dir) in enumerate(zip(cfgs, out_dirs)):
            log(
                f"training network {cfg.id} ({cfg.architecture} {cfg.activation}, Ng={cfg.n_grid}, readout {cfg.readout}) "
                f"on {device} in a group of {len(cfgs)}"
            )
            model, readout = init_network(cfg, device)
            model.train()
            optimizer = make_optimizer(cfg, model.parameters())
            key = _data_key(cfg, datasets[i])
            if key not in sources:
                sources[key] = _Batches(cfg, dataclasses.replace(runtime, dataset_path=datasets[i]), device)
            start, rows, wall_before, resumed_from = open_run(cfg, out_dir, model, optimizer, log)
            self.members.append(
                _Member(i, cfg, out_dir, model, readout, optimizer, sources[key], key, start, rows, wall_before,
                        resumed_from, step_last=start)
            )
        self.results: list[TrainResult | None] = [None] * len(cfgs)
        self.t0 = time.perf_counter()

    def wall(self, m: _Member) -> float:
        return m.wall_before + time.perf_counter() - self.t0

    def finish(self, m: _Member, status: str, diverged_step: int | None, state: dict) -> None:
        self.results[m.index] = finish_run(
            m.cfg, m.out_dir, state, m.readout, status, m.step, diverged_step, m.last_loss, m.last_err, self.device,
            self.precision, self.wall(m), m.resumed_from, m.rows, self.log,
        )

    def run(self) -> list[TrainResult]:
        self.t0 = time.perf_counter()
        active = []
        for m in self.members:
            m.t_last = self.t0
            if m.step < m.cfg.n_steps:
                active.append(m)
            else:  # nothing left to train: model.pt at once, as train() does
                self.finish(m, "ok", None, {k: v.detach().cpu() for k, v in m.model.state_dict().items()})
        bar = _progress(self.runtime, self.log, sum(m.cfg.n_steps - m.step for m in active), 0,
                        f"train group of {len(self.members)}")
        try:
            with device_precision(self.device, self.runtime.precision) as autocast:
                self._loop(active, autocast, bar)
        finally:
            if bar is not None:
                bar.close()
        assert all(r is not None for r in self.results)
        return list(self.results)  # type: ignore[arg-type]

    def _loop(self, active: list[_Member], autocast, bar) -> None:
        if not active:
            return
        device = self.device
        stack = StackedNetworks([m.model for m in active])
        # first non-finite step of each member, kept on the device so that a step never waits for it
        first_bad = torch.full((len(active),), -1, dtype=torch.int64, device=device)
        while active:
            losses, z, time_major, positions = _group_step(stack, active, device, autocast)
            steps_now = torch.tensor([m.step for m in active], dtype=torch.int64).to(device, non_blocking=True)
            bad_now = ~torch.isfinite(torch.stack([loss.detach() for loss in losses]).float()) & (first_bad < 0)
            first_bad = torch.where(bad_now, steps_now, first_bad)
            leaving = []
            for j, m in enumerate(active):
                outcome = self._after_step(m, j, losses[j], z, time_major, positions[j], first_bad, stack)
                if bar is not None:
                    bar.update(1)
                if outcome == "continue":
                    continue
                leaving.append(j)
                if outcome == "stopped":
                    self.results[m.index] = TrainResult("stopped", m.step, m.last_loss, m.last_err, device_name(device),
                                                        self.wall(m), m.resumed_from, None, None, m.rows)
                else:  # model.pt holds CPU tensors, as train() writes it
                    state = {k: v.cpu() for k, v in stack.member_state_dict(j).items()}
                    self.finish(m, outcome, int(first_bad[j]) if outcome == "diverged" else None, state)
            if leaving:
                keep = [j for j in range(len(active)) if j not in leaving]
                active = [active[j] for j in keep]
                first_bad = first_bad[keep]
                if active:
                    stack.rebind([m.model for m in active])

    def _after_step(self, m: _Member, j: int, loss: torch.Tensor, z: torch.Tensor, time_major: bool,
                    pos: torch.Tensor, first_bad: torch.Tensor, stack: StackedNetworks) -> str:
        """``train``'s bookkeeping after member ``m``'s step: divergence check, log row, checkpoint, stop.

        Returns "continue", "ok" (finished), "diverged" or "stopped"; advances ``m.step``.
        """
        runtime, cfg = self.runtime, m.cfg
        done = m.step = m.step + 1
        lr = m.optimizer.param_groups[0]["lr"]
        is_log = done % runtime.log_every == 0 or done == 1 or done == cfg.n_steps
        is_ckpt = done % runtime.checkpoint_every == 0 and done < cfg.n_steps
        stopping = self.stop_after is not None and done >= self.stop_after
        if is_log or is_ckpt or stopping:
            fb = int(first_bad[j])
            if fb >= 0:
                m.last_loss = float(loss.detach())
                m.rows.append({"step": done, "loss": m.last_loss, "decoding_error_cm": float("nan"), "lr": lr,
                               "seconds_per_step": (time.perf_counter() - m.t_last) / max(done - m.step_last, 1)})
                self.log(f"network {cfg.id}: loss became non-finite at step {fb + 1}; stopping (status 'diverged')")
                return "diverged"
        if is_log:
            from .readouts import decoding_error_cm

            m.last_loss = float(loss.detach())
            zj = z[j].transpose(0, 1) if time_major else z[j]  # (B,T,n_out), as train() passes it
            m.last_err = decoding_error_cm(m.readout, zj.detach().float(), pos)
            now = time.perf_counter()
            m.rows.append({"step": done, "loss": m.last_loss, "decoding_error_cm": m.last_err, "lr": lr,
                           "seconds_per_step": (now - m.t_last) / max(done - m.step_last, 1)})
            m.t_last, m.step_last = now, done
        if is_ckpt:
            blob = checkpoint_blob(cfg, stack.member_state_dict(j), m.optimizer, done, m.rows, self.wall(m))
            _save(blob, run_paths(m.out_dir)[0])
        if stopping:
            return "stopped"
        if done >= cfg.n_steps:
            return "ok"
        return "continue"


def _group_step(stack: StackedNetworks, active: list[_Member], device: torch.device, autocast):
    """One training step of every active member: batched forward and backward, then each member's own
    optimiser step. Returns (per-member losses, logits, whether they are time-major, positions)."""
    velocities, inits, targets, positions, generators = [], [], [], [], []
    cache: dict[tuple, tuple] = {}
    for m in active:
        lr = learning_rate(m.cfg, m.step)
        for group in m.optimizer.param_groups:
            group["lr"] = lr
        key = (m.data_key, m.step)
        if key not in cache:
            cache[key] = m.batches(m.step)
        vel, pos, p0 = cache[key]
        velocities.append(vel)
        positions.append(pos)
        # targets are encoded on the device, time-major, as training_step does
        targets.append(m.readout.encode(pos.transpose(0, 1)))
        inits.append(m.readout.encode(p0))
        generators.append(dropout_generator(m.cfg, m.step, device))
    with autocast:
        z, time_major = stack.forward(torch.stack(velocities), torch.stack(inits), generators)
        decay = stack.weight_decay_terms()
        logits = z.unbind(0)
        losses = []
        for j, m in enumerate(active):
            zj = logits[j] if time_major else logits[j].transpose(0, 1)
            losses.append(m.readout.loss(zj.float(), targets[j]) + decay[j])
    stack.zero_grad()
    torch.autograd.backward(losses)
    stack.distribute_grads()
    optimizer_steps([m.optimizer for m in active])
    return losses, z, time_major, positions


def _merge_key(opt: torch.optim.Optimizer) -> tuple | None:
    """Hyper-parameters under which ``opt``'s step can join other networks' in one fused Adam call; None
    when it cannot (another optimiser or option, or state not yet created: the first step goes through
    ``Adam.step``, which creates it)."""
    if type(opt) is not torch.optim.Adam or len(opt.param_groups) != 1:
        return None
    g = opt.param_groups[0]
    plain = g["fused"] and not (g["amsgrad"] or g["maximize"] or g["capturable"] or g["differentiable"]
                                or g.get("decoupled_weight_decay", False)) and g["weight_decay"] == 0
    if not plain or any(p.grad is None or p not in opt.state for p in g["params"]):
        return None
    return (float(g["lr"]), tuple(g["betas"]), float(g["eps"]), g["params"][0].device)


def optimizer_steps(optimizers: Sequence[torch.optim.Optimizer]) -> None:
    """Step every network's optimiser; fused Adams with equal lr, betas and eps in one call.

    torch's fused Adam is elementwise and takes each tensor's own step count, so one call over several
    networks' tensors computes exactly what their separate ``step()`` calls compute; it saves K-1 Python
    passes over the parameters per step (most of the optimiser's cost on a GPU at Ng <= 1024).
    """
    from torch.optim.adam import adam

    merged: dict[tuple, list[torch.optim.Optimizer]] = defaultdict(list)
    for opt in optimizers:
        key = _merge_key(opt)
        if key is None:
            opt.step()
        else:
            merged[key].append(opt)
    for (lr, (beta1, beta2), eps, _), opts in merged.items():
        if len(opts) == 1:
            opts[0].step()
            continue
        params, grads, m1, m2, steps = [], [], [], [], []
        for opt in opts:
            for p in opt.param_groups[0]["params"]:
                state = opt.state[p]
                params.append(p)
                grads.append(p.grad)
                m1.append(state["exp_avg"])
                m2.append(state["exp_avg_sq"])
                steps.append(state["step"])
        with torch.no_grad():
            adam(params, grads, m1, m2, [], steps, foreach=False, capturable=False, differentiable=False, fused=True,
                 grad_scale=None, found_inf=None, has_complex=False, amsgrad=False, beta1=beta1, beta2=beta2, lr=lr,
                 weight_decay=0.0, eps=eps, maximize=False)
