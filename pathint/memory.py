"""Peak memory of a network's jobs, estimated from its sizes before any job runs.

:func:`estimate_mb` gives the peak resident memory (MB) of one network's training, recording or scoring job
from the sizes that drive it: Ng, Np (and fields per cell), batch size B and sequence length T, the
architecture and activation (which decide what autograd keeps), the evaluation set (n trajectories × T
steps, batch, float16) and the rate-map bins. :func:`check_memory` compares the estimates of all networks
with each stage's memory request (the rules' ``mem_mb``) and, for local runs, with this machine's memory,
and raises one ``ConfigError`` line naming the networks, the estimate and the limit.

The model is a sum of terms, each a count of float32 (or float64) buffers of one size:

* a fixed interpreter-and-libraries base per stage (torch, numpy, h5py; pandas and scipy for scoring);
* training: parameters × a factor (weights, gradients, optimiser state, the weight-decay term's
  temporaries and the initialiser's), B·T·Ng × a factor per architecture and activation (what autograd keeps
  for the backward pass), B·T·Np × a factor per readout (targets, logits, softmax and their gradients),
  the trajectory generator's float64 arrays and a stored dataset read whole;
* recording: both recordings (trained and untrained) of n·T samples × Ng float32 held together, plus one
  evaluation batch's forward pass;
* scoring: both recordings again, the rate-map accumulation chunk (32,768 samples × Ng in float32 and
  float64), the rate maps, the participation ratios' Gram matrices and the grid scores' working set.

The factors were measured with ``bench/bench_memory.py`` (peak RSS of each stage in a fresh process) and
rounded up, so the estimate errs on the large side; ``tests/test_memory.py`` holds it within a factor
:data:`TOLERANCE` of the measured peak at two sizes. On a GPU the estimate stays the CPU one (an upper bound
for what the host keeps; activations and optimiser state then live on the GPU) plus
:data:`CUDA_HOST_MB` for the CUDA libraries; that allowance is not measured here (no GPU) and GPU memory
itself is not checked.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import ConfigError

STAGES = ("train", "record", "score")
MB = 1024.0 * 1024.0
F32 = 4
F64 = 8
#: The estimate is within this factor of the measured peak RSS, both ways (tests/test_memory.py, two sizes).
TOLERANCE = 1.3
#: Memory request of the scoring rules when the config does not set ``scoring.mem_mb`` (workflow/rules).
SCORE_MEM_MB = 4000
#: Host memory the CUDA runtime and its libraries add to a GPU job (an allowance, not measured here).
CUDA_HOST_MB = 1500.0

#: Resident memory of a stage's process before it allocates anything of the network's size (MB): the
#: interpreter, torch, numpy and h5py; scoring also imports pandas, scipy and pyarrow.
BASE_MB = {"train": 330.0, "record": 280.0, "score": 320.0}

#: Parameter copies a training step holds at its peak: weights, gradients, optimiser state, and the
#: temporaries of the weight-decay term and of the Keras-style initialisers. The Sorscher RNN's count is
#: larger because its single large matrix is also the decayed one.
_PARAM_COPIES = {"RNN": 12.0, "SRNN": 6.0, "GRU": 6.0, "UGRNN": 6.0, "LSTM": 6.0}
#: B·T·Ng buffers autograd keeps (and the backward pass adds) per architecture: (step loop, fused kernel).
#: The Sorscher RNN's recurrence keeps only its states (plus φ' for tanh/sigmoid); the three-layer cells
#: keep every gate of every step.
_ACT_BUFFERS = {"SRNN": (14.0, 14.0), "GRU": (40.0, 22.0), "UGRNN": (22.0, 22.0), "LSTM": (34.0, 31.0)}
#: B·T·n_out buffers of the loss per readout: targets (and their intermediates), logits, (log-)softmax and
#: gradients.
_OUT_BUFFERS = {
    "cartesian": 14.0,
    "high_dim_cartesian": 14.0,
    "high_dim_polar": 11.0,
    "gaussian": 7.0,
    "difference_of_softmaxes": 9.0,
    "difference_of_gaussians": 9.0,
    "softmax_of_differences": 9.5,
    "general_difference_of_gaussians": 9.0,
}
#: Forward-only B·T·Ng buffers of one evaluation batch (recording): the states, the recorded layer, the
#: three-layer networks' stacked steps and dense layer; (step loop, fused kernel).
_EVAL_BUFFERS = {"RNN": (2.5, 2.5), "SRNN": (5.0, 5.0), "GRU": (7.0, 4.5), "UGRNN": (7.0, 7.0), "LSTM": (7.5, 4.5)}
#: Rate-map accumulation chunk (pathint.ratemaps._CHUNK): samples converted to float64 at a time.
_RATEMAP_CHUNK = 32768
#: Rows of activity used for the activity participation ratio (pathint.analysis.PR_MAX_SAMPLES).
_PR_SAMPLES = 10_000
#: Bytes per trajectory step a stored trajectory set takes in memory (velocity, position: 2 each; head
#: direction, speed: 1 each; float32), rounded up for the initial positions.
_TRAJ_BYTES_PER_STEP = 7 * F32


def n_parameters(cfg: Any) -> int:
    """Number of trainable parameters of network ``cfg`` (a NetworkConfig), as pathint.models builds it."""
    ng, n_out = int(cfg.n_grid), int(cfg.n_out)
    if cfg.architecture == "RNN":
        return ng * n_out + 2 * ng + ng * ng + ng * n_out  # encoder, input, recurrent, decoder (no biases)
    gates = {"SRNN": 1, "GRU": 3, "UGRNN": 2, "LSTM": 4}[cfg.architecture]
    cell_bias = {"SRNN": 0, "GRU": 2 * gates * ng, "UGRNN": gates * ng, "LSTM": gates * ng}[cfg.architecture]
    encoders = 2 if cfg.architecture == "LSTM" else 1
    return (
        encoders * (n_out * ng + ng)
        + 3 * ng  # input map (2 -> Ng, bias)
        + 2 * gates * ng * ng
        + cell_bias
        + ng * ng
        + ng  # dense layer
        + ng * n_out
        + n_out  # decoder
    )


def _fields(cfg: Any) -> float:
    """Expected largest field count over the Np cells: 1 + max of Np Poisson(λ) draws (generous bound)."""
    lam = float(cfg.fields_per_cell)
    if lam <= 0:
        return 1.0
    return 1.0 + lam + 4.0 * math.sqrt(lam * math.log(max(int(cfg.n_place), 2))) + 2.0


def _fused(cfg: Any, training: bool) -> bool:
    """Whether a three-layer cell runs torch's fused kernel (pathint.models: tanh, no recurrent dropout)."""
    if cfg.architecture not in ("GRU", "LSTM") or cfg.activation != "tanh":
        return False
    return not (training and cfg.recurrent_dropout > 0)


