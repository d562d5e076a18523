"""Pieces of the CPU recurrence against their alternatives, paired in one process (docs/performance.md).

Each line is the median over repetitions of the paired time ratio chosen/alternative (below 1: the form
``pathint.models._SimpleRecurrence`` uses is faster), at B 200, T 20:

- input projection of 2-D velocities into the (T·B, Ng) state buffer: one K=2 GEMM vs broadcast
  multiply-adds (both give bitwise the same values);
- relu′ in the backward: ``threshold_backward`` per step vs ``sign(h)`` over all steps and a multiply per step;
- the recurrence's 200-row product ``h_{t-1} W_hhᵀ``: T of them as ``addmm_`` vs as ``baddbmm_`` over
  one row block per thread; and the 200-row products' rate as a % of a ``(4000×Ng)@(Ng×Ng)`` product.

Not part of ``make bench`` (it compares implementation choices, not a target).
Run: ``.venv/bin/python bench/parts_recurrence.py [--ng 1024] [--threads 1 2] [--reps 15]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

B, T = 200, 20


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _paired(a, b, reps: int) -> float:
    """Median of time(a)/time(b), alternating which runs first."""
    for _ in range(2):
        a(), b()
    ratios = []
    for rep in range(reps):
        if rep % 2 == 0:
            ta, tb = _time(a), _time(b)
        else:
            tb, ta = _time(b), _time(a)
        ratios.append(ta / tb)
    return statistics.median(ratios)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ng", type=int, default=1024)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    n = args.ng
    g = torch.Generator().manual_seed(0)
    x, w_ih = torch.randn(T * B, 2, generator=g), torch.randn(n, 2, generator=g)
    hs = torch.randn(T + 1, B, n, generator=g).relu_()
    da = torch.randn(T, B, n, generator=g)
    w = torch.randn(n, n, generator=g) / n**0.5
    out = torch.randn(B, n, generator=g)
    big = torch.randn(T * B, n, generator=g)
    xp = hs[1:].view(T * B, n)

    def proj_gemm():
        torch.mm(x, w_ih.t(), out=xp)

    def proj_muladd():
        torch.mul(x[:, :1], w_ih[:, 0], out=xp)
        xp.addcmul_(x[:, 1:2], w_ih[:, 1])

    def relu_threshold():
        for t in range(T):
            torch.ops.aten.threshold_backward.grad_input(da[t], hs[t + 1], 0.0, grad_input=da[t])

    def relu_sign():
        d = torch.sign(hs[1:])
        for t in range(T):
            da[t].mul_(d[t])

    def rows_addmm():
        for _ in range(T):
            out.addmm_(hs[0], w.t())

    print(f"torch {torch.__version__}; B={B} T={T} Ng={n}; median of {args.reps} paired ratios")
    for k in args.threads:
        torch.set_num_threads(k)
        blocks = (out.view(k, B // k, n), hs[0].view(k, B // k, n), w.t().expand(k, n, n)) if B % k == 0 else None

        def rows_baddbmm():
            for _ in range(T):
                blocks[0].baddbmm_(blocks[1], blocks[2])

        def peak():
            big @ w

        print(f"{k} thr: input projection, GEMM / multiply-adds          = {_paired(proj_gemm, proj_muladd, args.reps):.3f}")
        print(f"{k} thr: relu', threshold_backward / sign and multiply   = {_paired(relu_threshold, relu_sign, args.reps):.3f}")
        if blocks is not None and k > 1:
            print(f"{k} thr: 200-row products, addmm_ / baddbmm_ row blocks = {_paired(rows_addmm, rows_baddbmm, args.reps):.3f}")
        # same FLOPs (T products of B rows vs one product of T·B rows): the time ratio is the rate ratio
        print(f"{k} thr: 200-row products' rate, % of the 4000-row product = {100 / _paired(rows_addmm, peak, args.reps):.1f}")


if __name__ == "__main__":
    main()
