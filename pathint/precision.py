"""Float precision of the device's matrix products (SPEC §3: float32 unless TF32/bf16 is asked for).

torch's defaults are not "fp32" on a GPU: ``torch.backends.cudnn.allow_tf32`` is True out of the box, and
cuDNN's RNN kernels (used here for the RNN, GRU and LSTM on CUDA) then multiply in TF32 (10-bit mantissa),
so a run asked to be fp32 would silently differ from the CPU by ~1e-3 relative. Training and recording
therefore set both TF32 switches explicitly for the duration of the work and restore them afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from .errors import ConfigError
from .provenance import cpu_name

PRECISIONS = ("fp32", "tf32", "bf16")


def device_name(device: torch.device) -> str:
    """How provenance names a device, model included: "cuda (NVIDIA H100 80GB HBM3)", "cpu (AMD EPYC 7B13)".

    The audit expects bitwise equality only on the same model (``pathint.audit``)."""
    device = torch.device(device)
    return f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else cpu_name()


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"runtime precision={precision!r} is invalid: expected one of {list(PRECISIONS)}")
    return precision


@contextmanager
def device_precision(device: torch.device, precision: str = "fp32") -> Iterator[torch.autocast]:
    """Within the block, CUDA matrix products run in ``precision``; yields the autocast context to use.

    "fp32": IEEE float32 in cuBLAS and cuDNN (TF32 off in both). "tf32": TF32 in both. "bf16": TF32 off
    and a bfloat16 autocast (the yielded context; a disabled one otherwise). On the CPU nothing changes:
    its products are always float32.
    """
    check_precision(precision)
    device = torch.device(device)
    if device.type != "cuda":
        yield torch.autocast(device.type, enabled=False)
        return
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
