"""Readout (target) encodings of position, their losses and decoders (SPEC §2).

One class, :class:`Readout`, covers every encoding; ``Readout.name`` (the config's ``readout``) selects
the formula. Parameters (place-cell centres, per-field widths, linear maps) are drawn once per network
from a numpy Generator and kept as float32 torch tensors; ``state()`` / ``from_state()`` store and rebuild
them exactly.

Notation (per cell i, per field f): ``q = |x - u|^2 / (2 sigma^2)`` and ``r = |x - u|^2 / (2 (s sigma)^2)
= q / s^2``. **Surround convention:** we store NFL's ``s``, a ratio of standard deviations
(``sigma_I = s * sigma``). A config with ``surround_convention = "sorscher"`` gives ``s`` as a ratio of
variances (``sigma_I = sqrt(s) * sigma``, Sorscher's code); it is converted on construction, so Sorscher's
``s = 2`` is stored as ``s = sqrt(2)``.

Place-code formulas (softmax over the cells at each position):

=================================  ======================================================  =====
name                               target y(x)                                             loss
=================================  ======================================================  =====
gaussian (softmax)                 softmax(-q)                                             CE
gaussian (none)                    exp(-q)                                                 MSE
difference_of_softmaxes (DoS)      z = softmax(-q) - softmax(-r); shift, rescale           CE
difference_of_gaussians (DoG)      z = exp(-q) - exp(-r) (<= 0); shift, rescale            CE
softmax_of_differences (SoD)       softmax(-q + r)                                         CE
general_difference_of_gaussians    z = a_E exp(-q) - a_I exp(-r); shift, rescale           CE
=================================  ======================================================  =====

"shift, rescale": ``z <- z - min_j z_j``, ``y = z / sum_j z_j``. Because ``y`` is unchanged when ``z`` is
multiplied by a positive number, the (true and general) DoG codes are computed as
``a_E exp(-q + m) - a_I exp(-r + m)`` with ``m`` the smallest of all q and r at that position, which
cannot underflow to 0/0 far from every centre.

With several fields per cell a cell responds through its nearest field (smallest q), and its surround
uses that same field's sigma and s.

Decoders (``Readout.decode``, on logits or targets): identity (cartesian); ``(z - c) pinv(A)``
(high_dim_cartesian); polar: radius by least squares on the linear half (clamped at 0), angle = mu of the
most active angle unit (so exact only up to the spacing of the random mu); place codes: mean centre of the
k = 3 most active units, the 3 least active for true DoG and for general DoG with alpha_I >= alpha_E
(their signal is a dip); several fields per cell: per selected cell the field that makes the three
points tightest (:func:`min_spread_points`). The top-3 rule has an error floor of ~4 cm at sigma = 0.12
with 512 cells, ~13 cm for true DoG (the least active cells lie on the surround ring), and it degrades
for DoS at small sigma (at sigma = 0.04 only the nearest cell stands out of a flat baseline).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch

from .errors import ConfigError, DataError

PLACE_CODES = (
    "gaussian",
    "difference_of_softmaxes",
    "difference_of_gaussians",
    "softmax_of_differences",
    "general_difference_of_gaussians",
)
LINEAR_CODES = ("cartesian", "high_dim_cartesian", "high_dim_polar")
#: Place codes whose targets are shifted by their minimum and rescaled to sum to 1.
_SHIFTED = ("difference_of_softmaxes", "difference_of_gaussians", "general_difference_of_gaussians")
#: Place codes that use a surround (need ``s``).
_SURROUND = _SHIFTED + ("softmax_of_differences",)
#: Differences of (unnormalised) Gaussians: computed with exact squared distances.
_DOG = ("difference_of_gaussians", "general_difference_of_gaussians")
#: Number of units averaged by the place-code decoder.
DECODE_K = 3
#: Bound on positions x (cells x fields) handled at once by ``encode`` (memory of intermediates).
_ENCODE_CHUNK_ELEMENTS = 1 << 24
#: Bound on positions x field-combinations handled at once by the multi-field decoder (memory).
_DECODE_CHUNK_ELEMENTS = 1 << 22
#: Von Mises concentration of the angle units of the polar code.
POLAR_KAPPA = 1.0
#: exp_flushed: inputs below are clamped (exp(-87) is a normal float32) and results up to the value zeroed.
_EXP_FLOOR = -87.0
_EXP_FLOOR_VALUE = math.exp(_EXP_FLOOR) * (1 + 1e-6)


def exp_flushed(x: torch.Tensor) -> torch.Tensor:
    """``exp(x)``, except that every result at or below ``exp(-87) ≈ 1.6e-38`` (just above the smallest
    normal float32) is 0 instead of a tiny normal, subnormal or underflowed number; every larger result is
    torch's ``exp``, bit for bit. NaN stays NaN.

    Why: torch's CPU ``exp`` (MKL) takes a slow path for each result that underflows, 14-49 times slower
    per element than for ordinary ones, so the inputs are clamped at -87 first and the results at the
    clamp zeroed afterwards, in place (a second temporary would cost more in page faults than it saves).
    The place codes exponentiate scaled squared distances over a whole arena, where many results
    underflow: with plain ``exp`` a DoG readout's targets took 1.4-1.7 times as long
    (``bench/bench_readouts.py`` prints both). After DoG's shift and rescale the targets come out bitwise
    the same in practice (tests/test_readouts.py checks a training batch).
    """
    out = torch.clamp_min(x, _EXP_FLOOR).exp_()  # one new tensor, as torch.exp allocates
    return torch.nn.functional.threshold_(out, _EXP_FLOOR_VALUE, 0.0)


def _tensor(a: Any, device: torch.device | str | None = None) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)


class Readout:
    """A position encoding: ``encode`` (targets), ``loss``, ``decode`` (outputs to positions).

    Build with :func:`make_readout` (from a config) or :meth:`from_state` (from a stored state). All
    tensors are float32 on ``self.device``; ``encode`` and ``decode`` accept any leading shape.

    Parameters by ``name``:

    - cartesian: none.
    - high_dim_cartesian: ``A`` (2, n_out), ``c`` (n_out,); ``y = x A + c``.
    - high_dim_polar: ``b``, ``c`` (n_out/2,) for the radius half ``y = b r + c``; ``mu`` (n_out/2,) for
      the angle half ``y = exp(kappa cos(theta - mu))``.
    - place codes: ``centres`` (n_out, F, 2), ``field_mask`` (n_out, F) (True where field f of cell i
      exists; F = largest field count), ``sigma`` and ``s`` (n_out, F) (s in NFL's convention), and the
      scalars ``alpha_e``, ``alpha_i``, ``normalisation``.
    """

    def __init__(
        self,
        name: str,
        n_out: int,
        params: Mapping[str, np.ndarray],
        *,
        box_width: float = 2.2,
        box_height: float = 2.2,
        normalisation: str = "softmax",
        alpha_e: float = 1.0,
        alpha_i: float = 1.0,
        surround_convention: str = "nfl",
        device: torch.device | str = "cpu",
    ):
        if name not in LINEAR_CODES + PLACE_CODES:
            raise ConfigError(f"readout={name!r} is unknown; expected one of {list(LINEAR_CODES + PLACE_CODES)}")
        if normalisation not in ("softmax", "none"):
            raise ConfigError(f"gaussian_normalisation={normalisation!r} is invalid; expected 'softmax' or 'none'")
        self.name = name
        self.n_out = int(n_out)
        self.box_width = float(box_width)
        self.box_height = float(box_height)
        self.normalisation = normalisation
        self.alpha_e = float(alpha_e)
        self.alpha_i = float(alpha_i)
        self.surround_convention = surround_convention
        self.loss_kind = (
            "mse" if (name in LINEAR_CODES or (name == "gaussian" and normalisation == "none")) else "cross_entropy"
        )
        self._np = {k: np.asarray(v) for k, v in params.items()}
        self._check_params()
        self.device = torch.device("cpu")
        self.max_fields = 1  # place codes: largest number of fields per cell
        self._build_tensors()
        self.to(device)

    # ------------------------------------------------------------------ construction helpers
    def _check_params(self) -> None:
        need = {
            "cartesian": (),
            "high_dim_cartesian": ("A", "c"),
            "high_dim_polar": ("b", "c", "mu"),
        }.get(self.name, ("centres", "field_mask", "sigma", "s"))
        missing = [k for k in need if k not in self._np]
        if missing:
            raise DataError(f"readout {self.name!r}: state lacks parameter(s) {', '.join(missing)}")
        if self.name == "cartesian" and self.n_out != 2:
            raise ConfigError(f"cartesian readout has n_out=2, got {self.n_out}")
        if self.name in PLACE_CODES:
            c = self._np["centres"]
            if c.ndim != 3 or c.shape[0] != self.n_out or c.shape[2] != 2:
                raise DataError(f"readout {self.name!r}: centres have shape {c.shape}, expected ({self.n_out}, F, 2)")
            if not self._np["field_mask"].astype(bool)[:, 0].all():
                raise DataError(f"readout {self.name!r}: every cell needs its first field (field_mask[:, 0])")

    def _build_tensors(self) -> None:
        """Derived float32 tensors (CPU); ``to`` moves them."""
        p = self._np
        t: dict[str, torch.Tensor] = {}
        if self.name == "high_dim_cartesian":
            A = p["A"].astype(np.float64)
            t["A"] = _tensor(A)
            t["c"] = _tensor(p["c"])
            t["A_pinv"] = _tensor(np.linalg.pinv(A))  # (n_out, 2), computed in float64 once
        elif self.name == "high_dim_polar":
            b = p["b"].astype(np.float64)
            t["b"] = _tensor(b)
            t["c"] = _tensor(p["c"])
            t["mu"] = _tensor(p["mu"])
            t["b_pinv"] = _tensor(b / np.dot(b, b))  # pinv of the column vector b
        elif self.name in PLACE_CODES:
            centres = p["centres"].astype(np.float64)
            mask = p["field_mask"].astype(bool)
            centres = np.where(mask[..., None], centres, 0.0)
            sigma = np.where(mask, p["sigma"].astype(np.float64), 1.0)
            s = np.where(mask, p["s"].astype(np.float64), 2.0)
            n, F = mask.shape
            self.max_fields = F
            inv = 0.5 / sigma**2  # (n, F)
            # -q = x.(2u inv) - |x|^2 inv - |u|^2 inv: one addmm of [x, y, |x|^2] gives -q for every field.
            W = np.concatenate([2.0 * centres * inv[..., None], -inv[..., None]], axis=-1)  # (n, F, 3)
            bias = -(centres**2).sum(-1) * inv  # (n, F)
            self._stacked_r = F == 1 and self.name in _SURROUND and self.name not in _DOG
            if self._stacked_r:
                # one field: -r = -q / s^2, so the same matmul also yields -r (columns n..2n)
                W = np.concatenate([W, W / s[..., None] ** 2], axis=0)
                bias = np.concatenate([bias, bias / s**2], axis=0)
            t["W"] = _tensor(W.reshape(-1, 3).T)  # (3, n F) or (3, 2n)
            t["centres_T"] = _tensor(centres.reshape(-1, 2).T)  # (2, n F)
            t["neg_inv_2sig2"] = _tensor(-inv.reshape(-1))
            t["inv_s2_flat"] = _tensor((1.0 / s**2).reshape(-1))
            t["bias"] = _tensor(bias.reshape(-1))
            t["centres"] = _tensor(centres)
            t["field_mask"] = torch.as_tensor(mask)
            t["inv_s2"] = _tensor(1.0 / s**2)  # (n, F)
        self._t = t

    # ------------------------------------------------------------------ device and state
    def to(self, device: torch.device | str) -> "Readout":
        """Move the parameters to ``device`` (in place); returns self."""
        self.device = torch.device(device)
        self._t = {k: v.to(self.device) for k, v in self._t.items()}
        return self

    def state(self) -> dict:
        """Numpy arrays and plain scalars/strings; ``Readout.from_state`` rebuilds the same readout."""
        st: dict[str, Any] = {
            "name": self.name,
            "n_out": self.n_out,
            "box_width": self.box_width,
            "box_height": self.box_height,
            "normalisation": self.normalisation,
            "alpha_e": self.alpha_e,
            "alpha_i": self.alpha_i,
            "surround_convention": self.surround_convention,
        }
        for k, v in self._np.items():
            st[f"param_{k}"] = np.array(v, copy=True)
        return st

    @classmethod
    def from_state(cls, state: Mapping[str, Any], device: torch.device | str = "cpu") -> "Readout":
        """Rebuild a readout from ``state()`` output (dispatches on the stored name)."""
        try:
            name = str(state["name"])
            params = {k[len("param_") :]: np.asarray(v) for k, v in state.items() if k.startswith("param_")}
            return cls(
                name,
                int(state["n_out"]),
                params,
                box_width=float(state.get("box_width", 2.2)),
                box_height=float(state.get("box_height", 2.2)),
                normalisation=str(state.get("normalisation", "softmax")),
                alpha_e=float(state.get("alpha_e", 1.0)),
                alpha_i=float(state.get("alpha_i", 1.0)),
                surround_convention=str(state.get("surround_convention", "nfl")),
                device=device,
            )
        except KeyError as exc:
            raise DataError(f"readout state lacks key {exc}") from exc

    def __repr__(self) -> str:
        return f"Readout(name={self.name!r}, n_out={self.n_out}, loss_kind={self.loss_kind!r}, device={self.device})"

    # ------------------------------------------------------------------ encoding
    def _as_pos(self, pos: torch.Tensor | np.ndarray) -> torch.Tensor:
        pos = torch.as_tensor(pos)
        if pos.shape[-1:] != (2,):
            raise ValueError(f"positions must have a last axis of size 2, got shape {tuple(pos.shape)}")
        return pos.to(device=self.device, dtype=torch.float32)

    @torch.no_grad()
    def encode(self, pos: torch.Tensor) -> torch.Tensor:
        """Targets for positions ``pos`` [..., 2] (metres): [..., n_out] float32 on ``self.device``."""
        pos = self._as_pos(pos)
        lead = pos.shape[:-1]
        x = pos.reshape(-1, 2)
        t = self._t
        if self.name == "cartesian":
            y = x.clone()
        elif self.name == "high_dim_cartesian":
            y = torch.addmm(t["c"], x, t["A"])
        elif self.name == "high_dim_polar":
            radius = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
            theta = torch.atan2(x[:, 1:2], x[:, 0:1])
            y = torch.cat([radius * t["b"] + t["c"], torch.exp(POLAR_KAPPA * torch.cos(theta - t["mu"]))], dim=-1)
        else:
            # bounded memory for large inputs (e.g. multi-field codes on an evaluation set): the
            # [rows, n F] intermediates stay below _ENCODE_CHUNK_ELEMENTS; a training batch is one chunk
            width = self.n_out * self.max_fields * 2
            rows = max(1, _ENCODE_CHUNK_ELEMENTS // width)
            if x.shape[0] <= rows:
                y = self._place_targets(self._neg_q_r(x))
            else:
                y = torch.empty(x.shape[0], self.n_out, dtype=torch.float32, device=self.device)
                for start in range(0, x.shape[0], rows):
                    y[start : start + rows] = self._place_targets(self._neg_q_r(x[start : start + rows]))
        return y.reshape(*lead, self.n_out)

    def _neg_q_r(self, x: torch.Tensor) -> torch.Tensor:
        """[M, 2, n]: (-q, -r) per cell for positions x [M, 2] through each cell's nearest field
        ([M, 1, n], -q only, for codes without a surround)."""
        t = self._t
        M, n, F = x.shape[0], self.n_out, self.max_fields
        if self.name in _DOG:
            # Direct differences: q is exactly 0 at a cell's own centre and r = q / s^2 <= q in float
            # arithmetic, so exp(-q) - exp(-r) <= 0 holds exactly (the dip is a small difference of
            # two exponentials, which the cheaper matmul expansion would blur).
            if F == 1:  # -q and -r written straight into their halves of the result (no stack copy)
                qr = x.new_empty((M, 2, n))
                dx = torch.sub(x[:, 0:1], t["centres_T"][0], out=qr[:, 0])
            else:
                dx = x[:, 0:1] - t["centres_T"][0]
            dy = x[:, 1:2] - t["centres_T"][1]
            out = dx.mul_(dx).addcmul_(dy, dy).mul_(t["neg_inv_2sig2"])
            if F == 1:
                torch.mul(out, t["inv_s2_flat"], out=qr[:, 1])
                return qr
        else:
            # |x - u|^2 by matmul expansion (one addmm; relative error ~1e-5 in the targets at
            # sigma = 0.12, ~1e-4 at sigma = 0.04)
            aug = torch.cat([x, (x * x).sum(-1, keepdim=True)], dim=-1)
            out = torch.addmm(t["bias"], aug, t["W"])
            if F == 1:
                return out.view(M, 2 if self._stacked_r else 1, n)
        neg_q, field = out.view(M, n, F).masked_fill_(~t["field_mask"], -math.inf).max(dim=-1)  # nearest field
        if self.name not in _SURROUND:
            return neg_q.unsqueeze(1)
        inv_s2 = torch.gather(t["inv_s2"].expand(M, n, F), -1, field.unsqueeze(-1)).squeeze(-1)
        return torch.stack([neg_q, neg_q * inv_s2], dim=1)

    def _place_targets(self, qr: torch.Tensor) -> torch.Tensor:
        """Targets [M, n] from ``qr`` = (-q, -r) [M, 2, n] (consumed in place)."""
        name = self.name
        if name == "gaussian":
            return (
                torch.softmax(qr[:, 0], dim=-1)
                if self.normalisation == "softmax"
                else exp_flushed(qr[:, 0].clamp_max(0.0))
            )
        if name == "softmax_of_differences":
            return torch.softmax(qr[:, 0] - qr[:, 1], dim=-1)
        if name == "difference_of_softmaxes":
            sm = torch.softmax(qr, dim=-1)  # both softmaxes in one call over [M, 2, n]
            z = sm[:, 0] - sm[:, 1]
        else:  # true / general DoG, scaled by exp(-m) (y is invariant to it) so it cannot underflow
            e = exp_flushed(qr.sub_(qr.amax(dim=(1, 2), keepdim=True)))
            if name == "difference_of_gaussians":
                z = e[:, 0] - e[:, 1]
            else:
                z = torch.sub(e[:, 0] * self.alpha_e, e[:, 1], alpha=self.alpha_i)
        return _shift_rescale(z)

    @torch.no_grad()
    def unnormalised(self, pos: torch.Tensor) -> torch.Tensor:
        """The place code before any shift/rescale or softmax: for DoG ``exp(-q) - exp(-r)`` (<= 0)."""
        if self.name not in PLACE_CODES:
            return self.encode(pos)
        pos = self._as_pos(pos)
        qr = self._neg_q_r(pos.reshape(-1, 2)).clamp_max(0.0)  # q >= 0 (matmul rounding aside)
        neg_q = qr[:, 0]
        if self.name == "gaussian":
            z = exp_flushed(neg_q)
        elif self.name == "softmax_of_differences":
            z = neg_q - qr[:, 1]
        elif self.name == "difference_of_softmaxes":
            z = torch.softmax(neg_q, dim=-1) - torch.softmax(qr[:, 1], dim=-1)
        else:
            a_e, a_i = (1.0, 1.0) if self.name == "difference_of_gaussians" else (self.alpha_e, self.alpha_i)
            z = a_e * exp_flushed(neg_q) - a_i * exp_flushed(qr[:, 1])
        return z.reshape(*pos.shape[:-1], self.n_out)

    # ------------------------------------------------------------------ loss
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Scalar loss of readout logits ``outputs`` against ``targets`` (same shape [..., n_out]).

        Cross-entropy: mean over all leading axes of ``-sum_i y_i log_softmax(z)_i``; MSE: mean over all
        elements of ``(y - z)^2``.
        """
        if outputs.shape != targets.shape:
            raise ValueError(f"outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} differ in shape")
        if self.loss_kind == "cross_entropy":
            return -(targets * torch.log_softmax(outputs, dim=-1)).sum(-1).mean()
        return (outputs - targets).square().mean()

    # ------------------------------------------------------------------ decoding
    @property
    def decode_least_active(self) -> bool:
        """True when the place code's signal is a dip (true DoG, general DoG with alpha_I >= alpha_E)."""
        if self.name == "difference_of_gaussians":
            return True
        return self.name == "general_difference_of_gaussians" and self.alpha_i >= self.alpha_e

    @torch.no_grad()
    def decode(self, outputs: torch.Tensor) -> torch.Tensor:
        """Positions [..., 2] decoded from readout outputs (logits or targets) [..., n_out]."""
        z = torch.as_tensor(outputs).to(device=self.device, dtype=torch.float32)
        if z.shape[-1] != self.n_out:
            raise ValueError(f"outputs have {z.shape[-1]} units, readout {self.name!r} has {self.n_out}")
        lead = z.shape[:-1]
        z = z.reshape(-1, self.n_out)
        t = self._t
        if self.name == "cartesian":
            x = z.clone()
        elif self.name == "high_dim_cartesian":
            x = (z - t["c"]) @ t["A_pinv"]
        elif self.name == "high_dim_polar":
            half = self.n_out // 2
            # radius by least squares on the linear half; clamp because a radius cannot be negative
            radius = ((z[:, :half] - t["c"]) @ t["b_pinv"]).clamp_min(0.0)
            theta = t["mu"][z[:, half:].argmax(dim=-1)]
            x = torch.stack([radius * torch.cos(theta), radius * torch.sin(theta)], dim=-1)
        else:
            k = min(DECODE_K, self.n_out)
            idx = torch.topk(z, k, dim=-1, largest=not self.decode_least_active).indices  # [M, k]
            if self.max_fields == 1 or k < 3:
                x = t["centres"][idx, 0].mean(dim=1)
            else:
                x = min_spread_points(t["centres"][idx], t["field_mask"][idx]).mean(dim=1)
        return x.reshape(*lead, 2)


def _shift_rescale(z: torch.Tensor) -> torch.Tensor:
    """``z <- z - min_j z_j``; ``y = z / sum_j z_j`` (in place; exact zeros stay zeros; a constant z
    gives 0, not NaN)."""
    z = z.sub_(z.amin(dim=-1, keepdim=True))
    return z.mul_(z.sum(dim=-1, keepdim=True).clamp_min_(torch.finfo(z.dtype).tiny).reciprocal_())


def min_spread_points(centres: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One field per cell so that the chosen points have the smallest spread.

    ``centres`` [M, 3, F, 2] are the fields of the 3 selected cells of each of M positions, ``mask``
    [M, 3, F] marks real fields. Spread = sum of the pairwise squared distances (3x the squared distances
    to the mean), minimised over all F^3 combinations (missing fields count as infinitely far).
    Returns [M, 3, 2].
    """
    M, k, F, _ = centres.shape
    if k != 3:
        raise ValueError(f"min_spread_points expects 3 cells per position, got {k}")
    out = torch.empty(M, 3, 2, dtype=centres.dtype, device=centres.device)
    chunk = max(1, _DECODE_CHUNK_ELEMENTS // (F**3))
    ar = torch.arange(3, device=centres.device)
    for start in range(0, M, chunk):
        c = centres[start : start + chunk]
        v = mask[start : start + chunk]
        m = c.shape[0]

        def pair(a: int, b: int) -> torch.Tensor:
            d = (c[:, a, :, None, :] - c[:, b, None, :, :]).square().sum(-1)  # [m, F, F]
            return d.masked_fill(~(v[:, a, :, None] & v[:, b, None, :]), math.inf)

        total = pair(0, 1)[:, :, :, None] + pair(0, 2)[:, :, None, :] + pair(1, 2)[:, None, :, :]
        best = total.reshape(m, -1).argmin(dim=-1)
        f = torch.stack([best // (F * F), (best // F) % F, best % F], dim=-1)  # [m, 3]
        out[start : start + m] = c[torch.arange(m, device=c.device)[:, None], ar[None, :], f]
    return out


# ---------------------------------------------------------------------- construction from a config
def _draw(value: Any, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A per-field parameter: a constant, or drawn from ``Uniform(low, high)`` per field."""
    from .config import Uniform

    if isinstance(value, Uniform):
        return rng.uniform(value.low, value.high, shape)
    return np.full(shape, float(value))


def make_readout(cfg: Any, rng: np.random.Generator) -> Readout:
    """The readout of network ``cfg`` (a ``NetworkConfig``), parameters drawn from ``rng``.

    Draw order (part of the definition; training passes ``pathint.seeds.rng(cfg.seed, "readout")``):
    high_dim_cartesian: A (2, n) then c (n), all U(-1, 1); high_dim_polar: b, c (n/2 each, U(-1, 1)),
    mu (n/2, U(-pi, pi)); place codes: field counts 1 + Poisson(fields_per_cell) (only when
    fields_per_cell > 0), centres U(box) as (n, F, 2), then sigma and s per field when they are Uniform
    (s only for codes with a surround).
    """
    name = cfg.readout
    n = cfg.n_out
    common = dict(box_width=cfg.box_width, box_height=cfg.box_height)
    if name == "cartesian":
        return Readout(name, 2, {}, **common)
    if name == "high_dim_cartesian":
        A = rng.uniform(-1.0, 1.0, (2, n))
        c = rng.uniform(-1.0, 1.0, n)
        return Readout(name, n, {"A": A, "c": c}, **common)
    if name == "high_dim_polar":
        if n % 2:
            raise ConfigError(f"n_place={n} is invalid: high_dim_polar needs an even number of units")
        half = n // 2
        b = rng.uniform(-1.0, 1.0, half)
        c = rng.uniform(-1.0, 1.0, half)
        mu = rng.uniform(-np.pi, np.pi, half)
        return Readout(name, n, {"b": b, "c": c, "mu": mu}, **common)
    if name not in PLACE_CODES:
        raise ConfigError(f"readout={name!r} is unknown; expected one of {list(LINEAR_CODES + PLACE_CODES)}")
    lam = float(cfg.fields_per_cell)
    counts = 1 + rng.poisson(lam, n) if lam > 0 else np.ones(n, dtype=np.int64)
    F = int(counts.max())
    mask = np.arange(F)[None, :] < counts[:, None]
    half_box = np.array([cfg.box_width / 2, cfg.box_height / 2])
    centres = rng.uniform(-1.0, 1.0, (n, F, 2)) * half_box
    sigma = _draw(cfg.place_cell_rf, rng, (n, F))
    if name in _SURROUND or name == "general_difference_of_gaussians":
        s = _draw(cfg.surround_scale, rng, (n, F))
    else:
        s = np.full((n, F), 2.0)  # unused by the Gaussian code
    convention = cfg.surround_convention
    if convention == "sorscher":
        s = np.sqrt(s)  # Sorscher's s is a variance ratio; store NFL's ratio of standard deviations
    elif convention != "nfl":
        raise ConfigError(f"surround_convention={convention!r} is invalid; expected 'nfl' or 'sorscher'")
    params = {"centres": centres, "field_mask": mask, "sigma": sigma, "s": s}
    return Readout(
        name,
        n,
        params,
        normalisation=cfg.gaussian_normalisation,
        alpha_e=cfg.alpha_e,
        alpha_i=cfg.alpha_i,
        surround_convention=convention,
        **common,
    )


# ---------------------------------------------------------------------- evaluation helpers
def decoding_error_cm(readout: Readout, outputs: torch.Tensor, positions: torch.Tensor) -> float:
    """Mean Euclidean distance (cm) between decoded ``outputs`` [..., n_out] and ``positions`` [..., 2]."""
    decoded = readout.decode(outputs)
    pos = torch.as_tensor(positions).to(device=decoded.device, dtype=torch.float32)
    if pos.shape != decoded.shape:
        raise ValueError(f"positions {tuple(pos.shape)} do not match decoded positions {tuple(decoded.shape)}")
    return float(torch.linalg.vector_norm(decoded - pos, dim=-1).mean()) * 100.0


def spatial_correlation(readout: Readout, resolution: int, centred: bool = True) -> np.ndarray:
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
    corr: np.ndarray, box_width: float, box_height: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def dos_peak_wavenumber(sigma: float, s: float) -> float:
    """Wavenumber k* (rad/m) where the DoS tuning curve's Fourier transform peaks (NFL convention s).

    ``exp(-sigma^2 k^2 / 2) - exp(-s^2 sigma^2 k^2 / 2)`` is largest at ``k*^2 = 4 ln s / (sigma^2 (s^2-1))``;
    the grid period predicted from it is ``(2 / sqrt(3)) 2 pi / k*``.
    """
    if sigma <= 0 or s <= 1:
        raise ValueError(f"need sigma > 0 and s > 1, got sigma={sigma}, s={s}")
    return math.sqrt(4.0 * math.log(s) / (sigma**2 * (s**2 - 1.0)))
