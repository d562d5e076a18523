"""Recurrent path integrators (SPEC §3): the Sorscher RNN and the NFL three-layer SRNN, GRU, UGRNN, LSTM.

Every network maps velocities ``v (B,T,2)`` and the encoded start position ``p0 (B,n_out)`` to the recorded
layer ``g (B,T,Ng)`` and readout logits / predictions ``z (B,T,n_out)``.

- ``RNN`` (Sorscher et al. 2019): ``h0 = W_enc p0``; ``h_t = φ(W_in v_t + W_rec h_{t-1})``; ``z_t = W_out h_t``;
  no biases anywhere; ``g = h``.
- ``SRNN``, ``GRU``, ``UGRNN``, ``LSTM`` (NFL "three-layer"): ``h0 = Dense(p0)`` (bias); ``u_t = Dense(v_t)``
  (2 → Ng, bias); a recurrent cell over ``u``; ``g_t = φ(Dense(h_t))``; ``z_t = Dense(g_t)``.

Cells follow the Keras layers the NFL code used, written here from their documented equations:

- SRNN: Keras ``SimpleRNN(use_bias=False)``: ``h_t = φ(u_t + W_hh h_{t-1})`` (the bias lives in ``u``).
- GRU: Keras ``GRU`` with ``reset_after=True`` (the TF2 default), candidate nonlinearity φ::

      r = σ(W_ir u + b_ir + W_hr h + b_hr);  z = σ(W_iz u + b_iz + W_hz h + b_hz)
      n = φ(W_in u + b_in + r ⊙ (W_hn h + b_hn));  h' = z ⊙ h + (1 − z) ⊙ n

  This is exactly ``torch.gru`` when φ = tanh (torch applies the reset gate after the recurrent matmul, as
  Keras' ``reset_after`` does; both keep separate input and recurrent biases).
- LSTM: Keras ``LSTM(unit_forget_bias=True)``: one bias vector, forget-gate bias initialised to 1, candidate
  and output nonlinearity φ, gates σ. Equal to ``torch.lstm`` for φ = tanh when torch's second bias is 0.
- UGRNN (Collins et al. 2017): ``[a_g, a_c] = W [u_t, h_{t-1}] + b``; ``gate = σ(a_g + 1)``;
  ``h_t = gate ⊙ h_{t-1} + (1 − gate) ⊙ φ(a_c)``. No fused torch kernel exists; always the step loop.

Fused kernels (``torch.rnn_relu`` / ``rnn_tanh`` / ``gru`` / ``lstm``) are used only where their semantics are
identical (φ ∈ {relu, tanh} for RNN/SRNN, φ = tanh for GRU/LSTM, no recurrent dropout); otherwise a step loop
with the input projection of all time steps precomputed in one matmul. ``tests/test_models.py`` proves the
two paths agree with an independent step-by-step implementation of the equations above.

**Weight decay** (``weight_decay_term``): ``λ·Σ W_rec²`` (no ½) on the recurrent matrix only (all gates' recurrent
weights for GRU/LSTM/UGRNN, as Keras' ``recurrent_kernel``). **UGRNN quirk** (``ugrnn_weight_decay_quirk``,
default True, SPEC §8): the NFL code penalised ``layer.weights[1]`` for every architecture. For Keras'
SimpleRNN/GRU/LSTM that is the recurrent kernel, but NFL's custom UGRNN cell creates only two variables, one
combined ``[input; recurrent]`` kernel and then the bias, so ``weights[1]`` is the *bias* vector (gate and
candidate biases, 2·Ng values): the UGRNN's weight decay regularised its biases and no weight matrix. With the
quirk on we do the same (``λ·Σ b²``); with it off, the UGRNN's recurrent matrix is penalised like the others.

**Initialisation** (Keras conventions, all draws from the passed ``torch.Generator``): the recurrent matrix
(Keras shape ``(Ng, G·Ng)`` for G gates) uses ``cfg.initializer``; every other weight glorot_uniform; biases 0
except the LSTM forget gate (1). glorot_normal is Keras' truncated normal (std ``sqrt(2/(fan_in+fan_out))/0.8796``,
cut at 2 std). Deviation: NFL's UGRNN drew one glorot_uniform ``(2Ng, 2Ng)`` kernel and ignored the initializer
option; we initialise its input and recurrent blocks separately like the other cells.

**Dropout**: ``input_dropout`` masks the recurrent layer's inputs (``v_t`` for RNN, ``u_t`` otherwise) and
``recurrent_dropout`` masks ``h_{t-1}`` where it enters the recurrent matmul (the carried state is not masked),
one mask per sequence shared over time (Keras' variational dropout), inverted scaling ``1/(1-p)``. Masks are
drawn from the ``dropout_generator`` passed to ``forward`` and only in training mode.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import torch
from torch import Tensor, nn

from .config import NetworkConfig
from .errors import ConfigError

# The cells keep W_ih and W_hh as separate Parameters (Keras layout: per-matrix initialisers, decay on W_hh
# alone). cuDNN copies them into its flat buffer on every call (2·G·Ng² floats, microseconds on a GPU) and
# torch warns about that copy each time; the warning would fill every GPU training log.
warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk", module=__name__)

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "linear": lambda x: x,
}
ARCHITECTURES = ("RNN", "SRNN", "GRU", "UGRNN", "LSTM")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "orthogonal")


# ---------------------------------------------------------------------- initialisers (Keras conventions)
def keras_init(shape: tuple[int, int], kind: str, generator: torch.Generator) -> Tensor:
    """A ``(fan_in, fan_out)`` Keras-layout weight drawn from ``generator`` (CPU float32).

    glorot_uniform: U(±sqrt(6/(fan_in+fan_out))); glorot_normal: normal truncated at 2 std with
    std = sqrt(2/(fan_in+fan_out)) / 0.87962566 (Keras corrects for the truncation); orthogonal: Keras'
    QR construction with the sign fix, gain 1 (rows or columns orthonormal, whichever is fewer).
    """
    fan_in, fan_out = shape
    if kind == "glorot_uniform":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return (torch.rand(shape, generator=generator) * 2 - 1) * limit
    if kind == "glorot_normal":
        std = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978
        w = torch.empty(shape)
        nn.init.trunc_normal_(w, 0.0, 1.0, -2.0, 2.0, generator=generator)
        return w * std
    if kind == "orthogonal":
        rows, cols = shape
        a = torch.randn((max(rows, cols), min(rows, cols)), generator=generator, dtype=torch.float64)
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))  # unique (Haar-distributed) Q
        if rows < cols:
            q = q.T
        return q.to(torch.float32).contiguous()
    raise ConfigError(f"initializer={kind!r} is invalid: expected one of {list(INITIALIZERS)}")


def _dense_weight(n_in: int, n_out: int, generator: torch.Generator, kind: str = "glorot_uniform") -> Tensor:
    """Torch-layout ``(n_out, n_in)`` weight initialised as Keras' ``(n_in, n_out)`` kernel."""
    return keras_init((n_in, n_out), kind, generator).T.contiguous()


