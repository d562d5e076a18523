"""Shared pieces of the figure modules: inputs, statistics, styling and output.

Every figure reads only the aggregate tables (``networks``, ``units``, ``examples``) bundled in
:class:`Tables`; nothing here touches per-network runs. The statistics are small pure functions so
they can be tested on their own: a bootstrap CI of a fraction, the survival function of a Gaussian
KDE, the KDE mode, the DoS theory period.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from .. import readouts
from ..errors import ConfigError, DataError
from ..io import atomic_path
from ..seeds import derive

# ---------------------------------------------------------------------------------------------
# parameters

#: Readouts of the Fig. 2 groups, in the paper's order (SPEC §6).
PAPER_READOUTS: tuple[str, ...] = (
    "cartesian",
    "high_dim_cartesian",
    "high_dim_polar",
    "gaussian",
    "difference_of_gaussians",
    "difference_of_softmaxes",
    "softmax_of_differences",
)
#: Their group labels (the readout registry's; an unknown name above fails at import).
PAPER_GROUPS: tuple[str, ...] = tuple(readouts.label(n) for n in PAPER_READOUTS)

#: Defaults for every key the figure modules read; ``resolve_params`` fills missing keys from here.
DEFAULT_PARAMS: dict[str, Any] = {
    "groups": list(PAPER_GROUPS),
    "decoding_threshold_cm": 10.0,
    "grid_threshold": 0.8,
    "high_threshold": 1.2,
    "bootstrap": 1000,
    "seed": 0,
    "ci_level": 0.95,
    "survival_range": [-0.75, 1.2],
    # Units of networks that fail the task are excluded from score distributions (the original mixed
    # them in: a flaw, SPEC §8). Set False to reproduce the original pooling.
    "only_path_integrating": True,
    "fig2c_score_ranges": [[-1.0, 0.3], [0.3, 0.8], [0.8, 1.2], [1.2, 2.5]],
    "fig3_sweep": "dos_sigma",
    "fig4a_thresholds": [0.3, 0.75, 0.8, 1.15],
    # the Fig. 2 groups (main sweeps), not the special DoS sweeps
    "fig4b_groups": [readouts.label("difference_of_gaussians"), readouts.label("difference_of_softmaxes")],
    "fig4b_sigma": 0.12,
    "fig4b_surround": 2.0,
    "fig4c_n_place": 512,
    "fig4c_resolution": 64,
    "fig4c_box_width": 2.2,
    "fig5_single_sweep": "dos_ideal",
    "fig5_multi_sweep": "dos_multi_fields",
    "fig5_top_maps": 4,
    "fig6_sweep": "dos_architectures",  # None: every network in the tables
    "trajectory_count": 3,
    "dpi": 200,
}


def resolve_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``DEFAULT_PARAMS`` overridden by ``params``; numeric thresholds checked so typos fail early."""
    out = dict(DEFAULT_PARAMS)
    out.update(dict(params or {}))
    for key in ("decoding_threshold_cm", "grid_threshold", "high_threshold"):
        try:
            out[key] = float(out[key])
        except (TypeError, ValueError):
            raise ConfigError(f"figure params: {key}={out[key]!r} is not a number") from None
    if int(out["bootstrap"]) < 1:
        raise ConfigError(f"figure params: bootstrap={out['bootstrap']!r} must be a positive number of resamples")
    lo, hi = out["survival_range"]
    if not float(lo) < float(hi):
        raise ConfigError(f"figure params: survival_range={out['survival_range']!r} needs low < high")
    return out


# ---------------------------------------------------------------------------------------------
# inputs

NETWORK_COLUMNS = ("id", "group", "sweeps", "readout", "place_cell_rf", "surround_scale", "architecture",
                   "activation", "status", "eval_error_cm", "max_score_60", "participation_ratio_ratemaps")
UNIT_COLUMNS = ("id", "score_60", "score_60_untrained", "period_m")


@dataclass
class Tables:
    """The aggregate tables every figure reads.

    ``networks``: one row per network; ``units``: one row per unit of every finished network;
    ``examples``: ``{network id: {dataset name: array}}`` as returned by :func:`load_examples`.
    Empty frames may lack columns (they are added); frames with rows must carry the columns the
    figures use, otherwise :class:`DataError` names the missing ones.
    """

    networks: pd.DataFrame
    units: pd.DataFrame
    examples: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.networks = _with_columns(self.networks, NETWORK_COLUMNS, "networks table")
        self.units = _with_columns(self.units, UNIT_COLUMNS, "units table")
        self.examples = dict(self.examples or {})

    @classmethod
    def empty(cls) -> "Tables":
        return cls(pd.DataFrame(), pd.DataFrame(), {})


