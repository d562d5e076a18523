"""The training benchmark's FLOP accounting (bench/bench_train_step.py) against the products torch runs.

The benchmark's percentage of the matmul peak is only as honest as its FLOP count: counting a product the
step does not perform would inflate it, and a second forward pass (the original code runs two) would show
up here as products the count does not credit.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from pipeline_utils import ROOT


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_train_step", ROOT / "bench" / "bench_train_step.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _inplace_addmm_flops(self_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    # FlopCounterMode knows addmm and mm but not the in-place addmm_ the CPU recurrence uses
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


@pytest.mark.parametrize("ng, n_place, b, t", [(48, 16, 6, 5), (32, 40, 4, 7)])
def test_step_flops_count_exactly_the_products_of_one_training_step(ng, n_place, b, t):
    bench = _bench_module()
    step = bench.make_step(ng, torch.device("cpu"), b=b, t=t, n_place=n_place)
    step()  # the first step allocates the optimiser state; count a later one
    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.addmm_: _inplace_addmm_flops})
    with counter:
        step()
    # products the benchmark does not credit as useful work: the 2-D input projection and its weight
    # gradient (K = 2), and the DoS targets' squared distances (K = 3, centre and surround: 2·Np columns)
    # for the B·T positions and the B start positions
    uncredited = 2 * (2 * b * t * 2 * ng) + 2 * (b * t + b) * 3 * (2 * n_place)
    assert counter.get_total_flops() - uncredited == bench.product_flops(ng, b, t, n_place)
    assert bench.step_flops(ng, b, t, n_place) == bench.product_flops(ng, b, t, n_place) + 12 * b * t * n_place
