"""Models (SPEC §3): architectures against independent step-by-step equations, fast paths, init, decay, dropout."""

from __future__ import annotations

import math

import pytest
import torch

from pathint.config import NetworkConfig
from pathint.errors import ConfigError
from pathint.models import SimpleCell, _SimpleRecurrence, build_model, keras_init

ARCHS = ("RNN", "SRNN", "GRU", "UGRNN", "LSTM")
ACTS = ("relu", "tanh", "sigmoid", "linear")
PHI = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda x: x}


def make(arch="RNN", act="relu", ng=12, n_out=6, seed=0, dtype=torch.float64, **kw):
    cfg = NetworkConfig(architecture=arch, activation=act, n_grid=ng, n_place=n_out, **kw)
    return build_model(cfg, n_out, torch.Generator().manual_seed(seed)).to(dtype)


def inputs(b=3, t=7, n_out=6, seed=1, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(b, t, 2, generator=g, dtype=dtype), torch.randn(b, n_out, generator=g, dtype=dtype)


def reference(model, v, p0):
    """The SPEC §3 equations written out one time step at a time, straight from the parameters."""
    sd = {k: p for k, p in model.named_parameters()}
    phi = PHI[model.activation]
    lin = lambda x, w, b=None: x @ w.T + (0 if b is None else b)  # noqa: E731
    arch = model.architecture
    if arch == "RNN":
        h = lin(p0, sd["encoder.weight"])
        hs = []
        for t in range(v.shape[1]):
            h = phi(lin(v[:, t], sd["cell.weight_ih"]) + lin(h, sd["cell.weight_hh"]))
            hs.append(h)
        g = torch.stack(hs, 1)
        return g, lin(g, sd["decoder.weight"])
    h = lin(p0, sd["encoder.weight"], sd["encoder.bias"])
    c = lin(p0, sd["encoder_c.weight"], sd["encoder_c.bias"]) if arch == "LSTM" else None
    n = model.n_grid
    hs = []
    for t in range(v.shape[1]):
        u = lin(v[:, t], sd["input_map.weight"], sd["input_map.bias"])
        wi, wh = sd["cell.weight_ih"], sd["cell.weight_hh"]
        if arch == "SRNN":
            h = phi(u @ wi.T + h @ wh.T)
        elif arch == "GRU":  # Keras reset_after=True; torch block order (r, z, n)
            bi, bh = sd["cell.bias_ih"], sd["cell.bias_hh"]
            r = torch.sigmoid(u @ wi[:n].T + bi[:n] + h @ wh[:n].T + bh[:n])
            z = torch.sigmoid(u @ wi[n : 2 * n].T + bi[n : 2 * n] + h @ wh[n : 2 * n].T + bh[n : 2 * n])
            cand = phi(u @ wi[2 * n :].T + bi[2 * n :] + r * (h @ wh[2 * n :].T + bh[2 * n :]))
            h = z * h + (1 - z) * cand
        elif arch == "UGRNN":  # [a_g, a_c] = W [u, h] + b; gate = σ(a_g + 1)
            W = torch.cat([wi, wh], dim=1)  # (2n, 2n) acting on [u, h]
            a = torch.cat([u, h], dim=1) @ W.T + sd["cell.bias"]
            gate = torch.sigmoid(a[:, :n] + 1.0)
            h = gate * h + (1 - gate) * phi(a[:, n:])
        elif arch == "LSTM":  # Keras order (i, f, c, o), one bias
            a = u @ wi.T + h @ wh.T + sd["cell.bias"]
            i, f, cc, o = (a[:, k * n : (k + 1) * n] for k in range(4))
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * phi(cc)
            h = torch.sigmoid(o) * phi(c)
        hs.append(h)
    hseq = torch.stack(hs, 1)
    g = phi(lin(hseq, sd["dense.weight"], sd["dense.bias"]))
    return g, lin(g, sd["decoder.weight"], sd["decoder.bias"])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("act", ACTS)
def test_forward_matches_spec_equations_both_paths(arch, act):
    model = make(arch, act)
    v, p0 = inputs()
    g_ref, z_ref = reference(model, v, p0)
    for fused in (True, False):
        model.use_fused = fused
        g, z = model(v, p0)
        assert g.shape == (3, 7, 12) and z.shape == (3, 7, 6)
        torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(z, z_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dropout", [False, True])
def test_fast_path_gradients_equal_step_by_step(arch, act, dropout):
    """The fused kernels / hand-written backward give the autograd-through-the-loop gradients."""
    kw = dict(input_dropout=0.3, recurrent_dropout=0.4) if dropout else {}
    model = make(arch, act, **kw)
    v, p0 = inputs()
    grads = []
    for fused in (True, False):
        model.use_fused = fused
        model.zero_grad()
        g, z = model(v, p0, torch.Generator().manual_seed(3))
        (z.sin().sum() + g.square().sum() + model.weight_decay_term() * 1e3).backward()
        grads.append([g.detach()] + [p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("arch", ["RNN", "SRNN", "GRU", "LSTM"])
def test_fast_path_float32_matches_float64_reference(arch):
    model = make(arch, "tanh", ng=64, dtype=torch.float32)
    v, p0 = inputs(b=8, t=20, dtype=torch.float32)
    g, z = model(v, p0)
    g_ref, z_ref = reference(model.double(), v.double(), p0.double())
    torch.testing.assert_close(g.double(), g_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(z.double(), z_ref, rtol=1e-4, atol=1e-5)


def test_torch_fused_rnn_kernel_equals_custom_recurrence():
    """``torch.rnn_relu`` (used on CUDA) and the CPU hand-written recurrence agree, values and gradients."""
    model = make("RNN", "relu")
    v, p0 = inputs()
    out = []
    for backend in ("torch", "custom"):
        SimpleCell.backend = backend
        try:
            model.zero_grad()
            g, z = model(v, p0)
            z.square().sum().backward()
            out.append([g.detach()] + [p.grad.clone() for p in model.parameters()])
        finally:
            SimpleCell.backend = "auto"
    for a, b in zip(*out):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dropout", [False, True])
def test_custom_recurrence_backward_passes_gradcheck_for_any_incoming_gradient_layout(act, dropout):
    """The hand-written backward reads the incoming gradient one time block at a time: it must also be
    right when that gradient is a stride-0 expansion (``.sum()``) or a transposed layout."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, 2, generator=g, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 10, generator=g, dtype=torch.float64, requires_grad=True)
    w_ih = torch.randn(10, 2, generator=g, dtype=torch.float64, requires_grad=True)
    w_hh = (0.3 * torch.randn(10, 10, generator=g, dtype=torch.float64)).requires_grad_()
    mask = (torch.rand(4, 10, generator=g) > 0.3).double() if dropout else None

    def summed(*args):
        return _SimpleRecurrence.apply(*args, mask, act).sum()

    def batch_major_squares(*args):
        return _SimpleRecurrence.apply(*args, mask, act).transpose(0, 1).square().sum()

    for fn in (summed, batch_major_squares):
        assert torch.autograd.gradcheck(fn, (x, h0, w_ih, w_hh))


def test_rnn_has_no_biases_and_three_layer_parameters():
    rnn = dict(make("RNN").named_parameters())
    assert set(rnn) == {"encoder.weight", "cell.weight_ih", "cell.weight_hh", "decoder.weight"}
    lstm = dict(make("LSTM", ng=5).named_parameters())
    assert lstm["cell.weight_hh"].shape == (20, 5) and lstm["cell.bias"].shape == (20,)
    assert {"encoder_c.weight", "input_map.bias", "dense.weight", "decoder.bias"} <= set(lstm)
    # forget gate bias 1, all other biases 0
    b = lstm["cell.bias"].detach()
    assert torch.all(b[5:10] == 1) and torch.all(b[:5] == 0) and torch.all(b[10:] == 0)
    for name in ("encoder.bias", "input_map.bias", "dense.bias", "decoder.bias"):
        assert torch.all(lstm[name] == 0)
    assert dict(make("GRU", ng=5).named_parameters())["cell.weight_hh"].shape == (15, 5)
    assert dict(make("UGRNN", ng=5).named_parameters())["cell.bias"].shape == (10,)


def test_initialisers_follow_keras():
    g = torch.Generator().manual_seed(0)
    w = keras_init((300, 200), "glorot_uniform", g)
    limit = math.sqrt(6 / 500)
    assert w.abs().max() <= limit and w.abs().max() > 0.98 * limit
    assert abs(w.std().item() - limit / math.sqrt(3)) < 0.02 * limit
    wn = keras_init((300, 200), "glorot_normal", g)
    std = math.sqrt(2 / 500)
    assert abs(wn.std().item() - std) < 0.03 * std  # the 0.8796 factor restores the std after truncation
    assert wn.abs().max() <= 2 * std / 0.87962566103423978 + 1e-7
    q = keras_init((64, 192), "orthogonal", g)  # Keras shape of a 3-gate recurrent kernel
    torch.testing.assert_close(q @ q.T, torch.eye(64), atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match="initializer"):
        keras_init((3, 3), "he_normal", g)


@pytest.mark.parametrize("init", ["glorot_uniform", "glorot_normal", "orthogonal"])
def test_recurrent_initializer_applies_to_recurrent_matrix_only(init):
    model = make("RNN", ng=32, initializer=init, dtype=torch.float32)
    w = model.recurrent_weight().detach()
    is_orth = torch.allclose(w @ w.T, torch.eye(32), atol=1e-5)
    assert is_orth == (init == "orthogonal")
    enc = model.encoder.weight.detach()
    assert enc.abs().max() <= math.sqrt(6 / (32 + 6))  # encoder stays glorot_uniform


def test_initialisation_uses_only_the_passed_generator():
    state = torch.get_rng_state()
    a = make("LSTM", seed=5)
    torch.manual_seed(123)  # the global RNG must not matter
    b = make("LSTM", seed=5)
    c = make("LSTM", seed=6)
    for (n, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb), n
        if "bias" not in n:
            assert not torch.equal(pa, pc), n
    torch.set_rng_state(state)


def test_weight_decay_on_recurrent_matrix_without_half():
    model = make("RNN", weight_decay=1e-3)
    expected = 1e-3 * model.cell.weight_hh.detach().pow(2).sum()
    torch.testing.assert_close(model.weight_decay_term().detach(), expected)
    model.weight_decay_term().backward()
    torch.testing.assert_close(model.cell.weight_hh.grad, 2e-3 * model.cell.weight_hh.detach())
    assert model.encoder.weight.grad is None and model.cell.weight_ih.grad is None
    gru = make("GRU", weight_decay=1e-3)
    torch.testing.assert_close(gru.weight_decay_term().detach(), 1e-3 * gru.cell.weight_hh.detach().pow(2).sum())
    assert float(make("RNN", weight_decay=0.0).weight_decay_term()) == 0.0


def test_ugrnn_weight_decay_quirk_penalises_the_bias():
    """NFL penalised ``weights[1]`` of the recurrent layer: the bias for their UGRNN cell (models doc)."""
    quirk = make("UGRNN", weight_decay=1e-2)
    with torch.no_grad():
        quirk.cell.bias.copy_(torch.linspace(-1, 1, quirk.cell.bias.numel()))
    quirk.weight_decay_term().backward()
    torch.testing.assert_close(quirk.cell.bias.grad, 2e-2 * quirk.cell.bias.detach())
    assert quirk.cell.weight_hh.grad is None
    fixed = make("UGRNN", weight_decay=1e-2, ugrnn_weight_decay_quirk=False)
    torch.testing.assert_close(fixed.weight_decay_term().detach(), 1e-2 * fixed.cell.weight_hh.detach().pow(2).sum())


@pytest.mark.parametrize("arch", ["RNN", "SRNN", "GRU", "UGRNN", "LSTM"])
def test_dropout_only_in_training_mode_and_from_the_generator(arch):
    drop = make(arch, "tanh", input_dropout=0.5, recurrent_dropout=0.5)
    plain = make(arch, "tanh")  # same seed: same weights
    v, p0 = inputs()
    drop.eval()
    g_eval, _ = drop(v, p0)  # no generator needed, no masks
    torch.testing.assert_close(g_eval, plain(v, p0)[0], rtol=0, atol=0)
    drop.train()
    with pytest.raises(ValueError, match="dropout_generator"):
        drop(v, p0)
    state = torch.get_rng_state()
    g1, _ = drop(v, p0, torch.Generator().manual_seed(1))
    g1b, _ = drop(v, p0, torch.Generator().manual_seed(1))
    g2, _ = drop(v, p0, torch.Generator().manual_seed(2))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG was not used
    assert torch.equal(g1, g1b)
    assert not torch.allclose(g1, g2) and not torch.allclose(g1, g_eval)


def test_input_dropout_mask_is_shared_over_time():
    model = make("RNN", "linear", input_dropout=0.5)
    model.train()
    x = torch.ones(4, 9, 2, dtype=torch.float64)
    in_mask, rec_mask = model._masks(x, torch.Generator().manual_seed(0))
    assert rec_mask is None and in_mask.shape == (4, 2)
    assert set(in_mask.unique().tolist()) <= {0.0, 2.0}


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ConfigError, match="architecture"):
        build_model(NetworkConfig(architecture="Transformer"), 4, torch.Generator())
    with pytest.raises(ConfigError, match="activation"):
        build_model(NetworkConfig(activation="gelu"), 4, torch.Generator())
    model = make()
    v, p0 = inputs()
    with pytest.raises(ValueError, match="velocity"):
        model(v[..., :1], p0)
    with pytest.raises(ValueError, match="init_code"):
        model(v, p0[:, :3])