def _with_columns(df: pd.DataFrame | None, required: Sequence[str], what: str) -> pd.DataFrame:
    df = pd.DataFrame() if df is None else df
    missing = [c for c in required if c not in df.columns]
    if missing and len(df):
        raise DataError(f"{what}: missing column(s) {', '.join(missing)}")
    if not missing:
        return df  # no copy: the units table can hold millions of rows
    df = df.copy()
    for c in missing:
        df[c] = pd.Series(dtype=object if c in ("id", "group", "sweeps", "readout", "status") else float)
    return df


def load_tables(networks_path: str | Path, units_path: str | Path, examples_path: str | Path | None) -> Tables:
    """Read ``networks.parquet``, ``units.parquet`` and (optionally) ``examples.h5``."""
    frames = []
    for p in (networks_path, units_path):
        try:
            frames.append(pd.read_parquet(p))
        except FileNotFoundError:
            raise DataError(f"{p}: file not found; run the aggregate stage first") from None
        except Exception as exc:  # pyarrow raises several types for truncated files
            raise DataError(f"{p}: cannot read parquet table ({exc}); delete it and rerun the aggregate stage") from None
    examples = load_examples(examples_path) if examples_path is not None else {}
    return Tables(frames[0], frames[1], examples)


EXAMPLE_REQUIRED = ("ratemaps", "units", "score_60")
EXAMPLE_OPTIONAL = ("untrained_ratemaps", "untrained_score_60", "decoded", "true", "initial")
EXAMPLES_FORMAT = "pathint-examples-1"


def _check_example(nid: str, d: Mapping[str, Any], where: str) -> dict[str, np.ndarray]:
    unknown = sorted(set(d) - set(EXAMPLE_REQUIRED) - set(EXAMPLE_OPTIONAL))
    if unknown:
        raise DataError(f"{where}: network {nid}: unknown dataset(s) {unknown}; allowed "
                        f"{list(EXAMPLE_REQUIRED + EXAMPLE_OPTIONAL)}")
    missing = [k for k in EXAMPLE_REQUIRED if k not in d]
    if missing:
        raise DataError(f"{where}: network {nid}: missing dataset(s) {missing}")
    out = {k: np.asarray(v) for k, v in d.items()}

    def bad(key: str, expected: str) -> DataError:
        return DataError(f"{where}: network {nid}: dataset '{key}' has shape {out[key].shape}, expected {expected}")

    k = out["ratemaps"].shape[0] if out["ratemaps"].ndim == 3 else -1
    if out["ratemaps"].ndim != 3 or out["ratemaps"].shape[1] != out["ratemaps"].shape[2]:
        raise bad("ratemaps", "(k, N, N)")
    for key in ("units", "score_60"):
        if out[key].shape != (k,):
            raise bad(key, f"({k},)")
    if ("untrained_ratemaps" in out) != ("untrained_score_60" in out):
        raise DataError(f"{where}: network {nid}: 'untrained_ratemaps' and 'untrained_score_60' go together")
    if "untrained_ratemaps" in out:
        ku = out["untrained_ratemaps"].shape[0]
        if out["untrained_ratemaps"].ndim != 3:
            raise bad("untrained_ratemaps", "(k, N, N)")
        if out["untrained_score_60"].shape != (ku,):
            raise bad("untrained_score_60", f"({ku},)")
    traj = [key for key in ("decoded", "true", "initial") if key in out]
    if traj and len(traj) != 3:
        raise DataError(f"{where}: network {nid}: 'decoded', 'true' and 'initial' go together (got {traj})")
    if traj:
        if out["true"].ndim != 3 or out["true"].shape[-1] != 2:
            raise bad("true", "(m, T, 2)")
        if out["decoded"].shape != out["true"].shape:
            raise bad("decoded", f"{out['true'].shape} like 'true'")
        if out["initial"].shape != (out["true"].shape[0], 2):
            raise bad("initial", f"({out['true'].shape[0]}, 2)")
    for key in ("ratemaps", "score_60", "untrained_ratemaps", "untrained_score_60", "decoded", "true", "initial"):
        if key in out:
            out[key] = out[key].astype(np.float32)
    out["units"] = out["units"].astype(np.int64)
    return out


