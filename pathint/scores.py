"""Grid scores, grid period/orientation and participation ratios (SPEC §4).

The grid score is the DeepMind definition (Banino et al. 2018), the field standard, stated in SPEC §4:

1. Spatial autocorrelogram (SAC) of size (2N−1)² of the map with NaN replaced by 0 (a compatibility quirk):
   for each lag d, the Pearson correlation (1/n normalisation) of the two overlapping parts of the map,
   each part centred on its own mean over the n(d) overlapping bins; non-finite values become 0.
2. Ten ring masks on the SAC grid: 0.2·N < dist ≤ outer·N, outer ∈ linspace(0.4, 1.0, 10), dist in bins
   from the centre.
3. The whole SAC rotated by 30, 45, 60, 90, 120, 135, 150° about its centre exactly as
   ``scipy.ndimage.rotate(sac, angle, reshape=False)`` does (cubic spline with prefilter, mode "constant",
   cval 0, same shape). Per ring with mean m and A bins: C = SAC − m on the ring, var = ΣC²/A + 1e-5,
   corr(θ) = Σ_ring C·(rot_θ(SAC) − m) / A / var.
4. score_60 = min(c60, c120) − max(c30, c90, c150) (``min_max=True``, the NFL choice) or
   mean(c60, c120) − mean(c30, c90, c150) (``min_max=False``, DeepMind/Sorscher); score_90 =
   c90 − (c45 + c135)/2. Each score is the maximum over the ten rings, taken separately.

Degenerate lags: when one of the two overlapping parts is exactly constant (always the case for the
single-bin corner lags, and for every lag of a constant map) its variance is exactly zero, the Pearson
correlation is 0/0 and becomes 0. Both implementations here detect exact constancy (max == min) instead of
trusting a floating-point mean, so **a constant map, and an all-NaN map, score exactly 0 (score_60 and
score_90)**: its SAC is identically 0, every ring has C = 0 and var = 1e-5.

Two implementations of the same definition:

* :func:`grid_scores_reference` — one map at a time, a Python loop over lags with explicit centring and
  ``scipy.ndimage.rotate``; slow and obviously faithful. Used by the tests and ``bench/bench_scores.py``.
* :func:`grid_scores` — batched over maps, on the half of the SAC with dx >= 0 (the SAC is point-symmetric).
  Part sums and sums of squares come from products with 0/1 selectors on maps shifted by their minimum
  (Pearson is shift-invariant; non-negative values keep every sum free of cancellation). Cross sums come
  from an FFT of the mean-centred map, except in a band of small overlaps (at most 8 rows or columns),
  where they are exact products; the FFT's error bound is checked at every other lag, and a map that fails
  anywhere (a narrow place field, whose tails carry O(1) correlations in tiny values: SPEC §4's trap) gets
  exact products at every lag. Lags whose variance estimate is ill-conditioned (E[a²]/var(a) > 1e3) are
  recomputed directly, with centring, from the unshifted map. Rotation is linear: the spline prefilter is
  two matrix products (the matrix of ``spline_filter1d``, which ``rotate`` applies) and the interpolation
  step is a sparse operator, extracted from ``scipy.ndimage.affine_transform(prefilter=False)`` itself,
  evaluated only at the ring bins of the half plane (a point-symmetric ring has the same mean and
  correlations as its half). It agrees with the reference to ~1e-12 (1e-11 on degenerate maps such as a
  ramp, whose SAC is 1 up to rounding and whose score is that rounding divided by the 1e-5 regulariser).
  With ``device="auto"`` it runs on the GPU when torch sees one (:mod:`pathint.scores_torch`, same steps).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import scipy.fft as sfft
import scipy.ndimage as ndi
import scipy.sparse as sparse
import scipy.special as special

#: Rotation angles (degrees) at which the SAC is compared with itself.
ANGLES = (30, 45, 60, 90, 120, 135, 150)
#: Inner radius of every ring, as a fraction of the map size N.
RING_INNER = 0.2
#: Outer radii of the ten rings, as fractions of N.
RING_OUTERS = np.linspace(0.4, 1.0, 10)
#: Added to each ring's variance (DeepMind's regulariser) so a flat SAC does not divide by zero.
VAR_EPS = 1e-5
#: Largest tolerated condition number E[a²]/var(a) of the sum-based variance before a lag is recomputed
#: directly: the relative rounding error of the sum formula is ≈ 1e-16 × this.
_KAPPA_MAX = 1e3
#: Map bins processed together in :func:`grid_scores` (64 maps of 44×44; bounds memory at ≈ 30 MB of work
#: arrays, and keeps per-chunk overheads small for small maps).
_CHUNK_BINS = 64 * 44 * 44


def _chunk_maps(n_maps: int, n: int, threads: int = 1) -> int:
    """Maps per chunk for (N, N) maps: ``_CHUNK_BINS`` bins, but at least one chunk per thread."""
    return max(1, min(max(16, _CHUNK_BINS // (n * n)), -(-n_maps // threads)))


# --------------------------------------------------------------------------------------------------
# helpers shared by both implementations


def _as_maps(rate_maps: np.ndarray) -> np.ndarray:
    """Validate (n, N, N) or (N, N) maps; return float64 (n, N, N) with NaN (and ±inf) replaced by 0."""
    maps = np.asarray(rate_maps, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2] or maps.shape[1] < 2:
        raise ValueError(f"rate maps must have shape (n, N, N) with N >= 2, got {np.shape(rate_maps)}")
    # NaN -> 0 before the autocorrelogram: the DeepMind quirk kept for compatibility (SPEC §4).
    return np.where(np.isfinite(maps), maps, 0.0)


def _pearson_parts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of parts ``a``, ``b`` of shape (k, ...) along all but the first axis.

    1/n normalisation, each part centred on its own mean; a part that is exactly constant (max == min)
    has zero variance, so its correlation is 0/0 -> 0, as is any other non-finite value.
    """
    k = a.shape[0]
    a = a.reshape(k, -1)
    b = b.reshape(k, -1)
    ac = a - a.mean(axis=1, keepdims=True)
    bc = b - b.mean(axis=1, keepdims=True)
    cov = (ac * bc).mean(axis=1)
    var_a = (ac * ac).mean(axis=1)
    var_b = (bc * bc).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = cov / np.sqrt(var_a * var_b)
    constant = (a.max(axis=1) == a.min(axis=1)) | (b.max(axis=1) == b.min(axis=1))
    r[constant | ~np.isfinite(r)] = 0.0
    return r


