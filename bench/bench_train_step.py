"""Benchmark one training step (B 200, T 20, Np 512, DoS readout) against a matmul peak measured in the same run.

FLOPs per step ≈ 6·B·T·Ng² (recurrence, forward + backward) + 6·B·T·Ng·Np (decoder) + 4·B·Np·Ng (encoder:
forward and weight gradient; its input, the encoded start position, needs no gradient) + ≈12·B·T·Np (readout
targets and loss). The reference "peak" is an fp32 ``(4000×Ng)@(Ng×Ng)`` matmul
(4000 = B·T rows), best of 3, timed right after each step so that machine load affects both alike; the
printed percentage is the median over repetitions of these paired ratios (the machine is shared and noisy).
Timing starts after ``WARMUP_STEPS`` steps, so that it measures the steady state that training repeats.

Two more rows put the number in context:

- ``gemm floor``: the step's matrix products alone (the same shapes, in the same order, nothing else). Its
  percentage is the best this algorithm can reach with torch's CPU GEMM at that thread count: at B 200 the
  recurrence is 2·T products of 200 rows that are inherently sequential, and two threads share 200 rows less
  well than one thread uses them.
- like the pipeline's training process, the benchmark keeps freed memory in the heap
  (:func:`pathint.malloc.keep_freed_memory`); ``--malloc-defaults`` leaves glibc's defaults instead.
- ``--threads`` takes several counts; by default torch's default and 1, because the pipeline trains one
  network per core (``training.threads: 1``) and that is the number that matters for a sweep.

Target: ≥ 85 % of the peak at Ng 1024 on CPU.

Run: ``.venv/bin/python bench/bench_train_step.py [--ng 256 1024] [--reps 7] [--threads 2 1] [--device cpu cuda]``
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from pathint.malloc import keep_freed_memory  # noqa: E402
from pathint.models import SimpleCell  # noqa: E402
from pathint.precision import PRECISIONS, device_precision  # noqa: E402

B, T, NP = 200, 20, 512
#: Steps run before timing. Training repeats the step thousands of times, so the benchmark times its steady
#: state: glibc keeps extending the heap for the first several steps (thousands of page faults in many of the
#: first eight steps at Ng 1024, rarely any later; counted with getrusage) before freed buffers are reused.
WARMUP_STEPS = 10


def product_flops(ng: int, b: int = B, t: int = T, n_place: int = NP) -> int:
    """FLOPs of the matrix products one training step needs: recurrence (forward, backward through time,
    weight gradient), decoder (forward, state gradient, weight gradient) and encoder (forward, weight
    gradient). The 2-D input projection is left out (K = 2); ``tests/test_bench.py`` pins this count to
    the products torch actually runs."""
    return 6 * b * t * ng**2 + 6 * b * t * ng * n_place + 4 * b * n_place * ng


def step_flops(ng: int, b: int = B, t: int = T, n_place: int = NP) -> int:
    """What the benchmark credits a step with: its products plus ≈12 FLOPs per target (targets and loss)."""
    return product_flops(ng, b, t, n_place) + 12 * b * t * n_place


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device: torch.device) -> float:
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


def _gemm_floor(ng: int, device: torch.device):
    """The step's matrix products alone: forward recurrence, decoder forward/backward, backward recurrence, dW."""
    g = torch.Generator(device="cpu").manual_seed(0)
    w, wd = torch.randn(ng, ng, generator=g).to(device), torch.randn(NP, ng, generator=g).to(device)
    hs, da = torch.randn(T + 1, B, ng, generator=g).to(device), torch.randn(T, B, ng, generator=g).to(device)
    dz = torch.randn(T * B, NP, generator=g).to(device)

    def run() -> None:
        for t in range(T):
            hs[t + 1].addmm_(hs[t], w.t())
        h = hs[1:].view(T * B, ng)
        h @ wd.t(), dz @ wd, dz.t() @ h
        for t in range(T - 1, 0, -1):
            da[t - 1].addmm_(da[t], w)
        da[0] @ w
        da.view(T * B, ng).t() @ hs[:-1].reshape(T * B, ng)

    return run


def make_step(ng: int, device: torch.device, pkg: str = "pathint", autocast=None, b: int = B, t: int = T, n_place: int = NP):
    """One training step of the benchmark configuration as a closure, built with the package ``pkg``
    (``bench/ab_train_step.py`` passes another revision's copy); ``autocast`` as ``training_step`` takes it."""
    config, training, trajectories = (importlib.import_module(f"{pkg}.{m}") for m in ("config", "training", "trajectories"))
    cfg = config.NetworkConfig(n_grid=ng, n_place=n_place, batch_size=b, seq_len=t, learning_rate=1e-4)
    model, readout = training.init_network(cfg, device)
    model.train()
    opt = training.make_optimizer(cfg, model.parameters())
    traj = trajectories.online_batch(0, 0, b, t, trajectories.TrajectoryParams.from_config(cfg))
    vel, pos, p0 = (torch.from_numpy(a).to(device) for a in (traj.velocity, traj.position, traj.initial_position))
    extra = {} if autocast is None else {"autocast": autocast}
    return lambda: training.training_step(model, readout, opt, vel, pos, p0, **extra)