class Dense(nn.Module):
    """``y = x Wᵀ + b`` with a Keras glorot_uniform kernel and zero bias."""

    def __init__(self, n_in: int, n_out: int, generator: torch.Generator, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(_dense_weight(n_in, n_out, generator))
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


# ---------------------------------------------------------------------- dropout masks
def dropout_mask(shape: tuple[int, ...], p: float, like: Tensor, generator: torch.Generator | None) -> Tensor | None:
    """Inverted-dropout mask (values 0 or 1/(1-p)) from ``generator``; None when p == 0."""
    if p <= 0:
        return None
    if generator is None:
        raise ValueError("dropout is active in training mode but no dropout_generator was given (no global RNG is used)")
    keep = torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float32) >= p
    return (keep.to(device=like.device, dtype=like.dtype)) / (1.0 - p)


# ---------------------------------------------------------------------- recurrent cells
class _Cell(nn.Module):
    """A recurrent cell over a whole sequence. Torch layout: ``weight_ih (G·Ng, in)``, ``weight_hh (G·Ng, Ng)``."""

    gates = 1

    def __init__(self, n_in: int, n_hidden: int, activation: str, initializer: str, generator: torch.Generator):
        super().__init__()
        self.n_in, self.n_hidden, self.activation = n_in, n_hidden, activation
        self.phi = ACTIVATIONS[activation]
        g = self.gates
        self.weight_ih = nn.Parameter(_dense_weight(n_in, g * n_hidden, generator))
        self.weight_hh = nn.Parameter(_dense_weight(n_hidden, g * n_hidden, generator, initializer))

    def fused_ok(self, rec_mask: Tensor | None) -> bool:
        return False

    def fused(self, x: Tensor, state: tuple[Tensor, ...], rec_mask: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def input_projection(self, x: Tensor) -> Tensor:
        """``W_ih x_t (+ input bias)`` for all time steps at once: (B,T,G·Ng)."""
        return nn.functional.linear(x, self.weight_ih)

    def step(self, xp: Tensor, state: tuple[Tensor, ...], rec_mask: Tensor | None) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def loop(self, x: Tensor, state: tuple[Tensor, ...], rec_mask: Tensor | None) -> Tensor:
        """Step-by-step evaluation; returns the hidden states (B,T,Ng)."""
        xp = self.input_projection(x)
        outs = []
        for t in range(x.shape[1]):
            state = self.step(xp[:, t], state, rec_mask)
            outs.append(state[0])
        return torch.stack(outs, dim=1)

    def forward(self, x: Tensor, state: tuple[Tensor, ...], rec_mask: Tensor | None, use_fused: bool = True) -> Tensor:
        if use_fused and self.fused_ok(rec_mask):
            return self.fused(x, state, rec_mask)
        return self.loop(x, state, rec_mask)


def _masked(h: Tensor, mask: Tensor | None) -> Tensor:
    return h if mask is None else h * mask


def _activation_grad(kind: str, h: Tensor) -> Tensor | None:
    """φ'(a) for tanh and sigmoid expressed through the output h = φ(a), as a float factor (None for the
    identity). relu is not here: its backward masks the gradient with ``threshold_backward`` instead."""
    if kind == "tanh":
        return 1 - h * h
    if kind == "sigmoid":
        return h * (1 - h)
    if kind == "linear":
        return None
    raise ValueError(f"no output-expressed derivative for activation {kind!r}")


class _SimpleRecurrence(torch.autograd.Function):
    """``h_t = φ(W_ih x_t + W_hh (m ⊙ h_{t-1}))`` over a whole sequence with a hand-written backward.

    Returns the states **time-major** ``(T,B,N)`` (contiguous) so each step reads and writes one contiguous
    block in place: the input projection of all steps is one GEMM written straight into the state buffer
    and each step adds ``h_{t-1} W_hhᵀ`` onto it (``addmm_``, no copies). :class:`PathIntegrator` runs the
    head in the same order, and the training loss is taken time-major, so no (B,T,N) transpose is ever
    copied. The backward writes ``dL/da_t = φ'(a_t) ⊙ (g_t + da_{t+1} W_hh)`` step by step into a fresh
    buffer (``addmm`` with ``out=``, so the incoming gradient is never cloned as a whole), applying relu'
    with ``threshold_backward`` on the block that is still in cache; ``dW_hh`` is one ``(N×TB)@(TB×N)``
    GEMM instead of T small ones, and ``dW_ih`` is computed as ``(xᵀ da)ᵀ`` (the skinny ``daᵀ x`` form is
    ~6× slower on CPU). φ' is recovered from the stored outputs (relu, tanh, sigmoid, linear all allow it),
    so nothing but the states is kept.
    """

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, mask: Tensor | None, kind: str) -> Tensor:
        b, steps, n_in = x.shape
        n = w_hh.shape[0]
        xt = x.transpose(0, 1).reshape(steps * b, n_in)
        hs = x.new_empty((steps + 1, b, n))
        hs[0] = h0
        torch.mm(xt, w_ih.t(), out=hs[1:].view(steps * b, n))
        wt = w_hh.t()
        phi_ = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}.get(kind)
        for t in range(steps):
            out = hs[t + 1]
            out.addmm_(_masked(hs[t], mask), wt)
            if phi_ is not None:
                phi_(out)
        ctx.kind = kind
        ctx.save_for_backward(xt, hs, w_ih, w_hh, mask)
        return hs[1:]

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        xt, hs, w_ih, w_hh, mask = ctx.saved_tensors
        steps, b, n = grad_out.shape
        da = grad_out.new_empty((steps, b, n))  # dL/da_t, a = pre-activation
        relu = ctx.kind == "relu"
        # tanh/sigmoid: φ' for all steps at once, as a float factor (an in-place multiply is ~10× faster
        # than masked_fill_); relu: threshold_backward per step, ~2× faster than sign(h) and a multiply
        dphi = None if relu else _activation_grad(ctx.kind, hs[1:])
        for t in range(steps - 1, -1, -1):
            if t == steps - 1:
                da[t].copy_(grad_out[t])
            elif mask is None:
                torch.addmm(grad_out[t], da[t + 1], w_hh, out=da[t])
            else:
                torch.add(grad_out[t], (da[t + 1] @ w_hh).mul_(mask), out=da[t])
            if relu:
                torch.ops.aten.threshold_backward.grad_input(da[t], hs[t + 1], 0.0, grad_input=da[t])
            elif dphi is not None:
                da[t].mul_(dphi[t])
        grad_h0 = da[0] @ w_hh
        if mask is not None:
            grad_h0.mul_(mask)
        da2 = da.view(steps * b, n)
        grad_x = grad_w_ih = grad_w_hh = None
        if ctx.needs_input_grad[0]:
            grad_x = (da2 @ w_ih).view(steps, b, -1).transpose(0, 1)
        if ctx.needs_input_grad[2]:
            grad_w_ih = (xt.t() @ da2).t()
        if ctx.needs_input_grad[3]:
            grad_w_hh = da2.t() @ _masked(hs[:-1], mask).reshape(steps * b, n)
        return grad_x, grad_h0, grad_w_ih, grad_w_hh, None, None


