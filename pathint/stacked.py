"""K path integrators of one shape evaluated as one: weights stacked along a leading network axis.

:class:`StackedNetworks` takes K single networks built by :func:`pathint.models.build_model` (same
architecture, activation, Ng and readout size) and evaluates their forward and backward passes with batched
products (``bmm`` / ``baddbmm`` over the network axis) instead of K separate ones. Each single network keeps
its own ``nn.Parameter`` objects, but they are re-pointed (``p.data = stacked[k]``) at slices of the stacked
weights, so ``model.state_dict()``, ``load_state_dict``, the network's own optimiser (``make_optimizer``) and
its checkpoints work on it exactly as on a network trained alone; only the products are shared.

**Equality with single-network training.** Every operation mirrors, per network slice, the operation the
single network runs (``pathint/models.py``), including the layout of each product's operands, so that the
CPU results are bitwise equal (``tests/test_grouped.py`` checks every architecture x activation):

- dense layers: ``addmm``/``mm`` become ``baddbmm``/``bmm`` over the network axis, and their backward is
  written out (:class:`_StackedLinear`) with the formulas torch's ``addmm``/``mm`` backward use for a
  transposed weight (``dW = gᵀ x``, ``dx = g W``, ``db = Σ_rows g``);
- the RNN/SRNN recurrence (``models._SimpleRecurrence``) is rewritten batched with the same step order
  (:class:`_StackedSimpleRecurrence`); its states are stored (T+1, K, B, N) so each step's product writes
  a contiguous (K, B, N) block (torch's CPU ``bmm`` only uses MKL's batched GEMM into contiguous outputs);
- the GRU with φ = tanh and no recurrent dropout is ``torch.gru`` on the single network; on the CPU that is
  a composite of in-place operations, replicated here in the same order (:meth:`StackedNetworks._gru_torch`);
- the LSTM with φ = tanh and no recurrent dropout is ``torch.lstm``, which on the CPU is a oneDNN kernel
  that cannot be batched or replicated: it runs once per network (exact, not faster);
- the step loop (UGRNN, and GRU/LSTM with other φ or recurrent dropout) runs the cell's ``step`` equations
  on (K, B, ·) tensors;
- losses, weight-decay terms, targets and decoding stay per network (each network's own readout), because
  a full reduction is summed in a thread-dependent order that a batched reduction would not reproduce.

MKL's batched GEMM and its single GEMM agree bitwise at the shapes used here (B ≥ 8 rows); for some tiny
odd matrices (e.g. 7×12 by 12×36) MKL's 1- and 2-thread single GEMMs already differ from each other, and
so can the batched one. On CUDA the single network uses cuDNN's RNN kernels (RNN/SRNN with relu/tanh,
GRU/LSTM with tanh), which have no batched-weights form; the stacked network then runs the same batched
equations as on the CPU, equal to the single network within float32 rounding (tests/test_cuda.py).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .models import ACTIVATIONS, PathIntegrator, UGRNNCell, _activation_grad, dropout_mask

#: Paths of the recurrent layer (see the module docstring); "loop" is the cell's step equations.
PATHS = ("simple", "gru_torch", "lstm_each", "loop")


# ---------------------------------------------------------------------- batched primitives
#: torch's CPU ``bmm``/``baddbmm`` multiply matrices with fewer multiply-adds than this (rows x inner x
#: columns) with a naive loop (aten/src/ATen/native/LinearAlgebra.cpp), which rounds differently from the
#: MKL GEMM a single network's ``mm`` uses; such tiny products (tests, 2-unit readouts of tiny networks)
#: are therefore done network by network.
_NAIVE_BMM_LIMIT = 400


def _small(a: Tensor, b: Tensor) -> bool:
    return a.shape[1] * a.shape[2] * b.shape[2] < _NAIVE_BMM_LIMIT


def _bmm(a: Tensor, b: Tensor) -> Tensor:
    """``a[k] @ b[k]`` for every k, rounded as ``torch.mm`` rounds it."""
    if _small(a, b):
        return torch.stack([torch.mm(x, y) for x, y in zip(a, b)])
    return torch.bmm(a, b)


def _baddbmm(c: Tensor, a: Tensor, b: Tensor, out: Tensor | None = None) -> Tensor:
    """``c[k] + a[k] @ b[k]`` for every k (``c[k]`` may be a bias row), rounded as ``torch.addmm``;
    in place into ``out`` (which may be ``c``) when given."""
    if _small(a, b):
        if out is None:
            return torch.stack([torch.addmm(ci, x, y) for ci, x, y in zip(c, a, b)])
        for ci, x, y, oi in zip(c, a, b, out):
            torch.addmm(ci, x, y, out=oi)
        return out
    if out is None:
        return torch.baddbmm(c, a, b)
    return torch.baddbmm(c, a, b, out=out)


class _StackedLinear(torch.autograd.Function):
    """``y[k] = x[k] W[k]ᵀ (+ b[k])`` for x (K, M, I), W (K, O, I), b (K, O) or None.

    The backward is torch's ``addmm``/``mm`` backward for a column-major (transposed) weight, per slice:
    ``dx = g W``, ``dW = gᵀ x`` (one product straight into W's layout), ``db = g.sum(rows)``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        wt = w.transpose(1, 2)
        if b is None:
            y = _bmm(x, wt)
        elif _small(x, wt):
            y = torch.stack([torch.addmm(bi, xi, wi) for bi, xi, wi in zip(b, x, wt)])
        else:
            y = torch.baddbmm(b.unsqueeze(1), x, wt)
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        return y

    @staticmethod
    def backward(ctx, g: Tensor):
        x, w = ctx.saved_tensors
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _bmm(g, w)
        if ctx.needs_input_grad[1]:
            gw = _bmm(g.transpose(1, 2), x)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g.sum(1)
        return gx, gw, gb


def stacked_linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """Dense layer of K networks at once: x (K, M, I), W (K, O, I), b (K, O) → (K, M, O)."""
    return _StackedLinear.apply(x, w, b)


def _masked(h: Tensor, mask: Tensor | None) -> Tensor:
    return h if mask is None else h * mask


class _StackedSimpleRecurrence(torch.autograd.Function):
    """``models._SimpleRecurrence`` for K networks: x (K,B,T,I), h0 (K,B,N), W_ih (K,N,I), W_hh (K,N,N).

    Returns the states (T, K, B, N), stored time-major and network-minor so that each step's product
    (``baddbmm_``) writes one contiguous (K, B, N) block; the products over all steps (input projection,
    weight gradients) see each network's (T·B, N) block, copied contiguous, as the single recurrence does.
    """

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, mask: Tensor | None, kind: str) -> Tensor:
        k, b, steps, n_in = x.shape
        n = w_hh.shape[1]
        xt = x.transpose(1, 2).reshape(k, steps * b, n_in)  # each network's (T·B, I) in time-major order
        hs = x.new_empty((steps + 1, k, b, n))
        hs[0] = h0
        hs[1:] = _bmm(xt, w_ih.transpose(1, 2)).view(k, steps, b, n).transpose(0, 1)
        wt = w_hh.transpose(1, 2)
        phi_ = {"relu": torch.relu_, "tanh": torch.tanh_, "sigmoid": torch.sigmoid_}.get(kind)
        for t in range(steps):
            out = hs[t + 1]
            _baddbmm(out, _masked(hs[t], mask), wt, out=out)
            if phi_ is not None:
                phi_(out)
        ctx.kind = kind
        ctx.save_for_backward(xt, hs, w_ih, w_hh, mask)
        return hs[1:]

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        xt, hs, w_ih, w_hh, mask = ctx.saved_tensors
        steps, k, b, n = grad_out.shape
        da = grad_out.new_empty((steps, k, b, n))
        relu = ctx.kind == "relu"
        dphi = None if relu else _activation_grad(ctx.kind, hs[1:])
        for t in range(steps - 1, -1, -1):
            if t == steps - 1:
                da[t].copy_(grad_out[t])
            elif mask is None:
                _baddbmm(grad_out[t], da[t + 1], w_hh, out=da[t])
            else:
                torch.add(grad_out[t], _bmm(da[t + 1], w_hh).mul_(mask), out=da[t])
            if relu:
                torch.ops.aten.threshold_backward.grad_input(da[t], hs[t + 1], 0.0, grad_input=da[t])
            elif dphi is not None:
                da[t].mul_(dphi[t])
        grad_h0 = _bmm(da[0], w_hh)
        if mask is not None:
            grad_h0.mul_(mask)
        da2 = da.transpose(0, 1).reshape(k, steps * b, n)  # each network's (T·B, N), contiguous
        grad_x = grad_w_ih = grad_w_hh = None
        if ctx.needs_input_grad[0]:
            grad_x = _bmm(da2, w_ih).view(k, steps, b, -1).transpose(1, 2)
        if ctx.needs_input_grad[2]:
            grad_w_ih = _bmm(xt.transpose(1, 2), da2).transpose(1, 2)
        if ctx.needs_input_grad[3]:
            prev = _masked(hs[:-1], None if mask is None else mask.unsqueeze(0))
            grad_w_hh = _bmm(da2.transpose(1, 2), prev.transpose(0, 1).reshape(k, steps * b, n))
        return grad_x, grad_h0, grad_w_ih, grad_w_hh, None, None


