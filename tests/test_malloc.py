"""pathint.malloc: the training process reuses freed memory instead of page-faulting on it every step."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Minor page faults per training step (a DoG network of the default experiment's size), after warm-up.
# With glibc's defaults this machine measured 120 to 1,700 per step (varying from run to run), kept 0 to 40.
_PROBE = """
import resource, sys
sys.path.insert(0, {root!r})
from pathint.malloc import keep_freed_memory
kept = keep_freed_memory()
import torch
from pathint.config import NetworkConfig
from pathint.training import TrainRuntime, _Batches, init_network, make_optimizer, training_step
torch.set_num_threads(1)
cfg = NetworkConfig(n_grid=256, n_place=512, batch_size=100, seq_len=10, readout="difference_of_gaussians")
model, readout = init_network(cfg, "cpu")
opt = make_optimizer(cfg, model.parameters())
batches = _Batches(cfg, TrainRuntime(), torch.device("cpu"))
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for k in range(70):
    if k == 40:
        f = faults()
    training_step(model, readout, opt, *batches(k))
print(kept, (faults() - f) / 30)
"""


def _probe() -> tuple[bool, float]:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(root=str(ROOT))], capture_output=True, text=True, check=True)
    kept, per_step = out.stdout.split()
    return kept == "True", float(per_step)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_training_steps_reuse_freed_memory():
    kept, per_step = _probe()
    assert kept
    assert per_step < 100, f"{per_step:.0f} page faults per training step with freed memory kept"


def test_keep_freed_memory_is_a_no_op_off_glibc(monkeypatch):
    from pathint import malloc

    monkeypatch.setattr(malloc.platform, "libc_ver", lambda: ("", ""))
    assert malloc.keep_freed_memory() is False