def _train_bytes(cfg: Any) -> float:
    bt = float(cfg.batch_size) * float(cfg.seq_len)
    ng, n_out = float(cfg.n_grid), float(cfg.n_out)
    params = _PARAM_COPIES[cfg.architecture] * n_parameters(cfg) * F32
    if cfg.architecture == "RNN":
        act = 4.5 + (2.0 if cfg.activation in ("tanh", "sigmoid") else 0.0) + (1.0 if cfg.recurrent_dropout > 0 else 0.0)
    else:
        loop, fused = _ACT_BUFFERS[cfg.architecture]
        act = fused if _fused(cfg, training=True) else loop
    out = _OUT_BUFFERS[cfg.readout] * (1.1 if _fields(cfg) > 1 else 1.0)
    readout = 24.0 * n_out * _fields(cfg) * F64  # centres, masks, σ, s and the derived matrices
    traj = 12.0 * bt * F64  # the trajectory generator's float64 arrays of one batch
    dataset = float(cfg.dataset_size) * float(cfg.seq_len) * _TRAJ_BYTES_PER_STEP if cfg.data_mode == "dataset" else 0.0
    return params + act * bt * ng * F32 + out * bt * n_out * F32 + readout + traj + dataset


def _record_bytes(cfg: Any, evaluation: Mapping[str, Any]) -> float:
    n, steps = float(evaluation.get("n_trajectories", 4000)), float(evaluation.get("seq_len", 50))
    batch = min(float(evaluation.get("batch_size", 500)), n)
    samples = n * steps
    ng, n_out = float(cfg.n_grid), float(cfg.n_out)
    recordings = 2 * samples * ng * F32 + 2 * samples * 4 * F32  # activations, decoded and true positions
    loop, fused = _EVAL_BUFFERS[cfg.architecture]
    act = fused if _fused(cfg, training=False) else loop
    forward = act * batch * steps * ng * F32 + 2.2 * batch * steps * n_out * F32
    # writing float16 copies one recording while the forward pass's buffers are already free for reuse
    write = samples * ng * 2 if evaluation.get("float16", False) else 0.0
    model = 4.0 * n_parameters(cfg) * F32  # stored and loaded weights of the trained network, the untrained one
    traj = n * steps * _TRAJ_BYTES_PER_STEP
    readout = 24.0 * n_out * _fields(cfg) * F64
    return recordings + max(forward, write) + model + traj + readout


