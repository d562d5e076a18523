"""Grid scores with torch, for a GPU: the algorithm of :mod:`pathint.scores`, step for step, in float64.

:func:`pathint.scores.grid_scores` calls :func:`grid_scores_torch` by itself when ``device`` is "auto" and
torch sees a CUDA device, so the score stage uses the GPU of a GPU node without any setting. It also runs on
torch's CPU device, which is how the tests check it on machines without a GPU. Everything is float64
(float32 cannot give scores within 1e-9); the precomputed operators (part selectors, spline prefilter,
rotation, ring sums) come from :mod:`pathint.scores`, so both paths share one geometry.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import scipy.fft as sfft
import torch

from . import scores as S

#: Maps per chunk on a CUDA device (≈ 0.5 GB of float64 work arrays at 44×44); on torch's CPU device the
#: numpy path's chunks.
CHUNK_CUDA = 1024


@lru_cache(maxsize=16)
def _operators(n: int, device: str) -> dict[str, torch.Tensor]:
    """The per-size operators of :mod:`pathint.scores` as float64 tensors on ``device``."""
    dev = torch.device(device)
    m = 2 * n - 1

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=dev)

    op = S._rotation_operator(n)
    prefix, ring_sum = S._ring_operators(n)
    points, sizes = S._half_ring_geometry(n)
    with warnings.catch_warnings():
        # torch calls its CSR support "beta"; products with a CSR matrix are all that is used here.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        rotation = torch.sparse_csr_tensor(
            torch.as_tensor(op.indptr, dtype=torch.int64),
            torch.as_tensor(op.indices, dtype=torch.int64),
            torch.as_tensor(op.data, dtype=torch.float64),
            size=op.shape,
            check_invariants=True,
        ).to(dev)
    return {
        "sel": t(S._part_selector(n)),
        "inv": t(S._inverse_counts(n)),
        "bm": t(S._prefilter_matrix(m)),
        "rotation": rotation,
        "prefix": t(prefix),
        "ring_sum": t(ring_sum),
        "points": torch.as_tensor(points, dtype=torch.int64, device=dev),
        "sizes": torch.as_tensor(sizes, dtype=torch.int64, device=dev),
    }


def _cross_rows(x: torch.Tensor, lo: int) -> torch.Tensor:
    """Exact S(dx, dy) for dx = lo…N−1, every dy (k, N − lo, 2N−1): as ``scores._cross_rows``."""
    k, n, _ = x.shape
    m = 2 * n - 1
    xt = x.transpose(1, 2).flip(1)
    out = torch.empty((k, n - lo, m), dtype=x.dtype, device=x.device)
    buf = torch.zeros((k, n, 2 * n), dtype=x.dtype, device=x.device)
    skew = buf.reshape(k, 2 * n * n)[:, : n * m].reshape(k, n, m)
    for t, dx in enumerate(range(lo, n)):
        buf[:, :, :n] = torch.matmul(xt[:, :, : n - dx], x[:, dx:, :])
        out[:, t] = skew.sum(dim=1)
    return out


def _fft_cross_half(y: torch.Tensor) -> torch.Tensor:
    """FFT cross sums on the half table (k, N, 2N−1): as ``scores._fft_cross_half``."""
    k, n, _ = y.shape
    size = sfft.next_fast_len(2 * n - 1, real=True)
    f = torch.fft.rfft(y, n=size, dim=2)
    f = torch.fft.fft(f, n=size, dim=1)
    power = f.real * f.real + f.imag * f.imag
    g = torch.fft.ifft(power.to(f.dtype), dim=1)[:, :n]
    r = torch.fft.irfft(g, n=size, dim=2)
    return torch.cat([r[:, :, size - (n - 1) :], r[:, :, :n]], dim=2)


def _pearson_parts(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """As ``scores._pearson_parts``: centred Pearson of parts (k, ...), exactly constant parts give 0."""
    k = a.shape[0]
    a = a.reshape(k, -1)
    b = b.reshape(k, -1)
    ac = a - a.mean(dim=1, keepdim=True)
    bc = b - b.mean(dim=1, keepdim=True)
    r = (ac * bc).mean(dim=1) / torch.sqrt((ac * ac).mean(dim=1) * (bc * bc).mean(dim=1))
    constant = (a.amax(dim=1) == a.amin(dim=1)) | (b.amax(dim=1) == b.amin(dim=1))
    return torch.where(constant | ~torch.isfinite(r), torch.zeros_like(r), r)


def _sac_half(x0: torch.Tensor, ops: dict[str, torch.Tensor]) -> torch.Tensor:
    """Half SAC (k, N, 2N−1) of NaN-free maps; the same steps and thresholds as ``scores._sac_half``."""
    k, n, _ = x0.shape
    m = 2 * n - 1
    inv, sel = ops["inv"], ops["sel"]
    x = x0 - x0.amin(dim=(1, 2), keepdim=True)
    sums = torch.matmul(torch.matmul(sel, torch.cat([x, x * x])), sel.T)
    s, q = sums[:k], sums[k:]
    mean_a, mean_b = s[:, n - 1 :] * inv, s[:, : n].flip(1, 2) * inv
    sq_a, sq_b = q[:, n - 1 :] * inv, q[:, : n].flip(1, 2) * inv
    var_a = sq_a - mean_a * mean_a
    var_b = sq_b - mean_b * mean_b
    zero = (sq_a == 0) | (sq_b == 0)
    redo = ((sq_a > S._KAPPA_MAX * var_a) | (sq_b > S._KAPPA_MAX * var_b)) & ~zero
    den = torch.sqrt(var_a * var_b)
    band = S._BAND
    if n > 2 * band:
        c = x.mean(dim=(1, 2), keepdim=True)
        y = x - c
        cov = _fft_cross_half(y) * inv - (mean_a - c) * (mean_b - c)
        bound = (S._FFT_ERR * S._EPS * (y * y).sum(dim=(1, 2), keepdim=True)) * inv
        bound = bound + 16 * S._EPS * (mean_a + c) * (mean_b + c)
        bad = ~(bound <= S._FFT_TOL * den)
        lo = n - band
        bad[:, lo:, :] = False
        bad[:, :, :band] = False
        bad[:, :, m - band :] = False
        bad &= ~(zero | redo)
        exact = torch.nonzero(bad.any(dim=2).any(dim=1)).flatten()
        both = _cross_rows(torch.cat([x, x.transpose(1, 2).contiguous()]), lo)
        rows, cols = both[:k], both[k:]
        cov[:, lo:, :] = rows * inv[lo:] - mean_a[:, lo:] * mean_b[:, lo:]
        right = cols[:, :, n - 1 :].transpose(1, 2)
        left = cols[:, :, : n].flip(1, 2).transpose(1, 2)
        cov[:, :, m - band :] = right * inv[:, m - band :] - mean_a[:, :, m - band :] * mean_b[:, :, m - band :]
        cov[:, :, :band] = left * inv[:, :band] - mean_a[:, :, :band] * mean_b[:, :, :band]
    else:
        cov = torch.empty((k, n, m), dtype=x.dtype, device=x.device)
        exact = torch.arange(k, device=x.device)
    if exact.numel():
        cov[exact] = _cross_rows(x[exact], 0) * inv - mean_a[exact] * mean_b[exact]
    sac = cov / den
    sac = torch.where(zero | ~torch.isfinite(sac), torch.zeros_like(sac), sac)
    red = redo.reshape(k, -1)
    lags = torch.nonzero(red.any(dim=0)).flatten().tolist()
    if lags:
        flat = sac.reshape(k, -1)
        for lag in lags:
            dx, col = divmod(int(lag), m)
            who = torch.nonzero(red[:, lag]).flatten()
            sa, sb = S._overlap_slices(n, dx, col - (n - 1))
            flat[who, lag] = _pearson_parts(x0[who][:, sa[0], sa[1]], x0[who][:, sb[0], sb[1]])
    return sac


def _scores_from_half(
    half: torch.Tensor, ops: dict[str, torch.Tensor], min_max: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grid scores from half SACs: as ``scores._scores_from_half``."""
    k, n, m = half.shape
    sac = half.permute(1, 2, 0).contiguous()  # (N, m, k)
    bm = ops["bm"]
    t_half = torch.matmul(bm, sac)
    t_full = torch.cat([t_half[1:].flip(0, 1), t_half])
    coeff = (bm[n - 1 :] @ t_full.reshape(m, m * k)).reshape(n * m, k)
    sizes = ops["sizes"].tolist()
    rotated = torch.sparse.mm(ops["rotation"], coeff).reshape(len(S.ANGLES), len(ops["points"]), k)
    z = sac.reshape(n * m, k)[ops["points"]]
    z = z - z.mean(dim=0)
    area = ops["sizes"].to(torch.float64)[:, None]
    mean = (ops["prefix"] @ z) / area
    var = torch.stack([((z[:a] - mean[r]) ** 2).sum(dim=0) / a for r, a in enumerate(sizes)]) + S.VAR_EPS
    seg = torch.stack([(rotated[:, a:b] * z[a:b]).sum(dim=1) for a, b in zip([0] + sizes[:-1], sizes)], dim=1)
    cross = torch.cumsum(seg, dim=1) / area
    total = (ops["ring_sum"] @ coeff).reshape(len(S.ANGLES), len(sizes), k) / area
    corr = (cross - mean * total) / var
    c = dict(zip(S.ANGLES, corr))
    if min_max:
        s60 = torch.minimum(c[60], c[120]) - torch.maximum(torch.maximum(c[30], c[90]), c[150])
    else:
        s60 = (c[60] + c[120]) / 2 - (c[30] + c[90] + c[150]) / 3
    s90 = c[90] - (c[45] + c[135]) / 2
    return s60.amax(dim=0), s90.amax(dim=0)