def _overlap_slices(n: int, dx: int, dy: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Index slices of the two overlapping parts for lag (dx, dy): part a at p, part b at p + d."""
    a = (slice(max(0, -dx), n - max(0, dx)), slice(max(0, -dy), n - max(0, dy)))
    b = (slice(max(0, dx), n + min(0, dx)), slice(max(0, dy), n + min(0, dy)))
    return a, b


def _rotation_affine(n_sac: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Matrix and offset that ``scipy.ndimage.rotate(..., reshape=False)`` passes to affine_transform."""
    c, s = special.cosdg(angle), special.sindg(angle)
    rot = np.array([[c, s], [-s, c]])
    centre = (np.array([n_sac, n_sac]) - 1) / 2
    return rot, centre - rot @ centre


# --------------------------------------------------------------------------------------------------
# reference implementation (one map, loops)


def autocorrelogram_reference(rate_map: np.ndarray) -> np.ndarray:
    """SAC (2N−1, 2N−1) of one map by a direct loop over lags; entry [N−1+dx, N−1+dy] is lag (dx, dy)."""
    x = _as_maps(rate_map)[0]
    n = x.shape[0]
    sac = np.zeros((2 * n - 1, 2 * n - 1))
    for dx in range(-(n - 1), n):
        for dy in range(-(n - 1), n):
            sa, sb = _overlap_slices(n, dx, dy)
            sac[dx + n - 1, dy + n - 1] = _pearson_parts(x[sa][None], x[sb][None])[0]
    return sac


def grid_scores_reference(rate_map: np.ndarray, min_max: bool = True) -> tuple[float, float]:
    """(score_60, score_90) of one (N, N) map, straight from the definition (slow; for tests/benchmarks)."""
    sac = autocorrelogram_reference(rate_map)
    n = (sac.shape[0] + 1) // 2
    m = sac.shape[0]
    off = np.arange(m) - (n - 1)
    dist = np.sqrt(off[:, None] ** 2 + off[None, :] ** 2)
    rotated = {a: ndi.rotate(sac, a, reshape=False, order=3, mode="constant", cval=0.0) for a in ANGLES}
    best60, best90 = -np.inf, -np.inf
    for outer in RING_OUTERS:
        ring = (dist > RING_INNER * n) & (dist <= outer * n)
        area = ring.sum()
        mean = sac[ring].mean()
        centred = sac[ring] - mean
        var = np.sum(centred**2) / area + VAR_EPS
        c = {a: np.sum(centred * (rotated[a][ring] - mean)) / area / var for a in ANGLES}
        if min_max:
            s60 = min(c[60], c[120]) - max(c[30], c[90], c[150])
        else:
            s60 = (c[60] + c[120]) / 2 - (c[30] + c[90] + c[150]) / 3
        s90 = c[90] - (c[45] + c[135]) / 2
        best60, best90 = max(best60, s60), max(best90, s90)
    return float(best60), float(best90)


# --------------------------------------------------------------------------------------------------
# fast batched implementation
#
# Layout: the SAC is point-symmetric, sac(−d) = sac(d), so only its half with dx >= 0 is computed, an
# (N, 2N−1) table whose entry [dx, N−1+dy] is lag (dx, dy). The scoring works on "bins × maps" arrays so
# that every large step is one matrix product over all maps of a chunk.

#: Lags whose overlap spans at most this many rows or columns get exact cross sums from direct products:
#: their parts are small, and the FFT's absolute rounding error is large beside their variance.
_BAND = 8
#: Bound on the FFT's absolute error of one cross sum, in units of eps·Σy² (y = map minus its mean).
#: Measured at most 2.2 with scipy's pocketfft on the test and benchmark maps, N = 10…64.
_FFT_ERR = 16.0
#: Largest accepted bound on the error of one SAC value from FFT cross sums. A map with any lag above it
#: outside the band gets exact cross sums at every lag (a narrow place field's tails: SPEC §4's trap).
_FFT_TOL = 1e-12
_EPS = float(np.finfo(np.float64).eps)


@lru_cache(maxsize=8)
def _part_selector(n: int) -> np.ndarray:
    """(2N−1, N) 0/1 matrix; row N−1+d picks the indices of part a along one axis for lag d."""
    d = np.arange(-(n - 1), n)[:, None]
    i = np.arange(n)[None, :]
    return ((i >= np.maximum(0, -d)) & (i < n - np.maximum(0, d))).astype(np.float64)


@lru_cache(maxsize=8)
def _inverse_counts(n: int) -> np.ndarray:
    """1 / n(d) on the half table: n(d) = (N − |dx|)(N − |dy|) overlapping bins."""
    la = n - np.abs(np.arange(-(n - 1), n))
    return 1.0 / (la[n - 1 :, None] * la[None, :]).astype(np.float64)


def _part_sums(x: np.ndarray) -> np.ndarray:
    """Σ over part a of ``x`` for every lag, (k, 2N−1, 2N−1), entry [N−1+dx, N−1+dy].

    Two products with 0/1 selectors; every term is non-negative (maps are shifted to min 0 first), so each
    sum is accurate to a relative N·eps. Part b of lag d is part a of lag −d.
    """
    sel = _part_selector(x.shape[1])
    return np.matmul(np.matmul(sel, x), sel.T)


def _cross_rows(x: np.ndarray, lo: int) -> np.ndarray:
    """Exact S(dx, dy) = Σ_p x[p]·x[p + d] for dx = lo…N−1 and every dy: (k, N − lo, 2N−1).

    For each dx a batched matrix product gives P[j, j'] = Σ_i x[i, j]·x[i + dx, j'] (exact float64
    products, no FFT); the lag-dy sum is the sum of P's diagonal j' − j = dy. Written with its rows
    reversed into rows of length 2N and read back with rows of length 2N−1, row j of P lands shifted by j,
    so every diagonal becomes one column of the view.
    """
    k, n, _ = x.shape
    m = 2 * n - 1
    xt = x.transpose(0, 2, 1)
    out = np.empty((k, n - lo, m))
    buf = np.zeros((k, n, 2 * n))
    skew = buf.reshape(k, 2 * n * n)[:, : n * m].reshape(k, n, m)
    for t, dx in enumerate(range(lo, n)):
        np.matmul(xt[:, ::-1, : n - dx], x[:, dx:, :], out=buf[:, :, :n])
        np.sum(skew, axis=1, out=out[:, t])
    return out


def _fft_cross_half(y: np.ndarray) -> np.ndarray:
    """S(dx, dy) = Σ_p y[p]·y[p + d] for dx = 0…N−1 and every dy, (k, N, 2N−1), by FFT.

    Zero padding to at least 2N−1 makes the circular correlation linear; the inverse transform is taken
    along dx first and only the rows dx = 0…N−1 go through the second one.
    """
    k, n, _ = y.shape
    size = sfft.next_fast_len(2 * n - 1, real=True)
    f = sfft.rfft(y, n=size, axis=2)
    f = sfft.fft(f, n=size, axis=1, overwrite_x=True)
    power = f.real * f.real + f.imag * f.imag
    g = sfft.ifft(power, axis=1, overwrite_x=True)[:, :n]
    r = sfft.irfft(g, n=size, axis=2)
    out = np.empty((k, n, 2 * n - 1))
    out[:, :, n - 1 :] = r[:, :, :n]
    out[:, :, : n - 1] = r[:, :, size - (n - 1) :]
    return out


def _sac_half(x0: np.ndarray) -> tuple[np.ndarray, int]:
    """Half SAC (k, N, 2N−1) of maps ``x0`` (NaN already replaced); also the number of maps done exactly.

    Pearson per lag from part sums, squares and cross sums on maps shifted to minimum 0 (shift-invariant;
    non-negative values keep the sums free of cancellation and a zero background exact). Cross sums: exact
    products in the band of small overlaps and, for the other lags, an FFT of the mean-centred map
    (cov = S_y/n − ȳ_a·ȳ_b, ȳ = part mean of the centred map) whose error bound is checked lag by lag; a map
    failing the check anywhere gets exact cross sums everywhere. Parts that are exactly 0 (= the map's
    minimum) have variance 0 and give 0; lags whose variance estimate is ill-conditioned (E[a²]/var(a) >
    1e3) are recomputed directly with centring, which also finds exactly constant parts (max == min).
    """
    k, n, _ = x0.shape
    m = 2 * n - 1
    inv = _inverse_counts(n)
    x = x0 - x0.min(axis=(1, 2), keepdims=True)
    sums = _part_sums(np.concatenate([x, x * x]))
    s, q = sums[:k], sums[k:]
    mean_a, mean_b = s[:, n - 1 :] * inv, s[:, n - 1 :: -1, ::-1] * inv
    sq_a, sq_b = q[:, n - 1 :] * inv, q[:, n - 1 :: -1, ::-1] * inv
    var_a = sq_a - mean_a * mean_a
    var_b = sq_b - mean_b * mean_b
    zero = (sq_a == 0) | (sq_b == 0)
    redo = ((sq_a > _KAPPA_MAX * var_a) | (sq_b > _KAPPA_MAX * var_b)) & ~zero
    with np.errstate(invalid="ignore"):
        den = np.sqrt(var_a * var_b)
    if n > 2 * _BAND:
        c = x.mean(axis=(1, 2))
        y = x - c[:, None, None]
        cc = c[:, None, None]
        ya, yb = mean_a - cc, mean_b - cc
        cov = _fft_cross_half(y)
        cov *= inv
        cov -= ya * yb
        # Error bound of cov: the FFT's, plus the rounding of ȳ_a·ȳ_b (part means carry ~N·eps relative;
        # |ȳ| <= mean + c since both are >= 0).
        bound = (_FFT_ERR * _EPS * np.einsum("kij,kij->k", y, y))[:, None, None] * inv
        bound += 16 * _EPS * (mean_a + cc) * (mean_b + cc)
        with np.errstate(invalid="ignore"):
            bad = ~(bound <= _FFT_TOL * den)
        b, lo = _BAND, n - _BAND
        bad[:, lo:, :] = False
        bad[:, :, :b] = False
        bad[:, :, m - b :] = False
        bad &= ~(zero | redo)
        exact = np.flatnonzero(bad.any(axis=(1, 2)))
        # The band: rows dx >= N − b from x, columns |dy| >= N − b from xᵀ (lag (a, b') of xᵀ is (b', a) of x).
        both = _cross_rows(np.concatenate([x, x.transpose(0, 2, 1)]), lo)
        rows, cols = both[:k], both[k:]
        cov[:, lo:, :] = rows * inv[lo:] - mean_a[:, lo:] * mean_b[:, lo:]
        right = cols[:, :, n - 1 :].transpose(0, 2, 1)  # dy = N−b…N−1
        left = cols[:, ::-1, n - 1 :: -1].transpose(0, 2, 1)  # dy = −(N−1)…−(N−b), via S(d) = S(−d)
        cov[:, :, m - b :] = right * inv[:, m - b :] - mean_a[:, :, m - b :] * mean_b[:, :, m - b :]
        cov[:, :, :b] = left * inv[:, :b] - mean_a[:, :, :b] * mean_b[:, :, :b]
    else:
        cov = np.empty((k, n, m))
        exact = np.arange(k)
    if exact.size:
        cov[exact] = _cross_rows(x[exact], 0) * inv - mean_a[exact] * mean_b[exact]
    with np.errstate(divide="ignore", invalid="ignore"):
        sac = cov / den
    sac[zero | ~np.isfinite(sac)] = 0.0
    if redo.any():
        # Ill-conditioned lags (nearly constant parts): recompute directly, lag by lag, for all maps
        # flagged at that lag, from the unshifted map.
        flat = sac.reshape(k, -1)
        red = redo.reshape(k, -1)
        for lag in np.flatnonzero(red.any(axis=0)):
            dx, col = divmod(int(lag), m)
            who = np.flatnonzero(red[:, lag])
            sa, sb = _overlap_slices(n, dx, col - (n - 1))
            flat[who, lag] = _pearson_parts(x0[:, sa[0], sa[1]][who], x0[:, sb[0], sb[1]][who])
    return sac, int(exact.size)


def _full_from_half(half: np.ndarray) -> np.ndarray:
    """(k, 2N−1, 2N−1) SAC from its dx >= 0 half, by sac(−d) = sac(d)."""
    k, n, m = half.shape
    out = np.empty((k, m, m))
    out[:, n - 1 :] = half
    out[:, : n - 1] = half[:, :0:-1, ::-1]
    return out


def autocorrelogram(rate_maps: np.ndarray) -> np.ndarray:
    """Batched SAC (n, 2N−1, 2N−1) of (n, N, N) maps; same definition as :func:`autocorrelogram_reference`.

    Entry [N−1+dx, N−1+dy] is lag (dx, dy); the SAC is symmetric under (dx, dy) -> (−dx, −dy).
    """
    x0 = _as_maps(rate_maps)
    m = 2 * x0.shape[1] - 1
    if not x0.shape[0]:
        return np.zeros((0, m, m))
    step = _chunk_maps(x0.shape[0], x0.shape[1])
    return np.concatenate([_full_from_half(_sac_half(x0[i : i + step])[0]) for i in range(0, x0.shape[0], step)])


@lru_cache(maxsize=8)
def _half_ring_geometry(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Half-table indices (dx·(2N−1) + N−1+dy) of the ring bins with dx > 0 or (dx = 0, dy > 0), sorted by
    distance, and the ten ring sizes on that half.

    Ring k holds 0.2·N < dist <= outer_k·N; the rings are point-symmetric and exclude the centre, so each
    is exactly twice its half and every ring mean and correlation equals that of its half. All rings share
    the inner radius, so after sorting by distance ring k is the first ``sizes[k]`` points.
    """
    m = 2 * n - 1
    off = np.arange(m) - (n - 1)
    dx, dy = np.meshgrid(off, off, indexing="ij")
    dist = np.sqrt(dx**2 + dy**2).ravel()
    half = ((dx > 0) | ((dx == 0) & (dy > 0))).ravel()
    masks = np.stack([(dist > RING_INNER * n) & (dist <= outer * n) for outer in RING_OUTERS])
    support = np.flatnonzero(masks.any(axis=0) & half)
    points = support[np.argsort(dist[support], kind="stable")]
    sizes = (masks & half).sum(axis=1)
    # The prefix property relies on nested rings, the halving on symmetric ones; check both.
    assert all(np.array_equal(np.sort(points[:s]), np.flatnonzero(mk & half)) for s, mk in zip(sizes, masks))
    assert np.array_equal(2 * sizes, masks.sum(axis=1))
    return points - (n - 1) * m, sizes


@lru_cache(maxsize=8)
def _prefilter_matrix(m: int) -> np.ndarray:
    """(m, m) matrix of the cubic-spline prefilter along one axis, as ``rotate`` applies it (mode "constant").

    ``spline_filter1d`` is linear, so filtering the identity gives its matrix exactly (to rounding).
    """
    return ndi.spline_filter1d(np.eye(m), 3, axis=0, mode="constant", output=np.float64)


@lru_cache(maxsize=8)
def _rotation_operator(n: int) -> sparse.csr_matrix:
    """Sparse (n_angles·P, N·(2N−1)) map from the half table of spline coefficients to the rotated SAC at the
    P half-ring points (rows: angle-major).

    Extracted from ``scipy.ndimage.affine_transform(prefilter=False)`` with rotate's own matrix and offset,
    so edge handling is scipy's by construction. Each output reads a 4×4 block of coefficients whose rows
    (and columns) lie in a window of 4 consecutive indices (edge mirroring stays inside it), so 16 probe
    images with ones on the lattice (a + 4i, b + 4j) isolate every weight exactly. Coefficients of a
    point-symmetric SAC are point-symmetric, so a weight on row dx < 0 is moved to the mirrored entry.
    """
    m = 2 * n - 1
    points, _ = _half_ring_geometry(n)
    flat = points + (n - 1) * m
    pr, pc = np.divmod(flat, m)
    rows, cols, vals = [], [], []
    for ia, angle in enumerate(ANGLES):
        rot, offset = _rotation_affine(m, angle)
        coords = rot @ np.stack([pr, pc]).astype(np.float64) + offset[:, None]
        # First index of the 4-wide window (clipped into the array; mirrored edge taps stay inside).
        lo = np.clip(np.floor(coords).astype(np.int64) - 1, 0, m - 4)
        for a in range(4):
            for b in range(4):
                probe = np.zeros((m, m))
                probe[a::4, b::4] = 1.0
                out = ndi.affine_transform(
                    probe, rot, offset, order=3, mode="constant", cval=0.0, prefilter=False
                ).ravel()[flat]
                nz = np.flatnonzero(out)
                r = lo[0, nz] + (a - lo[0, nz]) % 4
                c = lo[1, nz] + (b - lo[1, nz]) % 4
                neg = r < n - 1
                r, c = np.where(neg, m - 1 - r, r), np.where(neg, m - 1 - c, c)
                rows.append(ia * points.size + nz)
                cols.append((r - (n - 1)) * m + c)
                vals.append(out[nz])
    op = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(ANGLES) * points.size, n * m),
    )
    op.sum_duplicates()
    return op


@lru_cache(maxsize=8)
def _ring_operators(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(10, P) 0/1 matrix summing the half-ring points of each ring, and the dense (n_angles·10, N·(2N−1))
    matrix giving each ring's sum of rotated values straight from the coefficients."""
    points, sizes = _half_ring_geometry(n)
    prefix = (np.arange(points.size)[None, :] < sizes[:, None]).astype(np.float64)
    op = _rotation_operator(n)
    p = points.size
    prefix_op = sparse.csr_matrix(prefix)
    ring_sum = np.concatenate([(prefix_op @ op[i * p : (i + 1) * p]).toarray() for i in range(len(ANGLES))])
    return prefix, ring_sum


def _scores_from_half(half: np.ndarray, min_max: bool) -> tuple[np.ndarray, np.ndarray]:
    """Grid scores from half SACs (k, N, 2N−1) (SPEC §4 steps 2–4)."""
    k, n, m = half.shape
    sac = np.ascontiguousarray(half.transpose(1, 2, 0))  # (N, m, k)
    # Spline prefilter along dy then dx (what rotate does before interpolating), as two matrix products;
    # the half filtered along dy is mirrored for the dx pass (the filter commutes with the reversal).
    bm = _prefilter_matrix(m)
    t_half = np.matmul(bm, sac)
    t_full = np.empty((m, m, k))
    t_full[n - 1 :] = t_half
    t_full[: n - 1] = t_half[:0:-1, ::-1]
    coeff = (bm[n - 1 :] @ t_full.reshape(m, m * k)).reshape(n * m, k)
    points, sizes = _half_ring_geometry(n)
    prefix, ring_sum = _ring_operators(n)
    rotated = (_rotation_operator(n) @ coeff).reshape(len(ANGLES), points.size, k)
    # Ring statistics per map (column), on z = SAC − s with s the SAC's mean over the largest ring, which
    # keeps the one-pass sums below small (a ramp's SAC is ≈ 1 everywhere); the variance, the
    # denominator, is computed two-pass. corr does not change when s is added back: see below.
    z = sac.reshape(n * m, k)[points]
    z -= z.mean(axis=0)
    area = sizes[:, None].astype(np.float64)
    mean = (prefix @ z) / area  # (10, k)
    var = np.empty((len(sizes), k))
    for r, a in enumerate(sizes):
        dev = z[:a] - mean[r]
        var[r] = np.einsum("pk,pk->k", dev, dev) / a
    var += VAR_EPS
    cross = np.empty((len(ANGLES), len(sizes), k))  # Σ z·rot / A, accumulated ring by ring
    acc = np.zeros((len(ANGLES), k))
    for r, (a, b) in enumerate(zip(np.r_[0, sizes[:-1]], sizes)):
        acc += np.einsum("tpk,pk->tk", rotated[:, a:b], z[a:b])
        cross[:, r] = acc / b
    total = (ring_sum @ coeff).reshape(len(ANGLES), len(sizes), k) / area  # Σ rot / A
    # With C = z − m on the ring: Σ C·(rot − s − m)/A = Σ z·rot/A − m·Σ rot/A (Σ C = 0, A·m = Σ z).
    corr = (cross - mean * total) / var
    c = dict(zip(ANGLES, corr))
    if min_max:
        s60 = np.minimum(c[60], c[120]) - np.maximum(np.maximum(c[30], c[90]), c[150])
    else:
        s60 = (c[60] + c[120]) / 2 - (c[30] + c[90] + c[150]) / 3
    s90 = c[90] - (c[45] + c[135]) / 2
    return s60.max(axis=0), s90.max(axis=0)


def _cuda_available() -> bool:
    """True when torch is installed and sees a CUDA device.

    torch is not imported on a machine without an NVIDIA driver (the import alone takes about a second,
    and the scoring environment may not have torch at all).
    """
    if "torch" not in sys.modules:
        if importlib.util.find_spec("torch") is None:
            return False
        if not (os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")):
            return False
    import torch

    return bool(torch.cuda.is_available())


def _torch_device(device: str) -> str | None:
    """The torch device that ``device`` asks for, or None for the numpy path."""
    if device == "auto":
        return "cuda" if _cuda_available() else None
    if device == "cpu":
        return None
    if device == "cuda" or device.startswith("cuda:"):
        if not _cuda_available():
            raise ValueError(f"grid scores: device={device!r} was requested but torch sees no CUDA device")
        return device
    raise ValueError(f"grid scores: device={device!r} is invalid: expected 'auto', 'cpu', 'cuda' or 'cuda:N'")


def grid_scores(
    rate_maps: np.ndarray, min_max: bool = True, *, threads: int = 1, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """60° and 90° grid scores of (n, N, N) rate maps (NaN = unvisited bin), float64 arrays (n,).

    Exactly the definition in the module docstring (SPEC §4); ``min_max`` selects the NFL (True) or
    DeepMind/Sorscher (False) 60° score. A constant or all-NaN map scores exactly (0, 0).

    ``device``: "auto" scores on the GPU (:mod:`pathint.scores_torch`) when torch sees one, else here with
    numpy; "cpu" always uses numpy; "cuda"/"cuda:N" insists on the GPU. ``threads``: numpy path only, the
    number of chunks of maps scored at the same time (numpy, scipy and BLAS release the GIL; BLAS itself
    should then run single-threaded, as it does in the pipeline, where Snakemake sets
    OPENBLAS_NUM_THREADS to the rule's threads).
    """
    s60, s90, _ = _grid_scores(rate_maps, min_max, threads, device, keep_sac=False)
    return s60, s90


def grid_scores_with_sac(
    rate_maps: np.ndarray, min_max: bool = True, *, threads: int = 1, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`grid_scores` and the SACs (n, 2N−1, 2N−1) they came from (for :func:`grid_period_orientation`)."""
    return _grid_scores(rate_maps, min_max, threads, device, keep_sac=True)


def _grid_scores(
    rate_maps: np.ndarray, min_max: bool, threads: int, device: str, keep_sac: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if threads < 1:
        raise ValueError(f"grid scores: threads must be >= 1, got {threads}")
    torch_device = _torch_device(device)
    if torch_device is not None:
        from .scores_torch import grid_scores_torch

        out = grid_scores_torch(rate_maps, min_max, device=torch_device, keep_sac=keep_sac)
        return out if keep_sac else (*out, None)
    maps = _as_maps(rate_maps)
    n = maps.shape[1]
    step = _chunk_maps(maps.shape[0], n, threads)
    chunks = [slice(i, i + step) for i in range(0, maps.shape[0], step)]

    def score(sl: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        half = _sac_half(maps[sl])[0]
        return (*_scores_from_half(half, min_max), _full_from_half(half) if keep_sac else None)

    if threads > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(score, chunks))
    else:
        parts = [score(sl) for sl in chunks]
    if not parts:
        return np.empty(0), np.empty(0), np.zeros((0, 2 * n - 1, 2 * n - 1)) if keep_sac else None
    sac = np.concatenate([p[2] for p in parts]) if keep_sac else None
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), sac


# --------------------------------------------------------------------------------------------------
# grid period and orientation


def grid_period_orientation(
    rate_maps: np.ndarray, bin_size_m: float, *, sac: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Grid period (metres) and orientation (degrees in [0, 60)) of each (N, N) map, from its SAC.

    Peaks are SAC local maxima (≥ all 8 neighbours, value > 0) other than the centre. The 6 peaks nearest
    the centre (ties broken by scan order) are the first lattice ring of a grid: period = their mean
    distance × ``bin_size_m``; orientation = circular mean of their angles modulo 60°, angles measured
    from the first map axis (x) towards the second (y), i.e. the angle of the lattice direction closest
    to the x axis (counter-clockwise). Maps with fewer than 6 peaks get NaN for both. ``sac``: the maps'
    SACs if already computed (:func:`grid_scores_with_sac`).
    """
    if not bin_size_m > 0:
        raise ValueError(f"bin_size_m must be > 0, got {bin_size_m}")
    if sac is None:
        sac = autocorrelogram(rate_maps)
    elif sac.shape != (len(rate_maps), 2 * np.shape(rate_maps)[-1] - 1, 2 * np.shape(rate_maps)[-1] - 1):
        raise ValueError(f"sac must have shape (n, 2N-1, 2N-1) for maps {np.shape(rate_maps)}, got {sac.shape}")
    k, m, _ = sac.shape
    c = (m - 1) // 2
    local_max = sac == ndi.maximum_filter(sac, size=(1, 3, 3), mode="constant", cval=-np.inf)
    local_max &= sac > 0
    local_max[:, c, c] = False
    period = np.full(k, np.nan)
    orientation = np.full(k, np.nan)
    for u in range(k):
        rows, cols = np.nonzero(local_max[u])
        if rows.size < 6:
            continue
        dx, dy = rows - c, cols - c
        dist = np.hypot(dx, dy)
        near = np.argsort(dist, kind="stable")[:6]
        period[u] = dist[near].mean() * bin_size_m
        # Angles modulo 60° averaged on the circle (×6 maps the 60° period onto 360°).
        theta = np.arctan2(dy[near], dx[near]) * 6.0
        mean = np.arctan2(np.sin(theta).mean(), np.cos(theta).mean()) / 6.0
        deg = np.degrees(mean) % 60.0
        orientation[u] = 0.0 if deg >= 60.0 else deg  # -1e-15 % 60 rounds to 60.0
    return period, orientation


# --------------------------------------------------------------------------------------------------
# participation ratios


def participation_ratio(x: np.ndarray, max_samples: int | None = None) -> float:
    """(Σλ)² / Σλ² of the eigenvalues λ of the covariance of ``x`` (samples × units), a float.

    Σλ = trace and Σλ² = squared Frobenius norm of the covariance, so no eigendecomposition is needed; the
    Gram matrix of the smaller side has the same non-zero eigenvalues. ``max_samples`` keeps an evenly
    strided subset of rows to bound the cost (S·U² flops). NaN if there is no variance.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"participation_ratio needs (samples >= 2, units) activity, got shape {x.shape}")
    if max_samples is not None and x.shape[0] > max_samples:
        x = x[:: int(np.ceil(x.shape[0] / max_samples))]
    xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    # float32 products for large matrices: the ratio needs ~6 digits, not 16.
    if xc.size > 4_000_000:
        xc = xc.astype(np.float32)
    gram = xc.T @ xc if xc.shape[1] <= xc.shape[0] else xc @ xc.T
    gram = gram.astype(np.float64)
    total = np.trace(gram)
    frob2 = np.sum(gram * gram)
    return float(total**2 / frob2) if frob2 > 0 else float("nan")


def smooth_rate_maps(rate_maps: np.ndarray, sigma_bins: float = 2.0) -> np.ndarray:
    """Gaussian-smoothed maps (σ in bins) by normalised convolution: NaN bins carry no weight.

    smoothed = G∗(map with NaN→0) / G∗(visited mask); bins with no visited bin within the kernel's reach
    (4σ) stay NaN.
    """
    maps = np.asarray(rate_maps, dtype=np.float64)
    valid = np.isfinite(maps)
    num = ndi.gaussian_filter(np.where(valid, maps, 0.0), (0, sigma_bins, sigma_bins), mode="constant")
    den = ndi.gaussian_filter(valid.astype(np.float64), (0, sigma_bins, sigma_bins), mode="constant")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 1e-12, num / den, np.nan)


def ratemap_participation_ratio(rate_maps: np.ndarray, sigma_bins: float = 2.0) -> float:
    """Participation ratio of (U, N, N) rate maps smoothed with a Gaussian of ``sigma_bins``.

    Samples are the spatial bins, units the maps: (Σλ)²/Σλ² of the U×U covariance across bins. Bins
    that are NaN in any smoothed map are dropped.
    """
    smooth = smooth_rate_maps(rate_maps, sigma_bins)
    x = smooth.reshape(smooth.shape[0], -1).T
    x = x[np.isfinite(x).all(axis=1)]
    if x.shape[0] < 2:
        return float("nan")
    return participation_ratio(x)