class SimpleCell(_Cell):
    """``h_t = φ(W_ih x_t + W_hh h_{t-1})``, no bias (Sorscher's RNN and Keras SimpleRNN(use_bias=False)).

    Fast paths: on CUDA with φ ∈ {relu, tanh} and no recurrent dropout, torch's fused ``rnn_relu`` /
    ``rnn_tanh`` (cuDNN); otherwise :class:`_SimpleRecurrence`. On CPU at B 200 torch's ``rnn_relu`` is
    not faster (``bench/bench_train_step.py --compare-backends``: within the machine's noise at Ng 256,
    ×1.27 slower at Ng 1024 in one run), and the custom recurrence also covers sigmoid, linear and
    recurrent dropout.
    """

    #: "auto" (cuDNN on CUDA where exact, else the custom recurrence), "torch" or "custom"; for benchmarks.
    backend = "auto"

    def fused_ok(self, rec_mask: Tensor | None) -> bool:
        return True

    def _torch_ok(self, x: Tensor, rec_mask: Tensor | None) -> bool:
        if rec_mask is not None or self.activation not in ("relu", "tanh"):
            return False
        return self.backend == "torch" or (self.backend == "auto" and x.is_cuda)

    def fused(self, x: Tensor, state: tuple[Tensor, ...], rec_mask: Tensor | None = None) -> Tensor:
        if self._torch_ok(x, rec_mask):
            op = torch.rnn_relu if self.activation == "relu" else torch.rnn_tanh
            out, _ = op(x, state[0].unsqueeze(0), [self.weight_ih, self.weight_hh], False, 1, 0.0, self.training, False, True)
            return out
        hs = _SimpleRecurrence.apply(x, state[0], self.weight_ih, self.weight_hh, rec_mask, self.activation)
        return hs.transpose(0, 1)  # (B,T,N) view of time-major storage; PathIntegrator keeps that order

    def step(self, xp, state, rec_mask):
        (h,) = state
        return (self.phi(xp + nn.functional.linear(_masked(h, rec_mask), self.weight_hh)),)


