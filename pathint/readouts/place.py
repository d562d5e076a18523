"""What the place-cell codes share: centres, fields and widths, the -q/-r computation, shift-rescale,
``exp_flushed`` and the top-k decoder (SPEC §2).

Notation (per cell i, per field f): ``q = |x - u|^2 / (2 sigma^2)`` and ``r = |x - u|^2 / (2 (s sigma)^2)
= q / s^2``. **Surround convention:** we store NFL's ``s``, a ratio of standard deviations
(``sigma_I = s * sigma``). A config with ``surround_convention = "sorscher"`` gives ``s`` as a ratio of
variances (``sigma_I = sqrt(s) * sigma``, Sorscher's code); it is converted when the parameters are drawn,
so Sorscher's ``s = 2`` is stored as ``s = sqrt(2)``.

With several fields per cell a cell responds through its nearest field (smallest q), and its surround
uses that same field's sigma and s.

Decoder: the mean centre of the k = 3 most active units, or the 3 least active where the code's signal is
a dip (``decode_least_active``); several fields per cell: per selected cell the field that makes the three
points tightest (:func:`min_spread_points`). The top-3 rule has an error floor of ~4 cm at sigma = 0.12
with 512 cells, ~13 cm for true DoG (the least active cells lie on the surround ring), and it degrades
for DoS at small sigma (at sigma = 0.04 only the nearest cell stands out of a flat baseline).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ..errors import ConfigError, DataError
from ._lazy import np, torch
from .base import Readout, as_float32

#: Number of units averaged by the place-code decoder.
DECODE_K = 3
#: Bound on positions x (cells x fields) handled at once by ``encode`` (memory of intermediates).
_ENCODE_CHUNK_ELEMENTS = 1 << 24
#: Bound on positions x field-combinations handled at once by the multi-field decoder (memory).
_DECODE_CHUNK_ELEMENTS = 1 << 22
#: exp_flushed: inputs below are clamped (exp(-87) is a normal float32) and results up to the value zeroed.
_EXP_FLOOR = -87.0
_EXP_FLOOR_VALUE = math.exp(_EXP_FLOOR) * (1 + 1e-6)


def exp_flushed(x: "torch.Tensor") -> "torch.Tensor":
    """``exp(x)``, except that every result at or below ``exp(-87) ≈ 1.6e-38`` (just above the smallest
    normal float32) is 0 instead of a tiny normal, subnormal or underflowed number; every larger result is
    torch's ``exp``, bit for bit. NaN stays NaN.

    Why: torch's CPU ``exp`` (MKL) takes a slow path for each result that underflows, 14-49 times slower
    per element than for ordinary ones, so the inputs are clamped at -87 first and the results at the
    clamp zeroed afterwards, in place (a second temporary would cost more in page faults than it saves).
    The place codes exponentiate scaled squared distances over a whole arena, where many results
    underflow: with plain ``exp`` a DoG readout's targets took 1.4-1.7 times as long
    (``bench/bench_readouts.py`` prints both). After DoG's shift and rescale the targets come out bitwise
    the same in practice (tests/readouts/test_difference_of_gaussians.py checks a training batch).
    """
    out = torch.clamp_min(x, _EXP_FLOOR).exp_()  # one new tensor, as torch.exp allocates
    return torch.nn.functional.threshold_(out, _EXP_FLOOR_VALUE, 0.0)


def shift_rescale(z: "torch.Tensor") -> "torch.Tensor":
    """``z <- z - min_j z_j``; ``y = z / sum_j z_j`` (in place; exact zeros stay zeros; a constant z
    gives 0, not NaN)."""
    z = z.sub_(z.amin(dim=-1, keepdim=True))
    return z.mul_(z.sum(dim=-1, keepdim=True).clamp_min_(torch.finfo(z.dtype).tiny).reciprocal_())


def scaled_exponentials(qr: "torch.Tensor") -> "torch.Tensor":
    """``exp(-q + m)`` and ``exp(-r + m)`` [M, 2, n] from ``qr`` = (-q, -r) [M, 2, n] (consumed in place),
    ``m`` the smallest of all q and r at that position. A shifted-and-rescaled difference of the two is
    unchanged by the common factor ``exp(m)``, and this way it cannot underflow to 0/0 far from every
    centre."""
    return exp_flushed(qr.sub_(qr.amax(dim=(1, 2), keepdim=True)))


def min_spread_points(centres: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
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

        def pair(a: int, b: int) -> "torch.Tensor":
            d = (c[:, a, :, None, :] - c[:, b, None, :, :]).square().sum(-1)  # [m, F, F]
            return d.masked_fill(~(v[:, a, :, None] & v[:, b, None, :]), math.inf)

        total = pair(0, 1)[:, :, :, None] + pair(0, 2)[:, :, None, :] + pair(1, 2)[:, None, :, :]
        best = total.reshape(m, -1).argmin(dim=-1)
        f = torch.stack([best // (F * F), (best // F) % F, best % F], dim=-1)  # [m, 3]
        out[start : start + m] = c[torch.arange(m, device=c.device)[:, None], ar[None, :], f]
    return out


def draw_per_field(value: Any, rng: "np.random.Generator", shape: tuple[int, ...]) -> "np.ndarray":
    """A per-field parameter: a constant, or drawn from ``Uniform(low, high)`` per field."""
    from ..config import Uniform

    if isinstance(value, Uniform):
        return rng.uniform(value.low, value.high, shape)
    return np.full(shape, float(value))


class PlaceCode(Readout):
    """A code over place cells with random centres: targets are a function of (-q, -r) per cell.

    Parameters: ``centres`` (n_out, F, 2), ``field_mask`` (n_out, F) (True where field f of cell i exists;
    F = largest field count), ``sigma`` and ``s`` (n_out, F) (s in NFL's convention). An encoding declares
    ``name``, ``label``, ``surround`` and implements :meth:`targets_from` and :meth:`unnormalised_from`.
    """

    param_names = ("centres", "field_mask", "sigma", "s")
    #: The code uses the surround term r (draws s; ``qr`` holds -r as well as -q).
    surround: ClassVar[bool] = False
    #: Squared distances as exact differences rather than the cheaper matmul expansion (codes whose
    #: signal is a small difference of two exponentials: DoG).
    exact_distances: ClassVar[bool] = False

    @classmethod
    def config_options(cls, cfg: Any) -> dict[str, Any]:
        return dict(normalisation=cfg.gaussian_normalisation, alpha_e=cfg.alpha_e, alpha_i=cfg.alpha_i,
                    surround_convention=cfg.surround_convention)

    @classmethod
    def draw_params(cls, cfg: Any, rng: "np.random.Generator", n_out: int) -> dict[str, "np.ndarray"]:
        """Field counts 1 + Poisson(fields_per_cell) (only when fields_per_cell > 0), centres U(box) as
        (n, F, 2), then sigma and s per field when they are Uniform (s only for codes with a surround)."""
        n = n_out
        lam = float(cfg.fields_per_cell)
        counts = 1 + rng.poisson(lam, n) if lam > 0 else np.ones(n, dtype=np.int64)
        F = int(counts.max())
        mask = np.arange(F)[None, :] < counts[:, None]
        half_box = np.array([cfg.box_width / 2, cfg.box_height / 2])
        centres = rng.uniform(-1.0, 1.0, (n, F, 2)) * half_box
        sigma = draw_per_field(cfg.place_cell_rf, rng, (n, F))
        if cls.surround:
            s = draw_per_field(cfg.surround_scale, rng, (n, F))
        else:
            s = np.full((n, F), 2.0)  # stored, unused
        convention = cfg.surround_convention
        if convention == "sorscher":
            s = np.sqrt(s)  # Sorscher's s is a variance ratio; store NFL's ratio of standard deviations
        elif convention != "nfl":
            raise ConfigError(f"surround_convention={convention!r} is invalid; expected 'nfl' or 'sorscher'")
        return {"centres": centres, "field_mask": mask, "sigma": sigma, "s": s}

    def _check_params(self) -> None:
        super()._check_params()
        c = self._np["centres"]
        if c.ndim != 3 or c.shape[0] != self.n_out or c.shape[2] != 2:
            raise DataError(f"readout {self.name!r}: centres have shape {c.shape}, expected ({self.n_out}, F, 2)")
        if not self._np["field_mask"].astype(bool)[:, 0].all():
            raise DataError(f"readout {self.name!r}: every cell needs its first field (field_mask[:, 0])")

    def _build_tensors(self) -> dict[str, "torch.Tensor"]:
        p = self._np
        t: dict[str, Any] = {}
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
        self._stacked_r = F == 1 and self.surround and not self.exact_distances
        if self._stacked_r:
            # one field: -r = -q / s^2, so the same matmul also yields -r (columns n..2n)
            W = np.concatenate([W, W / s[..., None] ** 2], axis=0)
            bias = np.concatenate([bias, bias / s**2], axis=0)
        t["W"] = as_float32(W.reshape(-1, 3).T)  # (3, n F) or (3, 2n)
        t["centres_T"] = as_float32(centres.reshape(-1, 2).T)  # (2, n F)
        t["neg_inv_2sig2"] = as_float32(-inv.reshape(-1))
        t["inv_s2_flat"] = as_float32((1.0 / s**2).reshape(-1))
        t["bias"] = as_float32(bias.reshape(-1))
        t["centres"] = as_float32(centres)
        t["field_mask"] = torch.as_tensor(mask)
        t["inv_s2"] = as_float32(1.0 / s**2)  # (n, F)
        return t

    # ------------------------------------------------------------------ per encoding
    def targets_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        """Targets [M, n] from ``qr`` = (-q, -r) [M, 2, n] ([M, 1, n], -q only, without a surround);
        may consume ``qr`` in place."""
        raise NotImplementedError

    def unnormalised_from(self, qr: "torch.Tensor") -> "torch.Tensor":
        """The code before any shift/rescale or softmax, from ``qr`` clamped at 0 (q >= 0)."""
        raise NotImplementedError

    @property
    def decode_least_active(self) -> bool:
        """True when the code's signal is a dip: decode from the least active units."""
        return False

    # ------------------------------------------------------------------ shared
    def encode_rows(self, x: "torch.Tensor") -> "torch.Tensor":
        # bounded memory for large inputs (e.g. multi-field codes on an evaluation set): the
        # [rows, n F] intermediates stay below _ENCODE_CHUNK_ELEMENTS; a training batch is one chunk
        width = self.n_out * self.max_fields * 2
        rows = max(1, _ENCODE_CHUNK_ELEMENTS // width)
        if x.shape[0] <= rows:
            return self.targets_from(self._neg_q_r(x))
        y = torch.empty(x.shape[0], self.n_out, dtype=torch.float32, device=self.device)
        for start in range(0, x.shape[0], rows):
            y[start : start + rows] = self.targets_from(self._neg_q_r(x[start : start + rows]))
        return y

    def unnormalised_rows(self, x: "torch.Tensor") -> "torch.Tensor":
        return self.unnormalised_from(self._neg_q_r(x).clamp_max(0.0))  # q >= 0 (matmul rounding aside)

    def _neg_q_r(self, x: "torch.Tensor") -> "torch.Tensor":
        """[M, 2, n]: (-q, -r) per cell for positions x [M, 2] through each cell's nearest field
        ([M, 1, n], -q only, for codes without a surround)."""
        t = self._t
        M, n, F = x.shape[0], self.n_out, self.max_fields
        if self.exact_distances:
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
        if not self.surround:
            return neg_q.unsqueeze(1)
        inv_s2 = torch.gather(t["inv_s2"].expand(M, n, F), -1, field.unsqueeze(-1)).squeeze(-1)
        return torch.stack([neg_q, neg_q * inv_s2], dim=1)

    def decode_rows(self, z: "torch.Tensor") -> "torch.Tensor":
        t = self._t
        k = min(DECODE_K, self.n_out)
        idx = torch.topk(z, k, dim=-1, largest=not self.decode_least_active).indices  # [M, k]
        if self.max_fields == 1 or k < 3:
            return t["centres"][idx, 0].mean(dim=1)
        return min_spread_points(t["centres"][idx], t["field_mask"][idx]).mean(dim=1)