def grid_scores_torch(
    rate_maps: np.ndarray,
    min_max: bool = True,
    device: str | torch.device = "cuda",
    chunk: int | None = None,
    keep_sac: bool = False,
):
    """60° and 90° grid scores of (n, N, N) maps on a torch ``device``; float64 numpy arrays (n,).

    Same definition and same results (within rounding, ~1e-12) as :func:`pathint.scores.grid_scores`.
    With ``keep_sac`` also the SACs (n, 2N−1, 2N−1), as :func:`pathint.scores.grid_scores_with_sac`.
    """
    maps = S._as_maps(rate_maps)
    dev = torch.device(device)
    k, n, _ = maps.shape
    if chunk is None:
        chunk = CHUNK_CUDA if dev.type == "cuda" else S._chunk_maps(k, n)
    s60 = np.empty(k)
    s90 = np.empty(k)
    sac = np.empty((k, 2 * n - 1, 2 * n - 1)) if keep_sac else None
    if k:
        ops = _operators(n, str(dev))
        with torch.no_grad():
            for start in range(0, k, chunk):
                x0 = torch.as_tensor(maps[start : start + chunk], dtype=torch.float64, device=dev)
                half = _sac_half(x0, ops)
                a, b = _scores_from_half(half, ops, min_max)
                s60[start : start + chunk] = a.cpu().numpy()
                s90[start : start + chunk] = b.cpu().numpy()
                if keep_sac:
                    sac[start : start + chunk] = S._full_from_half(half.cpu().numpy())
    return (s60, s90, sac) if keep_sac else (s60, s90)