def write_examples(path: str | Path, data: Mapping[str, Mapping[str, Any]]) -> None:
    """Write example rate maps and trajectories, one HDF5 group per network id, atomically.

    Per network: ``ratemaps`` (k,N,N) float32, ``units`` (k,) int, ``score_60`` (k,); optionally
    ``untrained_ratemaps`` (k',N,N) with ``untrained_score_60`` (k',), and ``decoded``/``true`` (m,T,2)
    with ``initial`` (m,2). Shapes are checked before anything is written.
    """
    import h5py

    checked = {str(nid): _check_example(str(nid), d, str(path)) for nid, d in data.items()}
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = EXAMPLES_FORMAT
            for nid, d in checked.items():
                g = f.create_group(nid)
                for key, arr in d.items():
                    g.create_dataset(key, data=arr, compression="gzip" if arr.size > 1024 else None)


def load_examples(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Read a file written by :func:`write_examples`: ``{network id: {dataset: array}}``."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; run the aggregate stage first")
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
            if isinstance(fmt, bytes):
                fmt = fmt.decode()
            if fmt != EXAMPLES_FORMAT:
                raise DataError(f"{path}: attribute format={fmt!r}, expected {EXAMPLES_FORMAT!r}")
            raw = {nid: {k: g[k][()] for k in g.keys()} for nid, g in f.items()}
    except OSError as exc:
        raise DataError(f"{path}: cannot read HDF5 file ({exc}); delete it and rerun the aggregate stage") from None
    return {nid: _check_example(nid, d, str(path)) for nid, d in raw.items()}


# ---------------------------------------------------------------------------------------------
# selections and parsing

def parse_scalar(value: Any) -> float | tuple[float, float]:
    """A NetworkConfig scalar as stored in the tables: a number, or a uniform range as a tuple.

    Accepts floats, numeric strings, ``{"uniform": [a, b]}`` dicts and their JSON strings.
    """
    if isinstance(value, Mapping):
        try:
            a, b = value["uniform"]
            return float(a), float(b)
        except (KeyError, TypeError, ValueError):
            raise DataError(f"cannot read value {value!r}: expected a number or {{\"uniform\": [a, b]}}") from None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                return parse_scalar(json.loads(text))
            except json.JSONDecodeError:
                raise DataError(f"cannot read value {value!r}: not valid JSON") from None
        try:
            return float(text)
        except ValueError:
            raise DataError(f"cannot read value {value!r}: expected a number or {{\"uniform\": [a, b]}}") from None
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"cannot read value {value!r}: expected a number or {{\"uniform\": [a, b]}}") from None


def fixed_value(value: Any) -> float:
    """The number of a fixed scalar; NaN for a uniform range (so it matches no fixed value)."""
    v = parse_scalar(value)
    return math.nan if isinstance(v, tuple) else v


def fixed_column(df: pd.DataFrame, column: str) -> np.ndarray:
    """Column of fixed scalars as floats (NaN where a value is a uniform range or absent)."""
    if column not in df.columns:
        return np.full(len(df), np.nan)
    return np.array([fixed_value(v) for v in df[column]], dtype=float)


def select_sweep(df: pd.DataFrame, sweep: str | None) -> pd.DataFrame:
    """Rows whose ``sweeps`` (``;``-joined names) list ``sweep``; all rows when ``sweep`` is None."""
    if sweep is None:
        return df
    if len(df) == 0:
        return df
    mask = df["sweeps"].fillna("").astype(str).map(lambda s: sweep in s.split(";")).to_numpy(bool)
    return df[mask]


def path_integrates(networks: pd.DataFrame, threshold_cm: float) -> np.ndarray:
    """Boolean per network: evaluation decoding error below ``threshold_cm`` (NaN/diverged → False)."""
    err = pd.to_numeric(networks["eval_error_cm"], errors="coerce").to_numpy(float)
    ok = networks["status"].astype(str).to_numpy() == "ok" if len(networks) else np.zeros(0, bool)
    with np.errstate(invalid="ignore"):
        return ok & np.isfinite(err) & (err < threshold_cm)


def units_of(units: pd.DataFrame, networks: pd.DataFrame) -> pd.DataFrame:
    """Units that belong to the given networks."""
    if len(units) == 0 or len(networks) == 0:
        return units.iloc[:0]
    return units[units["id"].isin(set(networks["id"]))]