# ---------------------------------------------------------------------- the stacked networks
class StackedNetworks:
    """K single networks of one shape whose parameters alias slices of stacked weights.

    ``models`` must share architecture, activation, Ng and readout size (``pathint.grouped.shape_key``),
    be in training mode and live on one device. After construction each model's parameters point into the
    stacked tensors (``self.stacked[name][k]``); :meth:`rebind` re-stacks a subset (when a network leaves
    the group) without touching the parameter objects, so optimisers keep their state.
    """

    def __init__(self, models: Sequence[PathIntegrator]):
        if not models:
            raise ValueError("StackedNetworks needs at least one network")
        first = models[0]
        self.architecture = first.architecture
        self.activation = first.activation
        self.phi = ACTIVATIONS[first.activation]
        self.n_grid, self.n_out = first.n_grid, first.n_out
        self.names = [name for name, _ in first.named_parameters()]
        for m in models:
            same = (m.architecture, m.activation, m.n_grid, m.n_out) == (self.architecture, self.activation, self.n_grid, self.n_out)
            if not same or [name for name, _ in m.named_parameters()] != self.names:
                raise ValueError(
                    f"networks of one stack must share architecture, activation, Ng and n_out; got "
                    f"{(m.architecture, m.activation, m.n_grid, m.n_out)} and {(self.architecture, self.activation, self.n_grid, self.n_out)}"
                )
        self.models: list[PathIntegrator] = []
        self.stacked: dict[str, Tensor] = {}
        self.rebind(models)

    # ------------------------------------------------------------------ parameters
    def rebind(self, models: Sequence[PathIntegrator]) -> None:
        """Stack the current values of ``models``' parameters and point each parameter at its slice."""
        self.models = list(models)
        named = [dict(m.named_parameters()) for m in self.models]
        # per network, its parameters in ``self.names`` order (walking the modules every step is slow)
        self._params = [[p[name] for name in self.names] for p in named]
        stacked = {}
        for i, name in enumerate(self.names):
            s = torch.stack([p[i].detach() for p in self._params]).requires_grad_(True)
            for k, p in enumerate(self._params):
                p[i].data = s.detach()[k]
            stacked[name] = s
        self.stacked = stacked
        self._decay = [
            ("cell.bias" if isinstance(m.cell, UGRNNCell) and m.ugrnn_weight_decay_quirk else "cell.weight_hh", m.weight_decay)
            for m in self.models
        ]

    def __len__(self) -> int:
        return len(self.models)

    def zero_grad(self) -> None:
        for s in self.stacked.values():
            s.grad = None
        for params in self._params:
            for p in params:
                p.grad = None

    def distribute_grads(self) -> None:
        """Give every network's parameters their slice of the stacked gradients (views, no copies)."""
        for i, name in enumerate(self.names):
            g = self.stacked[name].grad
            slices = (None,) * len(self._params) if g is None else g.unbind(0)
            for params, gk in zip(self._params, slices):
                params[i].grad = gk

    def member_state_dict(self, k: int) -> dict[str, Tensor]:
        """Network k's ``state_dict`` as tensors of its own, on the stack's device (``torch.save`` of a
        view would write the whole stack)."""
        return {name: v.detach().clone() for name, v in self.models[k].state_dict().items()}

    # ------------------------------------------------------------------ forward
    def path(self, has_rec_mask: bool, device: torch.device) -> str:
        """Which recurrent-layer evaluation mirrors the single networks' (module docstring)."""
        if self.architecture in ("RNN", "SRNN"):
            return "simple"
        fused = not has_rec_mask and self.activation == "tanh"
        if self.architecture == "GRU" and fused:
            return "gru_torch"
        if self.architecture == "LSTM" and fused and device.type == "cpu":
            return "lstm_each"
        return "loop"

    def masks(
        self, x_width: int, batch: int, like: Tensor, generators: Sequence[torch.Generator | None]
    ) -> tuple[Tensor | None, Tensor | None]:
        """Each network's dropout masks from its own generator, stacked: (K, B, x_width), (K, B, Ng).

        Drawn as ``PathIntegrator._masks`` does (input mask first); None when the networks have no such
        dropout (a group shares whether each rate is zero, ``pathint.grouped.shape_key``).
        """
        ins, recs = [], []
        for m, gen in zip(self.models, generators):
            ins.append(dropout_mask((batch, x_width), m.input_dropout, like, gen))
            recs.append(dropout_mask((batch, self.n_grid), m.recurrent_dropout, like, gen))
        return _stack_masks(ins, "input_dropout"), _stack_masks(recs, "recurrent_dropout")

    def forward(
        self, velocity: Tensor, init_code: Tensor, generators: Sequence[torch.Generator | None]
    ) -> tuple[Tensor, bool]:
        """``velocity`` (K,B,T,2), ``init_code`` (K,B,n_out) → (logits, time_major).

        The logits are (K,T,B,n_out) when ``time_major`` (the single networks' recurrence stores its states
        time-major: custom recurrence, torch.gru, torch.lstm) and (K,B,T,n_out) otherwise (step loop).
        """
        s = self.stacked
        k, b, steps, _ = velocity.shape
        if self.architecture == "RNN":
            x = velocity
            h0 = stacked_linear(init_code, s["encoder.weight"])
            state = (h0,)
        else:
            x = stacked_linear(velocity.reshape(k, b * steps, 2), s["input_map.weight"], s["input_map.bias"]).view(k, b, steps, -1)
            h0 = stacked_linear(init_code, s["encoder.weight"], s["encoder.bias"])
            if self.architecture == "LSTM":
                state = (h0, stacked_linear(init_code, s["encoder_c.weight"], s["encoder_c.bias"]))
            else:
                state = (h0,)
        in_mask, rec_mask = self.masks(x.shape[-1], b, x, generators)
        if in_mask is not None:
            x = x * in_mask.unsqueeze(2)
        path = self.path(rec_mask is not None, velocity.device)
        if path == "simple":
            hs = _StackedSimpleRecurrence.apply(x, state[0], s["cell.weight_ih"], s["cell.weight_hh"], rec_mask, self.activation)
            h = hs.transpose(0, 1).contiguous()  # (K,T,B,N): each network's states as its single recurrence stores them
        elif path == "gru_torch":
            h = self._gru_torch(x, state[0])
        elif path == "lstm_each":
            h = self._lstm_each(x, state)
        else:
            h = self._loop(x, state, rec_mask)
        time_major = path != "loop"
        rows = h.shape[1] * h.shape[2]
        flat = h.view(k, rows, self.n_grid)
        if self.architecture == "RNN":
            z = stacked_linear(flat, s["decoder.weight"])
        else:
            g = self.phi(stacked_linear(flat, s["dense.weight"], s["dense.bias"]))
            z = stacked_linear(g, s["decoder.weight"], s["decoder.bias"])
        return z.view(k, h.shape[1], h.shape[2], self.n_out), time_major

    def _gru_torch(self, x: Tensor, h0: Tensor) -> Tensor:
        """torch's CPU ``gru`` (batch_first, one layer) for K networks, operation for operation: the input
        projection of all steps by one product and a broadcast bias add; per step the hidden product with
        bias, then in place on the gate chunks ``r = σ(h_r + i_r)``, ``z = σ(h_z + i_z)``,
        ``n = tanh(i_n + h_n·r)``, ``h' = (h − n)·z + n``. Returns (K,T,B,N)."""
        s = self.stacked
        k, b, steps, n = x.shape
        xt = x.transpose(1, 2).reshape(k, steps * b, n)
        ih = stacked_linear(xt, s["cell.weight_ih"]).view(k, steps, b, -1) + s["cell.bias_ih"].view(k, 1, 1, -1)
        h = h0
        outs = []
        for ig in ih.unbind(1):
            hg = stacked_linear(h, s["cell.weight_hh"], s["cell.bias_hh"])
            i_r, i_z, i_n = ig.unsafe_chunk(3, -1)
            h_r, h_z, h_n = hg.unsafe_chunk(3, -1)
            r = h_r.add_(i_r).sigmoid_()
            z = h_z.add_(i_z).sigmoid_()
            new = i_n.add(h_n.mul_(r)).tanh_()
            h = (h - new).mul_(z).add_(new)
            outs.append(h)
        return torch.stack(outs, 1)

    def _lstm_each(self, x: Tensor, state: tuple[Tensor, Tensor]) -> Tensor:
        """``torch.lstm`` once per network (oneDNN on the CPU: no batched form). Returns (K,T,B,N)."""
        s = self.stacked
        w_ih, w_hh, bias = s["cell.weight_ih"].unbind(0), s["cell.weight_hh"].unbind(0), s["cell.bias"].unbind(0)
        outs = []
        for j, (xj, h0, c0) in enumerate(zip(x.unbind(0), state[0].unbind(0), state[1].unbind(0))):
            params = [w_ih[j], w_hh[j], bias[j], torch.zeros_like(bias[j])]
            out, _, _ = torch.lstm(xj, (h0.unsqueeze(0), c0.unsqueeze(0)), params, True, 1, 0.0, True, False, True)
            outs.append(out.transpose(0, 1))
        return torch.stack(outs, 0)

    def _loop(self, x: Tensor, state: tuple[Tensor, ...], rec_mask: Tensor | None) -> Tensor:
        """The cells' ``step`` equations (``pathint.models``) on (K, B, ·) tensors. Returns (K,B,T,N)."""
        s = self.stacked
        k, b, steps, n_in = x.shape
        arch, phi = self.architecture, self.phi
        bias_name = "cell.bias_ih" if arch == "GRU" else "cell.bias"
        xp = stacked_linear(x.reshape(k, b * steps, n_in), s["cell.weight_ih"], s[bias_name]).view(k, b, steps, -1)
        w_hh = s["cell.weight_hh"]
        outs = []
        for t in range(steps):
            xpt = xp[:, :, t]
            if arch == "GRU":
                (h,) = state
                hp = stacked_linear(_masked(h, rec_mask), w_hh, s["cell.bias_hh"])
                xr, xz, xn = xpt.chunk(3, dim=-1)
                hr, hz, hn = hp.chunk(3, dim=-1)
                r = torch.sigmoid(xr + hr)
                z = torch.sigmoid(xz + hz)
                nn_ = phi(xn + r * hn)
                state = (z * h + (1 - z) * nn_,)
            elif arch == "LSTM":
                h, c = state
                a = xpt + stacked_linear(_masked(h, rec_mask), w_hh)
                i, f, g, o = a.chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * phi(g)
                h = torch.sigmoid(o) * phi(c)
                state = (h, c)
            elif arch == "UGRNN":
                (h,) = state
                a = xpt + stacked_linear(_masked(h, rec_mask), w_hh)
                a_g, a_c = a.chunk(2, dim=-1)
                gate = torch.sigmoid(a_g + 1.0)
                state = (gate * h + (1 - gate) * phi(a_c),)
            else:  # pragma: no cover - guarded by path()
                raise ValueError(f"no step loop for architecture {arch!r}")
            outs.append(state[0])
        return torch.stack(outs, dim=2)

    # ------------------------------------------------------------------ regulariser
    def weight_decay_terms(self) -> list[Tensor]:
        """Each network's ``weight_decay_term()`` (``PathIntegrator``), computed on its slice."""
        out = []
        per_name: dict[str, tuple[Tensor, ...]] = {}
        for k, (name, decay) in enumerate(self._decay):
            if decay == 0:
                out.append(self.stacked[name].new_zeros(()))
                continue
            if name not in per_name:
                per_name[name] = self.stacked[name].unbind(0)
            out.append(decay * per_name[name][k].pow(2).sum())
        return out


def _stack_masks(masks: list[Tensor | None], what: str) -> Tensor | None:
    present = [m is not None for m in masks]
    if not any(present):
        return None
    if not all(present):
        raise ValueError(f"networks of one stack must all have {what} > 0 or all = 0 (pathint.grouped.shape_key)")
    return torch.stack(masks)  # type: ignore[arg-type]