def _score_bytes(cfg: Any, evaluation: Mapping[str, Any], scoring: Mapping[str, Any]) -> float:
    samples = float(evaluation.get("n_trajectories", 4000)) * float(evaluation.get("seq_len", 50))
    units = float(cfg.n_grid)
    bins2 = float(scoring.get("bins", 44)) ** 2
    # both recordings stay loaded throughout; the phases after them free their buffers before the next
    recordings = 2 * samples * units * F32 + 4 * samples * 2 * F32
    read_phase = samples * units * 2 if evaluation.get("float16", False) else 0.0  # float16 before its float32 copy
    maps = 2 * units * bins2 * F64  # trained and untrained rate maps, kept to the end
    ratemap_phase = min(samples, _RATEMAP_CHUNK) * units * (F32 + F64) + 3 * units * bins2 * F64
    # 64 maps at a time: autocorrelograms, corner sums, lag tables, the cached rotation operators (measured)
    grid_phase = 64 * (2 * math.sqrt(bins2)) ** 2 * 40 * F64
    pr_rows = min(samples, _PR_SAMPLES)
    pr_phase = max(
        2 * pr_rows * units * F64 + 2 * min(units, pr_rows) ** 2 * F64,  # activity: centred rows, Gram matrix
        3 * units * bins2 * F64 + 2 * min(units, bins2) ** 2 * F64,  # smoothed rate maps, their Gram matrix
    )
    return recordings + maps + max(read_phase, ratemap_phase, grid_phase, pr_phase)