def score_units(tables: Tables, networks: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Units whose scores enter distributions: those of ``networks`` that path integrate (by default)."""
    params = resolve_params(params)
    if params["only_path_integrating"] and len(networks):
        networks = networks[path_integrates(networks, params["decoding_threshold_cm"])]
    return units_of(tables.units, networks)


def group_networks(networks: pd.DataFrame, group: str) -> pd.DataFrame:
    return networks[networks["group"] == group] if len(networks) else networks


# ---------------------------------------------------------------------------------------------
# statistics

def bootstrap_rng(params: Mapping[str, Any], *extra: int) -> np.random.Generator:
    """Generator for bootstrap resampling, derived from ``params['seed']`` (no global RNG)."""
    return np.random.default_rng(derive(int(params.get("seed", 0)), "figures_bootstrap", *extra))


def bootstrap_fraction_ci(successes: Iterable[bool] | np.ndarray, n_boot: int, rng: np.random.Generator,
                          level: float = 0.95) -> tuple[float, float, float]:
    """Fraction of True values with a percentile bootstrap CI: ``(fraction, low, high)``.

    Resampling n Bernoulli outcomes with replacement gives a Binomial(n, p̂) count, so the bootstrap
    distribution is drawn directly from it (exact, O(n_boot) instead of O(n·n_boot)). NaNs when empty.
    """
    x = np.asarray(list(successes) if not isinstance(successes, np.ndarray) else successes, dtype=bool)
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    p = float(x.mean())
    boot = rng.binomial(n, p, size=int(n_boot)) / n
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return p, float(lo), float(hi)


def kde_bandwidth(samples: np.ndarray) -> float:
    """Scott's-rule bandwidth of scipy's 1-D ``gaussian_kde``: std (ddof=1) · n^(-1/5)."""
    x = np.asarray(samples, float)
    if x.size < 2:
        return 0.0
    return float(np.std(x, ddof=1) * x.size ** (-1.0 / 5.0))


def _finite(samples: Any) -> np.ndarray:
    x = np.asarray(samples, float).ravel()
    return x[np.isfinite(x)]


def kde_survival(samples: Any, x: np.ndarray, max_exact: int = 20000) -> np.ndarray:
    """1 − CDF of a Gaussian KDE (Scott bandwidth) of ``samples`` at ``x``.

    Fewer than two samples or zero variance give the empirical survival function P(sample > x);
    no samples give NaN. Above ``max_exact`` samples the kernels are centred on a 4096-bin histogram
    of the data (error < bin width / 2, far below the bandwidth), so millions of units stay cheap.
    """
    x = np.asarray(x, float)
    s = _finite(samples)
    if s.size == 0:
        return np.full(x.shape, np.nan)
    bw = kde_bandwidth(s)
    if bw <= 0:
        return (s[None, :] > x.reshape(-1, 1)).mean(axis=1).reshape(x.shape)
    if s.size > max_exact:
        counts, edges = np.histogram(s, bins=4096)
        keep = counts > 0
        centres = 0.5 * (edges[:-1] + edges[1:])[keep]
        weights = counts[keep] / s.size
    else:
        centres, weights = s, np.full(s.size, 1.0 / s.size)
    # ndtr((c - x)/bw) = P(kernel at c exceeds x); chunk over x to bound memory.
    out = np.empty(x.size)
    flat = x.ravel()
    step = max(1, 2_000_000 // max(centres.size, 1))
    for i in range(0, flat.size, step):
        z = (centres[None, :] - flat[i:i + step, None]) / bw
        out[i:i + step] = special.ndtr(z) @ weights
    return out.reshape(x.shape)


def kde_density(samples: Any, x: np.ndarray) -> np.ndarray:
    """Gaussian KDE density of ``samples`` at ``x`` (NaN if fewer than 2 samples or zero variance)."""
    s = _finite(samples)
    x = np.asarray(x, float)
    if s.size < 2 or np.ptp(s) == 0:
        return np.full(x.shape, np.nan)
    return stats.gaussian_kde(s)(x.ravel()).reshape(x.shape)


def kde_mode(samples: Any, n_grid: int = 2048) -> float:
    """Location of the maximum of the Gaussian KDE of ``samples``.

    One sample (or all equal) returns that value; none returns NaN.
    """
    s = _finite(samples)
    if s.size == 0:
        return math.nan
    if s.size < 2 or np.ptp(s) == 0:
        return float(np.median(s))
    bw = kde_bandwidth(s)
    grid = np.linspace(s.min() - 3 * bw, s.max() + 3 * bw, n_grid)
    dens = stats.gaussian_kde(s)(grid)
    return float(grid[int(np.argmax(dens))])


def dos_theory_period(sigma: Any, s: Any) -> np.ndarray:
    """Grid period predicted for a DoS readout: λ = (2/√3)·2π/k*, k* from
    :func:`pathint.readouts.dos_peak_wavenumber` (k*² = 4 ln s / (σ²(s² − 1))).

    ``s`` in NFL's convention (ratio of standard deviations). ≈ 7.55σ at s = 2.
    """
    return (2.0 / np.sqrt(3.0)) * 2.0 * np.pi / readouts.dos_peak_wavenumber(sigma, s)


# ---------------------------------------------------------------------------------------------
# styling and output

_READOUT_COLOURS = {
    # fixed so a group keeps its colour across figures; DoS stands out as the only grid-producing code
    "cartesian": "#0173b2",
    "high_dim_cartesian": "#56b4e9",
    "high_dim_polar": "#029e73",
    "gaussian": "#949494",
    "difference_of_gaussians": "#6a3d9a",
    "difference_of_softmaxes": "#d55e00",
    "softmax_of_differences": "#cc78bc",
    "general_difference_of_gaussians": "#ca9161",
}
#: Colours of the readouts' group labels; other labels (new readouts, special sweeps) take extra colours.
_PAPER_COLOURS = {readouts.label(n): c for n, c in _READOUT_COLOURS.items()}
_EXTRA_COLOURS = ("#fbafe4", "#ece133", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22", "#1f77b4", "#9467bd")


def group_colours(groups: Iterable[str]) -> dict[str, str]:
    """Consistent colours: paper groups fixed, other labels take extra colours in the order given."""
    out: dict[str, str] = {}
    extra = 0
    for g in groups:
        if g in out:
            continue
        if g in _PAPER_COLOURS:
            out[g] = _PAPER_COLOURS[g]
        else:
            out[g] = _EXTRA_COLOURS[extra % len(_EXTRA_COLOURS)]
            extra += 1
    return out


def style_rc() -> dict[str, Any]:
    """seaborn "ticks" style at paper scale, every font ≥ 8 pt."""
    import seaborn as sns

    rc = dict(sns.axes_style("ticks"))
    rc.update(sns.plotting_context("paper"))
    rc.update({
        "font.size": 9, "axes.labelsize": 9, "axes.titlesize": 9, "xtick.labelsize": 8,
        "ytick.labelsize": 8, "legend.fontsize": 8, "legend.title_fontsize": 8, "figure.titlesize": 10,
        "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
        "image.interpolation": "nearest", "pdf.fonttype": 42, "svg.fonttype": "none",
    })
    return rc


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply :func:`style_rc` while a figure is built, leaving global matplotlib state untouched."""
    import matplotlib

    with matplotlib.rc_context(style_rc()):
        yield


def new_figure(width: float, height: float):
    """A pyplot-free, constrained-layout Figure (no global figure registry, no GUI backend)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def no_networks(ax, message: str = "no networks") -> None:
    """Replace a panel's content by an explicit note (empty selections never crash a figure)."""
    ax.cla()
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=9,
            color="0.35", wrap=True)