class GRUCell(_Cell):
    """Keras GRU(reset_after=True); torch gate order (r, z, n) and separate input / recurrent biases."""

    gates = 3

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bias_ih = nn.Parameter(torch.zeros(3 * self.n_hidden))
        self.bias_hh = nn.Parameter(torch.zeros(3 * self.n_hidden))

    def fused_ok(self, rec_mask):
        return rec_mask is None and self.activation == "tanh"

    def fused(self, x, state, rec_mask=None):
        params = [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]
        out, _ = torch.gru(x, state[0].unsqueeze(0), params, True, 1, 0.0, self.training, False, True)
        return out

    def input_projection(self, x):
        return nn.functional.linear(x, self.weight_ih, self.bias_ih)

    def step(self, xp, state, rec_mask):
        (h,) = state
        hp = nn.functional.linear(_masked(h, rec_mask), self.weight_hh, self.bias_hh)
        xr, xz, xn = xp.chunk(3, dim=-1)
        hr, hz, hn = hp.chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = self.phi(xn + r * hn)
        return (z * h + (1 - z) * n,)


class LSTMCell(_Cell):
    """Keras LSTM(unit_forget_bias=True): one bias, gate order (i, f, g, o), forget bias initialised to 1."""

    gates = 4

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        b = torch.zeros(4 * self.n_hidden)
        b[self.n_hidden : 2 * self.n_hidden] = 1.0
        self.bias = nn.Parameter(b)

    def fused_ok(self, rec_mask):
        return rec_mask is None and self.activation == "tanh"

    def fused(self, x, state, rec_mask=None):
        h0, c0 = state
        params = [self.weight_ih, self.weight_hh, self.bias, torch.zeros_like(self.bias)]
        out, _, _ = torch.lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)), params, True, 1, 0.0, self.training, False, True)
        return out

    def input_projection(self, x):
        return nn.functional.linear(x, self.weight_ih, self.bias)

    def step(self, xp, state, rec_mask):
        h, c = state
        a = xp + nn.functional.linear(_masked(h, rec_mask), self.weight_hh)
        i, f, g, o = a.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * self.phi(g)
        h = torch.sigmoid(o) * self.phi(c)
        return (h, c)