def bench(ng: int, device: torch.device, reps: int, backend: str = "auto", precision: str = "fp32") -> dict:
    with device_precision(device, precision) as autocast:
        return _bench(ng, device, reps, backend, make_step(ng, device, autocast=autocast)) | {"precision": precision}


def _bench(ng: int, device: torch.device, reps: int, backend: str, step) -> dict:
    a = torch.randn(B * T, ng, device=device)
    w = torch.randn(ng, ng, device=device)
    floor = _gemm_floor(ng, device)
    flops, mm_flops = step_flops(ng), 2 * B * T * ng * ng
    floor_flops = 6 * B * T * ng**2 + 6 * B * T * ng * NP  # what _gemm_floor multiplies (no encoder, no targets)
    SimpleCell.backend = backend
    try:
        for _ in range(WARMUP_STEPS):  # allocator, kernels, Adam state
            step()
            with device_precision(device, "fp32"):
                floor()
                a @ w
        steps, floors, peaks, ratios, floor_ratios = [], [], [], [], []
        for _ in range(reps):
            steps.append(_time(step, device))
            with device_precision(device, "fp32"):  # the reference products stay fp32 whatever precision the step trains in
                floors.append(_time(floor, device))
                peaks.append(min(_time(lambda: a @ w, device) for _ in range(3)))
            ratios.append((flops / steps[-1]) / (mm_flops / peaks[-1]))
            floor_ratios.append((floor_flops / floors[-1]) / (mm_flops / peaks[-1]))
    finally:
        SimpleCell.backend = "auto"
    t_step, t_floor, t_mm = statistics.median(steps), statistics.median(floors), statistics.median(peaks)
    return {
        "ng": ng, "device": str(device), "backend": backend, "threads": torch.get_num_threads(),
        "step_s": t_step, "gflops": flops / t_step / 1e9, "peak_gflops": mm_flops / t_mm / 1e9,
        "percent": 100 * statistics.median(ratios),
        "floor_s": t_floor, "floor_percent": 100 * statistics.median(floor_ratios),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ng", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, nargs="+", default=None, help="CPU thread counts (default: torch's and 1)")
    ap.add_argument("--device", nargs="+", default=None, help="default: cpu, plus cuda when available")
    ap.add_argument("--compare-backends", action="store_true", help="also time torch's fused RNN kernel")
    ap.add_argument("--precision", nargs="+", default=["fp32"], choices=PRECISIONS,
                    help="CUDA rows: training precision (the peak stays the fp32 product); CPU rows are always fp32")
    ap.add_argument("--malloc-defaults", action="store_true", help="do not keep freed memory in the heap (glibc's defaults)")
    args = ap.parse_args(argv)
    kept = False if args.malloc_defaults else keep_freed_memory()
    default_threads = torch.get_num_threads()
    threads = args.threads or sorted({default_threads, 1}, reverse=True)
    devices = args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    if any(d.startswith("cuda") for d in devices) and not torch.cuda.is_available():
        ap.error(f"--device cuda: torch {torch.__version__} sees no CUDA device on this machine (CPU build or no GPU)")
    print(f"torch {torch.__version__}; B={B} T={T} Np={NP} DoS readout, RNN relu; median of {args.reps} paired ratios; "
          f"freed memory kept in the heap: {'yes' if kept else 'no'}")
    for dev in devices:
        device = torch.device(dev)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        for n_threads in threads if device.type == "cpu" else [default_threads]:
            torch.set_num_threads(n_threads)
            backends = ["auto", "torch", "custom"] if args.compare_backends else ["auto"]
            precisions = args.precision if device.type == "cuda" else ["fp32"]
            for ng, backend, precision in itertools.product(args.ng, backends, precisions):
                r = bench(ng, device, args.reps, backend, precision)
                print(f"{name:>12} {n_threads:2d} thr Ng={ng:5d} {backend:6s} {precision}: {r['step_s'] * 1e3:8.2f} ms/step "
                      f"{r['gflops']:7.1f} GFLOP/s = {r['percent']:5.1f} % of matmul peak ({r['peak_gflops']:.1f} "
                      f"GFLOP/s); gemm floor {r['floor_s'] * 1e3:7.1f} ms = {r['floor_percent']:5.1f} %")
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