def estimate_mb(
    cfg: Any,
    stage: str,
    *,
    evaluation: Mapping[str, Any] | None = None,
    scoring: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> float:
    """Estimated peak resident memory (MB) of network ``cfg``'s ``stage`` job ("train", "record", "score").

    ``evaluation`` and ``scoring`` are the config's sections (defaults filled in); ``device`` is where
    training and recording run ("cpu" or "cuda"; scoring always runs on the CPU).
    """
    evaluation = evaluation or {}
    scoring = scoring or {}
    if stage == "train":
        nbytes = _train_bytes(cfg)
    elif stage == "record":
        nbytes = _record_bytes(cfg, evaluation)
    elif stage == "score":
        nbytes = _score_bytes(cfg, evaluation, scoring)
    else:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    cuda = CUDA_HOST_MB if (device == "cuda" and stage != "score") else 0.0
    return BASE_MB[stage] + cuda + nbytes / MB


def rule_limits(config: Mapping[str, Any]) -> dict[str, float]:
    """Memory each stage's jobs request (MB), as the workflow rules set it from the config."""
    mem = float(config.get("training", {}).get("mem_mb", 4000))
    return {"train": mem, "record": mem, "score": float(config.get("scoring", {}).get("mem_mb", SCORE_MEM_MB))}


#: Config key of each stage's memory request, named in error messages.
LIMIT_KEYS = {"train": "training.mem_mb", "record": "training.mem_mb", "score": "scoring.mem_mb"}


def machine_memory_mb() -> float | None:
    """This machine's memory in MB: physical memory, or the cgroup limit where one is lower; None if unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MB
    except (ValueError, OSError, AttributeError):
        return None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text) / MB)
    return total


def training_device(config: Mapping[str, Any], local: bool) -> str:
    """Where training and recording will run: "cuda" or "cpu" (``training.device``; "auto" means a GPU
    when the jobs request one, ``training.gpu``, or, for local runs, when this machine has an NVIDIA driver)."""
    training = config.get("training", {})
    device = training.get("device", "auto")
    if device == "auto":
        has_gpu = bool(training.get("gpu", False)) or (local and Path("/proc/driver/nvidia/version").exists())
        return "cuda" if has_gpu else "cpu"
    return "cuda" if str(device).startswith("cuda") else "cpu"


def _describe(cfg: Any, stage: str, evaluation: Mapping[str, Any], scoring: Mapping[str, Any]) -> str:
    """The sizes behind an estimate, written as the config keys that set them."""
    sizes = f"architecture={cfg.architecture} n_grid={cfg.n_grid} n_place={cfg.n_place}"
    if stage == "train":
        sizes += f" batch_size={cfg.batch_size} seq_len={cfg.seq_len}"
        if cfg.data_mode == "dataset":
            sizes += f" dataset_size={cfg.dataset_size}"
    else:
        sizes += (
            f", evaluation.n_trajectories={evaluation.get('n_trajectories', 4000)}"
            f" evaluation.seq_len={evaluation.get('seq_len', 50)}"
        )
        if stage == "score":
            sizes += f" scoring.bins={scoring.get('bins', 44)}"
    return sizes


def check_memory(
    networks: Iterable[Any],
    limits: Mapping[str, float],
    *,
    evaluation: Mapping[str, Any] | None = None,
    scoring: Mapping[str, Any] | None = None,
    machine_mb: float | None = None,
    device: str = "cpu",
    source: str = "config",
) -> None:
    """Raise ConfigError if a network's estimated peak memory exceeds a stage's limit.

    ``networks``: NetworkConfigs; ``limits``: MB per stage (the rules' ``mem_mb``; a stage not listed is not
    checked); ``machine_mb``: this machine's memory for a local run (None: not checked). The message names
    the stage, how many networks exceed, the largest one (id and sizes), its estimate and the limit.
    """
    evaluation = evaluation or {}
    scoring = scoring or {}
    cfgs = list(networks)
    worst: tuple[float, str, Any] | None = None
    for stage in STAGES:
        est = [(estimate_mb(c, stage, evaluation=evaluation, scoring=scoring, device=device), c) for c in cfgs]
        if stage in limits:
            over = sorted((e for e in est if e[0] > limits[stage]), key=lambda e: -e[0])
            if over:
                mb, cfg = over[0]
                ids = ", ".join(c.id for _, c in over[:3]) + (f" and {len(over) - 3} more" if len(over) > 3 else "")
                raise ConfigError(
                    f"{source}: key '{LIMIT_KEYS.get(stage, stage)}': the {stage} job of {len(over)} network(s) ({ids}) "
                    f"needs an estimated {mb:,.0f} MB (largest: {_describe(cfg, stage, evaluation, scoring)}), more "
                    f"than its memory request mem_mb={limits[stage]:,.0f}; raise {LIMIT_KEYS.get(stage, 'mem_mb')} "
                    "or make the networks or the evaluation set smaller"
                )
        for mb, cfg in est:
            if worst is None or mb > worst[0]:
                worst = (mb, stage, cfg)
    if machine_mb is not None and worst is not None and worst[0] > machine_mb:
        mb, stage, cfg = worst
        raise ConfigError(
            f"{source}: the {stage} job of network {cfg.id} needs an estimated {mb:,.0f} MB "
            f"({_describe(cfg, stage, evaluation, scoring)}), more than this machine's {machine_mb:,.0f} MB of "
            "memory (a local run); make the networks or the evaluation set smaller, or run on a cluster"
        )