def panel_label(ax, label: str) -> None:
    """Bold panel letter at the top-left corner, outside the axes."""
    ax.text(-0.02, 1.02, label, transform=ax.transAxes, fontsize=11, fontweight="bold", ha="right", va="bottom")


def show_ratemap(ax, ratemap: np.ndarray, title: str | None = None) -> None:
    """Rate map with first array axis = x drawn horizontally; empty (NaN) bins light grey."""
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
    ax.imshow(np.ma.masked_invalid(np.asarray(ratemap, float).T), origin="lower", cmap=cmap,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title is not None:
        ax.set_title(title, fontsize=8, pad=2)


def wrap_label(label: str, width: int = 11) -> str:
    """Break a group label over lines so tick labels stay narrow."""
    import textwrap

    return "\n".join(textwrap.wrap(label, width)) or label


def save_figure(fig, png_path: str | Path, pdf_path: str | Path | None = None, dpi: int = 200) -> None:
    """Write the figure as PNG (and PDF) atomically; formats passed explicitly (temp names lack suffixes)."""
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    if pdf_path is not None:
        with atomic_path(pdf_path) as tmp:
            fig.savefig(tmp, format="pdf")


def count_text(counts: Mapping[str, int]) -> str:
    """``"A: 3, B: 0"`` for captions."""
    return ", ".join(f"{k}: {v}" for k, v in counts.items()) if counts else "none"
