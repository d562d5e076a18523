"""Throughput of grouped training (pathint.grouped) against one-at-a-time training, measured in the same run.

Networks·steps per second for K = 1, 4, 16, 64 networks trained as groups at Ng 256 and 1024 (RNN relu,
DoS readout, Adam, B 200, T 20, Np 512 as in the paper), against one network trained at a time
(``training_step``, what ``pathint.training.train`` runs) in the same run.

On the CPU every row runs in fresh worker processes started by this script, so that rows are alike:

- ``1x1 single``: one process, one thread, one network at a time (the reference of the ratios);
- ``2x1 single``: two such processes side by side (what the pipeline does on 2 cores with
  ``training.threads: 1``): the reference of the CPU goal;
- ``1x2 group``: one process with two threads training a group of K;
- ``2x1 group``: two single-thread processes side by side, each training a group of K/2 (what the
  pipeline does when two group jobs run at once).

On CUDA both rows run in this process. The K networks differ as a sweep's do: place-cell widths differ and
seeds cycle over 0, 1, 2, so members that share a seed share their training batches (``--distinct-seeds``:
every network its own seed and batch). Each row runs ``--warmup`` untimed steps and then ``--steps`` timed
steps (median step time); a step is everything training repeats (data, targets, forward, backward,
optimiser), no logging or checkpoints.

Goals: on a GPU ≥ 10× the one-at-a-time throughput at Ng 256 and ≥ 3× at Ng 1024; on 2 CPU cores, grouped
no slower than two single-thread processes.

Run::

    .venv/bin/python bench/bench_grouped.py                     # CPU, all rows (~15 min on 2 cores)
    .venv/bin/python bench/bench_grouped.py --ng 256 --k 4 16   # a part
    python bench/bench_grouped.py --device cuda                 # on a GPU machine: also prints model and versions

On the 2-core CPU a group of 64 at Ng 1024 takes ~30 s per step and ~13 GB, so rows with K·Ng ≥ 16·1024
warm up ``--big-warmup`` (2) and time ``--big-steps`` (1) steps there; every other CPU row warms up 8 steps
(a new process page-faults through its first several steps, docs/performance.md, "Memory reuse and page faults").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from pathint.config import NetworkConfig  # noqa: E402
from pathint.grouped import _group_step, _GroupRun  # noqa: E402
from pathint.malloc import keep_freed_memory  # noqa: E402
from pathint.precision import device_precision  # noqa: E402
from pathint.stacked import StackedNetworks  # noqa: E402
from pathint.training import TrainRuntime, _Batches, dropout_generator, init_network, make_optimizer, training_step  # noqa: E402

B, T, NP = 200, 20, 512


def configs(ng: int, k: int, distinct_seeds: bool = False) -> list[NetworkConfig]:
    """K networks of one shape that differ as a sweep's do (place-cell width, seed)."""
    out = []
    for i in range(k):
        seed = i if distinct_seeds else i % 3
        sigma = round(0.08 + 0.005 * (i // 3 if not distinct_seeds else i), 4)
        out.append(NetworkConfig(readout="difference_of_softmaxes", n_place=NP, n_grid=ng, batch_size=B, seq_len=T,
                                 place_cell_rf=sigma, seed=seed, n_steps=10**6, learning_rate=1e-4))
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_group(cfgs: list[NetworkConfig], device: torch.device, warmup: int, steps: int) -> float:
    """Median seconds per step of the whole group (every member one step)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = _GroupRun(cfgs, [Path(tmp) / c.id for c in cfgs], TrainRuntime(device=str(device), progress=False),
                        lambda s: None, None, None)
        active = run.members
        stack = StackedNetworks([m.model for m in active])
        times = []
        with device_precision(device, "fp32") as autocast:
            for i in range(warmup + steps):
                _sync(device)
                t0 = time.perf_counter()
                _group_step(stack, active, device, autocast)
                for m in active:
                    m.step += 1
                _sync(device)
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
        return statistics.median(times)


def time_single(cfg: NetworkConfig, device: torch.device, warmup: int, steps: int) -> float:
    """Median seconds per step of one network trained alone (``training_step``, as ``train`` runs it)."""
    model, readout = init_network(cfg, device)
    model.train()
    opt = make_optimizer(cfg, model.parameters())
    batches = _Batches(cfg, TrainRuntime(device=str(device)), device)
    times = []
    with device_precision(device, "fp32") as autocast:
        for k in range(warmup + steps):
            _sync(device)
            t0 = time.perf_counter()
            vel, pos, p0 = batches(k)
            training_step(model, readout, opt, vel, pos, p0, dropout_generator(cfg, k, device), autocast)
            _sync(device)
            if k >= warmup:
                times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _worker(ng: int, k: int, first: int, threads: int, warmup: int, steps: int, distinct: bool) -> dict:
    """One worker process: networks ``first .. first+k-1`` of ``configs(ng, ...)``, alone (k = 0: one
    network with ``training_step``) or as a group; returns its timed span and median step time."""
    torch.set_num_threads(threads)
    cpu = torch.device("cpu")
    if k == 0:
        cfg = configs(ng, first + 1, distinct)[first]
        t0 = time.perf_counter()
        per = time_single(cfg, cpu, warmup, steps)
    else:
        cfgs = configs(ng, first + k, distinct)[first:]
        t0 = time.perf_counter()
        per = time_group(cfgs, cpu, warmup, steps)
    return {"median_s": per, "span_s": time.perf_counter() - t0}


def run_workers(specs: list[tuple], warmup: int, steps: int, distinct: bool) -> float:
    """Networks·steps/s of worker processes ``specs`` = [(ng, k, first, threads), ...] run side by side:
    the sum over workers of networks per median step."""
    procs = []
    for ng, k, first, threads in specs:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        cmd = [sys.executable, __file__, "--_worker", json.dumps([ng, k, first, threads, warmup, steps, distinct])]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env))
    outs = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"worker failed (exit {p.returncode})")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return sum(max(spec[1], 1) / o["median_s"] for spec, o in zip(specs, outs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--ng", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--k", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--steps", type=int, default=None, help="timed steps per row (default: 3 on CPU, 20 on CUDA)")
    ap.add_argument("--big-steps", type=int, default=1, help="timed steps of CPU rows with K x Ng >= 16 x 1024")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 8 on CPU, 5 on CUDA)")
    ap.add_argument("--big-warmup", type=int, default=2, help="untimed steps of CPU rows with K x Ng >= 16 x 1024")
    ap.add_argument("--distinct-seeds", action="store_true", help="every network its own seed (own training batches)")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._worker:
        keep_freed_memory()
        print(json.dumps(_worker(*json.loads(args._worker))))
        return
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device")
    keep_freed_memory()
    cuda = device.type == "cuda"
    steps = args.steps or (20 if cuda else 3)
    # a new process page-faults through its first several steps (docs/performance.md, "Memory reuse and page faults"),
    # so every row warms up that long before timing
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 8)
    distinct = args.distinct_seeds
    print(f"torch {torch.__version__}, device {device}", end="")
    if cuda:
        print(f" ({torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})")
    else:
        from pathint.provenance import cpu_name

        print(f" ({cpu_name()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    print(f"B {B}, T {T}, Np {NP}, RNN relu, DoS readout, Adam; seeds {'distinct' if distinct else 'cycling 0-2'}; "
          f"warm-up {warmup}, timed steps {steps} (median)")
    print(f"{'Ng':>5} {'K':>3} {'how':<12} {'nets·steps/s':>13} {'vs one at a time':>17}" + ("" if cuda else f" {'vs 2x1 single':>14}"))

    def row(ng, k, how, rate, ref, pair=None):
        extra = "" if pair is None else f" {rate / pair:>13.2f}x"
        print(f"{ng:>5} {k:>3} {how:<12} {rate:>13.2f} {rate / ref:>16.2f}x" + extra, flush=True)

    for ng in args.ng:
        if cuda:
            ref = 1.0 / time_single(configs(ng, 1)[0], device, warmup, steps)
            row(ng, 1, "single", ref, ref)
            for k in args.k:
                row(ng, k, "group", k / time_group(configs(ng, k, distinct), device, warmup, steps), ref)
            continue
        ref = run_workers([(ng, 0, 0, 1)], warmup, steps, distinct)
        pair = run_workers([(ng, 0, 0, 1), (ng, 0, 1, 1)], warmup, steps, distinct)
        row(ng, 1, "1x1 single", ref, ref, pair)
        row(ng, 2, "2x1 single", pair, ref, pair)
        for k in args.k:
            big = k * ng >= 16 * 1024
            n, w = (args.big_steps, args.big_warmup) if big else (steps, warmup)
            row(ng, k, "1x2 group", run_workers([(ng, k, 0, 2)], w, n, distinct), ref, pair)
            if k >= 2:
                half = k // 2
                row(ng, k, "2x1 group", run_workers([(ng, half, 0, 1), (ng, k - half, half, 1)], w, n, distinct), ref, pair)
    print("1x1 single: one network at a time, 1 thread; 2x1 single: two such processes side by side; 1x2 group: one "
          "process, 2 threads, K networks; 2x1 group: two 1-thread processes with K/2 networks each")


if __name__ == "__main__":
    main()
