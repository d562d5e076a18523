"""Device precision (pathint/precision.py): "fp32" really is IEEE float32 on CUDA, and the switches come back.

The switches are process-wide flags, so this runs on CPU-only machines too; tests/test_cuda.py checks the
numbers on a GPU (torch's defaults let cuDNN's RNN run in TF32: ~1e-3 relative error, measured there).
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from pathint.errors import ConfigError
from pathint.precision import device_name, device_precision


def switches() -> tuple[bool, bool]:
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@pytest.fixture
def torch_defaults():
    before = switches()
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True  # torch's own defaults
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("precision, inside", [("fp32", (False, False)), ("tf32", (True, True)), ("bf16", (False, False))])
def test_cuda_precision_sets_both_switches_and_restores_them(torch_defaults, precision, inside):
    # torch disables a CUDA autocast with a UserWarning where there is no CUDA; that is expected here
    no_cuda_bf16 = precision == "bf16" and not torch.cuda.is_available()
    warns = pytest.warns(UserWarning, match="CUDA is not available") if no_cuda_bf16 else contextlib.nullcontext()
    with warns, device_precision(torch.device("cuda"), precision) as autocast:
        assert switches() == inside
        if precision == "bf16":
            assert autocast.fast_dtype == torch.bfloat16  # enabled where CUDA exists
        else:
            assert not autocast._enabled
    assert switches() == (False, True)


def test_switches_are_restored_when_the_work_fails(torch_defaults):
    with pytest.raises(RuntimeError, match="boom"):
        with device_precision(torch.device("cuda"), "tf32"):
            raise RuntimeError("boom")
    assert switches() == (False, True)


def test_cpu_work_leaves_the_switches_alone(torch_defaults):
    with device_precision(torch.device("cpu"), "fp32") as autocast:
        assert switches() == (False, True) and not autocast._enabled


def test_bad_precision_is_named():
    with pytest.raises(ConfigError, match=r"precision='fp16' is invalid: expected one of \['fp32', 'tf32', 'bf16'\]"):
        with device_precision(torch.device("cpu"), "fp16"):
            pass


def test_device_name_includes_the_processor_model():
    name = device_name(torch.device("cpu"))
    assert name.startswith("cpu (") and name.endswith(")") and len(name) > len("cpu ()"), name