class UGRNNCell(_Cell):
    """Collins et al. 2017: ``[a_g, a_c] = W[u, h] + b``; gate = σ(a_g + 1); h' = gate·h + (1−gate)·φ(a_c)."""

    gates = 2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bias = nn.Parameter(torch.zeros(2 * self.n_hidden))

    def input_projection(self, x):
        return nn.functional.linear(x, self.weight_ih, self.bias)

    def step(self, xp, state, rec_mask):
        (h,) = state
        a = xp + nn.functional.linear(_masked(h, rec_mask), self.weight_hh)
        a_g, a_c = a.chunk(2, dim=-1)
        gate = torch.sigmoid(a_g + 1.0)
        return (gate * h + (1 - gate) * self.phi(a_c),)


_CELLS = {"SRNN": SimpleCell, "GRU": GRUCell, "UGRNN": UGRNNCell, "LSTM": LSTMCell}


# ---------------------------------------------------------------------- networks
class PathIntegrator(nn.Module):
    """Base class: ``forward(velocity, init_code) -> (g, z)`` plus the weight-decay penalty."""

    architecture: str = ""

    def __init__(self, cfg: NetworkConfig, n_out: int):
        super().__init__()
        self.n_grid = int(cfg.n_grid)
        self.n_out = int(n_out)
        self.activation = cfg.activation
        self.phi = ACTIVATIONS[cfg.activation]
        self.weight_decay = float(cfg.weight_decay)
        self.input_dropout = float(cfg.input_dropout)
        self.recurrent_dropout = float(cfg.recurrent_dropout)
        self.ugrnn_weight_decay_quirk = bool(cfg.ugrnn_weight_decay_quirk)
        #: Tests set this False to force the step-by-step reference path.
        self.use_fused = True
        self.cell: _Cell

    # -- pieces the subclasses define
    def initial_state(self, init_code: Tensor) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def cell_input(self, velocity: Tensor) -> Tensor:
        raise NotImplementedError

    def head(self, h: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    # -- shared
    def _masks(self, x: Tensor, dropout_generator: torch.Generator | None) -> tuple[Tensor | None, Tensor | None]:
        if not self.training:
            return None, None
        b = x.shape[0]
        in_mask = dropout_mask((b, x.shape[-1]), self.input_dropout, x, dropout_generator)
        rec_mask = dropout_mask((b, self.n_grid), self.recurrent_dropout, x, dropout_generator)
        return in_mask, rec_mask

    def hidden(self, velocity: Tensor, init_code: Tensor, dropout_generator: torch.Generator | None = None) -> Tensor:
        """Hidden states of the recurrent layer (B,T,Ng)."""
        x = self.cell_input(velocity)
        in_mask, rec_mask = self._masks(x, dropout_generator)
        if in_mask is not None:
            x = x * in_mask.unsqueeze(1)  # one mask per sequence, shared over time
        return self.cell(x, self.initial_state(init_code), rec_mask, self.use_fused)

    def forward(
        self, velocity: Tensor, init_code: Tensor, dropout_generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """``velocity (B,T,2)``, ``init_code (B,n_out)`` → ``(g (B,T,Ng), z (B,T,n_out))``.

        ``dropout_generator`` supplies the dropout masks (training mode only; required then if any dropout
        rate is non-zero). Input dropout draws first, then recurrent dropout.
        """
        if velocity.ndim != 3 or velocity.shape[-1] != 2:
            raise ValueError(f"velocity must have shape (B, T, 2), got {tuple(velocity.shape)}")
        if init_code.shape != (velocity.shape[0], self.n_out):
            raise ValueError(f"init_code must have shape (B={velocity.shape[0]}, n_out={self.n_out}), got {tuple(init_code.shape)}")
        h = self.hidden(velocity, init_code, dropout_generator)
        if not h.is_contiguous() and h.transpose(0, 1).is_contiguous():
            # time-major storage (the CPU recurrence): run the head in that order so no (B,T,N) copy is made;
            # callers get (B,T,·) views either way
            g, z = self.head(h.transpose(0, 1))
            return g.transpose(0, 1), z.transpose(0, 1)
        return self.head(h)

    def recurrent_weight(self) -> Tensor:
        """The recurrent matrix (all gates), torch layout ``(G·Ng, Ng)``."""
        return self.cell.weight_hh

    def weight_decay_term(self) -> Tensor:
        """``λ·Σ W_rec²`` (no ½); for the UGRNN with the NFL quirk, ``λ·Σ b²`` of its cell bias (module doc)."""
        if isinstance(self.cell, UGRNNCell) and self.ugrnn_weight_decay_quirk:
            w = self.cell.bias
        else:
            w = self.recurrent_weight()
        if self.weight_decay == 0:
            return w.new_zeros(())
        return self.weight_decay * w.pow(2).sum()


class SorscherRNN(PathIntegrator):
    """Sorscher et al. 2019: bias-free encoder, vanilla RNN and linear decoder; ``g = h``."""

    architecture = "RNN"

    def __init__(self, cfg: NetworkConfig, n_out: int, generator: torch.Generator):
        super().__init__(cfg, n_out)
        ng = self.n_grid
        self.encoder = Dense(n_out, ng, generator, bias=False)
        self.cell = SimpleCell(2, ng, cfg.activation, cfg.initializer, generator)
        self.decoder = Dense(ng, n_out, generator, bias=False)

    def initial_state(self, init_code):
        return (self.encoder(init_code),)

    def cell_input(self, velocity):
        return velocity

    def head(self, h):
        return h, self.decoder(h)


class ThreeLayer(PathIntegrator):
    """NFL three-layer network: Dense encoder(s), Dense input map, recurrent cell, φ(Dense), Dense decoder."""

    def __init__(self, cfg: NetworkConfig, n_out: int, generator: torch.Generator):
        super().__init__(cfg, n_out)
        self.architecture = cfg.architecture
        ng = self.n_grid
        self.encoder = Dense(n_out, ng, generator)
        if cfg.architecture == "LSTM":
            self.encoder_c = Dense(n_out, ng, generator)
        self.input_map = Dense(2, ng, generator)
        self.cell = _CELLS[cfg.architecture](ng, ng, cfg.activation, cfg.initializer, generator)
        self.dense = Dense(ng, ng, generator)
        self.decoder = Dense(ng, n_out, generator)

    def initial_state(self, init_code):
        if self.architecture == "LSTM":
            return (self.encoder(init_code), self.encoder_c(init_code))
        return (self.encoder(init_code),)

    def cell_input(self, velocity):
        return self.input_map(velocity)

    def head(self, h):
        g = self.phi(self.dense(h))
        return g, self.decoder(g)


def build_model(cfg: NetworkConfig, n_out: int, generator: torch.Generator) -> PathIntegrator:
    """The network of ``cfg`` with ``n_out`` readout units, initialised from ``generator`` (CPU, float32)."""
    if cfg.architecture not in ARCHITECTURES:
        raise ConfigError(f"architecture={cfg.architecture!r} is invalid: expected one of {list(ARCHITECTURES)}")
    if cfg.activation not in ACTIVATIONS:
        raise ConfigError(f"activation={cfg.activation!r} is invalid: expected one of {list(ACTIVATIONS)}")
    if cfg.initializer not in INITIALIZERS:
        raise ConfigError(f"initializer={cfg.initializer!r} is invalid: expected one of {list(INITIALIZERS)}")
    if n_out < 1:
        raise ConfigError(f"n_out={n_out} is invalid: expected >= 1")
    model = SorscherRNN(cfg, n_out, generator) if cfg.architecture == "RNN" else ThreeLayer(cfg, n_out, generator)
    if cfg.encoder_gain != 1.0:
        # The initial-state encoder sees a place code that sums to 1, so with glorot weights the initial state
        # is tiny (|h0| ~ 0.04) and training sits on the log(Np) plateau; a gain on these initial weights (the
        # same draws, scaled) is an initialisation choice, not a change of the model (docs/recipe_search.md).
        with torch.no_grad():
            for name in ("encoder", "encoder_c"):
                if hasattr(model, name):
                    getattr(model, name).weight.mul_(cfg.encoder_gain)
    return model
