"""The CUDA path (SPEC §3): fused cuDNN kernels against the float64 equations, training, precision, resume.

Skipped where torch sees no GPU (CI and the project's CPU machines). On a GPU machine:
``python -m pytest tests/test_cuda.py -q`` (docs/performance.md, "GPU", says when it last ran and what it gave).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from test_models import ARCHS, inputs, make, reference
from test_training import silent, state_equal, tiny

from pathint.audit import CROSS_DEVICE_TOLERANCE, Comparison, _compare_arrays
from pathint.models import SimpleCell
from pathint.precision import device_precision
from pathint.recording import record
from pathint.seeds import rng
from pathint.training import TrainRuntime, load_network, train
from pathint.trajectories import TrajectoryParams, generate

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")
GPU = dict(device="cuda", progress=False)


def _loss_and_grads(model, v, p0, gen=None):
    model.zero_grad()
    g, z = model(v, p0, gen)
    (z.sin().sum() + g.square().sum() + model.weight_decay_term() * 1e3).backward()
    return [g.detach(), z.detach()] + [p.grad.detach().clone() for p in model.parameters()]


def _assert_close_relative(got: list[torch.Tensor], want: list[torch.Tensor], rel: float) -> None:
    """Each tensor within ``rel`` of the reference's largest magnitude (gradients span many scales)."""
    for k, (a, b) in enumerate(zip(got, want)):
        a, b = a.double().cpu(), b.double().cpu()
        scale = b.abs().max().item() or 1.0
        err = (a - b).abs().max().item() / scale
        assert err < rel, f"tensor {k} {tuple(b.shape)}: max |error| {err:.2e} of its scale (limit {rel:g})"


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "linear"])
def test_cuda_fp32_forward_and_gradients_match_the_float64_equations(arch, act):
    """cuDNN where it applies (RNN relu/tanh, GRU/LSTM tanh), the loop otherwise; fp32 must mean fp32."""
    ref_model = make(arch, act, ng=64)
    v, p0 = inputs(b=16, t=20)
    ref_model.use_fused = False
    want = _loss_and_grads(ref_model, v, p0)
    model = copy.deepcopy(ref_model).float().to(CUDA)
    model.use_fused = True
    with device_precision(CUDA, "fp32"):
        got = _loss_and_grads(model, v.float().to(CUDA), p0.float().to(CUDA))
    _assert_close_relative(got, want, 2e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_cuda_fused_path_with_dropout_equals_the_loop_on_the_same_masks(arch):
    act = "relu" if arch in ("RNN", "SRNN") else "tanh"
    model = make(arch, act, ng=64, dtype=torch.float32, input_dropout=0.3, recurrent_dropout=0.4).to(CUDA)
    v, p0 = (t.float().to(CUDA) for t in inputs(b=16, t=20))
    runs = []
    with device_precision(CUDA, "fp32"):
        for fused in (True, False):
            model.use_fused = fused
            runs.append(_loss_and_grads(model, v, p0, torch.Generator(device=CUDA).manual_seed(5)))
    _assert_close_relative(runs[0], runs[1], 2e-5)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_cudnn_rnn_kernel_is_used_and_equals_the_custom_recurrence_on_cuda(act):
    """In float64, so that the comparison is exact to rounding: in float32 at Ng 256 the two kernels' sums
    (different order) drift apart by ~5e-4 of the encoder gradient's scale over 20 expanding relu steps."""
    model = make("RNN", act, ng=256).to(CUDA)
    v, p0 = (t.to(CUDA) for t in inputs(b=64, t=20))
    runs = []
    for backend in ("auto", "custom"):
        SimpleCell.backend = backend
        try:
            runs.append(_loss_and_grads(model, v, p0))
        finally:
            SimpleCell.backend = "auto"
    assert model.cell._torch_ok(v, None)  # "auto" on CUDA took torch.rnn_relu / rnn_tanh
    _assert_close_relative(runs[0], runs[1], 1e-12)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_trains_on_cuda_and_loads_on_the_cpu(arch, tmp_path):
    act = "relu" if arch in ("RNN", "SRNN") else "tanh"
    cfg = tiny(architecture=arch, activation=act, n_steps=60, learning_rate=1e-2, input_dropout=0.1, recurrent_dropout=0.1)
    res = train(cfg, tmp_path, TrainRuntime(log_every=10, **GPU), log=silent)
    assert res.status == "ok" and res.device.startswith("cuda")
    losses = [r["loss"] for r in res.log_rows]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses
    model, readout, _, meta = load_network(tmp_path / "model.pt")  # onto the CPU
    assert meta["device"] == f"cuda ({torch.cuda.get_device_name()})" and meta["precision"] == "fp32"
    assert all(p.device.type == "cpu" for p in model.parameters())
    gpu_model, gpu_readout, _, _ = load_network(tmp_path / "model.pt", device=CUDA)
    g = torch.Generator().manual_seed(2)
    v, x0 = 0.02 * torch.randn(8, 10, 2, generator=g), torch.rand(8, 2, generator=g) - 0.5
    with torch.no_grad(), device_precision(CUDA, "fp32"):
        on_gpu = gpu_model(v.to(CUDA), gpu_readout.encode(x0.to(CUDA)))
    with torch.no_grad():
        on_cpu = model(v, readout.encode(x0))
    _assert_close_relative(list(on_gpu), list(on_cpu), 1e-5)


def test_cuda_training_is_deterministic_by_seed_and_resumes_exactly(tmp_path):
    cfg = tiny(n_steps=17, n_grid=64, batch_size=32, input_dropout=0.3, recurrent_dropout=0.3)
    rt = TrainRuntime(log_every=3, checkpoint_every=5, **GPU)
    train(cfg, tmp_path / "a", rt, log=silent)
    train(cfg, tmp_path / "b", rt, log=silent)
    assert train(cfg, tmp_path / "r", rt, log=silent, stop_after=13).status == "stopped"
    assert train(cfg, tmp_path / "r", rt, log=silent).resumed_from == 10
    a, b, r = (torch.load(tmp_path / d / "model.pt", weights_only=True)["state_dict"] for d in "abr")
    assert state_equal(a, b), "two CUDA runs of one seed differ"
    assert state_equal(a, r), "the resumed CUDA run differs from the uninterrupted one"


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_reduced_precisions_train_are_recorded_and_restore_the_switches(precision, tmp_path):
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    cfg = tiny(n_grid=128, n_place=64, batch_size=64, n_steps=40, learning_rate=3e-3)
    res = train(cfg, tmp_path, TrainRuntime(precision=precision, log_every=10, **GPU), log=silent)
    assert res.status == "ok" and np.isfinite(res.final_loss)
    assert res.log_rows[-1]["loss"] < res.log_rows[0]["loss"]
    assert torch.load(tmp_path / "model.pt", weights_only=True)["precision"] == precision
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_recording_on_the_gpu_matches_the_cpu_within_the_audit_tolerance(tmp_path):
    """``pathint audit`` re-runs a GPU network's record stage on the CPU and compares with CROSS_DEVICE_TOLERANCE."""
    cfg = tiny(n_grid=128, n_place=64, batch_size=64, n_steps=30, learning_rate=3e-3)
    train(cfg, tmp_path, TrainRuntime(**GPU), log=silent)
    traj = generate(rng(0, "cuda-eval"), 300, 50, TrajectoryParams())
    recs = [record(*load_network(tmp_path / "model.pt", device=d)[:2], traj, device=d, batch_size=100) for d in (CUDA, "cpu")]
    cmp = Comparison("record")
    for name in ("activations", "decoded"):
        _compare_arrays(name, getattr(recs[0], name), getattr(recs[1], name), CROSS_DEVICE_TOLERANCE, cmp)
    assert cmp.ok, cmp.differences
