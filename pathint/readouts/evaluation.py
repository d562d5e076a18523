"""Evaluation helpers on any readout: decoding error, spatial correlation of the code and its Fourier
amplitude (Fig. 4c)."""

from __future__ import annotations

from ._lazy import np, torch
from .base import Readout


def decoding_error_cm(readout: Readout, outputs: "torch.Tensor", positions: "torch.Tensor") -> float:
    """Mean Euclidean distance (cm) between decoded ``outputs`` [..., n_out] and ``positions`` [..., 2]."""
    decoded = readout.decode(outputs)
    pos = torch.as_tensor(positions).to(device=decoded.device, dtype=torch.float32)
    if pos.shape != decoded.shape:
        raise ValueError(f"positions {tuple(pos.shape)} do not match decoded positions {tuple(decoded.shape)}")
    return float(torch.linalg.vector_norm(decoded - pos, dim=-1).mean()) * 100.0


def spatial_correlation(readout: Readout, resolution: int, centred: bool = True) -> "np.ndarray":
    """Translation-invariant correlation kernel of the code (Fig. 4c), normalised to 1 at lag 0.

    The targets y_i(x) are evaluated at the centres of a ``resolution``^2 grid over the box (optionally
    centred: each unit's spatial mean removed). ``K(d) = sum_i mean_x y_i(x) y_i(x + d)``, the mean over
    the grid points x with x + d inside the box. Returns K on the ``resolution``^2 lags
    ``d = (j - resolution // 2) * h`` (h = box / resolution, first axis = x), so lag 0 is at index
    ``resolution // 2`` and the kernel spans one box width: pass ``readout.box_width`` to
    :func:`fourier_amplitude`.
    """
    N = int(resolution)
    if N < 4:
        raise ValueError(f"resolution must be >= 4, got {resolution}")
    xs = (np.arange(N) + 0.5) / N * readout.box_width - readout.box_width / 2
    ys = (np.arange(N) + 0.5) / N * readout.box_height - readout.box_height / 2
    grid = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1).astype(np.float32)
    Y = readout.encode(torch.from_numpy(grid)).cpu().numpy().astype(np.float64)  # (N, N, n_out)
    if centred:
        Y -= Y.mean(axis=(0, 1), keepdims=True)
    power = np.zeros((2 * N, N + 1))
    for start in range(0, Y.shape[-1], 64):  # bounded memory: 64 units per FFT
        F = np.fft.rfft2(Y[..., start : start + 64], s=(2 * N, 2 * N), axes=(0, 1))
        power += (F.real**2 + F.imag**2).sum(-1)
    ac = np.fft.irfft2(power, s=(2 * N, 2 * N))  # linear autocorrelation, lag k at index k mod 2N
    lags = np.arange(N) - N // 2
    ac = ac[np.ix_(lags % (2 * N), lags % (2 * N))]
    overlap = np.outer(N - np.abs(lags), N - np.abs(lags))
    K = ac / overlap
    return K / K[N // 2, N // 2]


def fourier_amplitude(
    corr: "np.ndarray", box_width: float, box_height: float | None = None
) -> tuple["np.ndarray", "np.ndarray", "np.ndarray"]:
    """Angular wavenumbers kx, ky (rad/m) and |FFT2(corr)| with zero frequency at the centre.

    ``corr`` is a kernel from :func:`spatial_correlation` spanning ``box_width`` (x, first axis) by
    ``box_height`` (default: the same) with lag 0 at index ``n // 2``.
    """
    corr = np.asarray(corr, dtype=np.float64)
    nx, ny = corr.shape
    box_height = box_width if box_height is None else box_height
    kx = np.fft.fftshift(2 * np.pi * np.fft.fftfreq(nx, d=box_width / nx))
    ky = np.fft.fftshift(2 * np.pi * np.fft.fftfreq(ny, d=box_height / ny))
    amp = np.fft.fftshift(np.abs(np.fft.fft2(np.fft.ifftshift(corr))))
    return kx, ky, amp
