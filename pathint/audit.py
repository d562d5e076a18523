"""Audit one network: show its chain of stages, re-execute stages into a temporary folder, compare.

    python -m pathint audit <network-id> [--stage trajectories|train|record|score|all] [--config config.yaml]

Each stage is re-run from the *stored* inputs of the stage (so a difference points at that stage alone)
with the code checked out now, on the kind of device that produced it where this machine has one (a GPU
stage on this machine's GPU), and compared bitwise first. On the same device model a bitwise difference is
a difference: CPU stages are deterministic, and so is CUDA training on the same GPU model (tests/test_cuda.py;
a whole pipeline's stages re-ran bitwise on an H100). A re-run on another model (provenance names it: "cpu
(<model>)", "cuda (<GPU>)") that is not bitwise equal is compared *across devices*, because float results
differ in their last bits between kernels and instruction sets (``bench/cuda_drift.py``, docs/performance.md):

* trajectories, recording and scoring: numbers within ``CROSS_DEVICE_TOLERANCE``; decoded positions come from
  a top-k over place cells, so near-ties decode to another cell: at most ``DECODE_FLIP_FRACTION`` of them
  may differ beyond it, and the mean decoding errors stored beside them by ``DECODED_ERROR_RTOL``.
* training: a short run may still agree within ``CROSS_DEVICE_TOLERANCE`` (20 steps on an AVX2 and an
  AVX-512 processor: weights 6e-8 apart). A real one cannot be checked across devices: the last-bit
  differences grow over the steps into a different network of the same quality (measured, H100 against CPU:
  after 6,000 steps the weights differ by half the largest weight while the final loss agrees to 2e-5 and
  the decoding error to 0.07 cm; for a 1,500-step network the logged loss differed by up to 0.4 % and the
  decoding error by 0.4 cm). Then what must still agree is compared (config, status, steps, readout,
  learning rates), losses, errors and weights are shown side by side, and the verdict is INCONCLUSIVE:
  audit on the device model that trained it for a bitwise answer.

Exit status: 0 when everything compared matches, 1 when something differs, 3 when nothing differs but a
stage was inconclusive.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import layout
from .config import experiment_networks, load_experiment
from .errors import ConfigError, DataError
from .provenance import cpu_name
from .stages import STAGES, network_files

#: The stages an audit can re-run, in pipeline order.
STAGES_AUDITED = ("trajectories", "train", "record", "score")
#: Across devices (module doc): float32 kernels differ in the last bits; rtol = atol.
CROSS_DEVICE_TOLERANCE = 1e-4
#: Across devices: fraction of decoded positions allowed to differ (top-k near-ties), and hence the relative
#: change allowed in the mean decoding error stored beside them (1e-3 of samples moving a few cm).
DECODE_FLIP_FRACTION = 1e-3
DECODED_ERROR_RTOL = 1e-2
#: Exit status when nothing differs but a stage could not be compared here (training across devices).
EXIT_INCONCLUSIVE = 3


@dataclass
class Comparison:
    stage: str
    differences: list[str] = field(default_factory=list)
    compared: int = 0

    notes: list[str] = field(default_factory=list)
    #: True when the stage's result itself could not be compared (training across devices).
    inconclusive: bool = False

    @property
    def ok(self) -> bool:
        return not self.differences

    def settle(self, near: "Comparison", cross_device: bool) -> bool:
        """Take the outcome comparison ``near`` (items that drift across devices) as this one's, unless it
        was made across devices and differs: then mark this comparison inconclusive and return False, and
        the caller notes the values side by side instead (module doc)."""
        if cross_device and not near.ok:
            self.inconclusive = True
            return False
        self.compared += near.compared
        self.differences += near.differences
        return True


def weights_gap(a: dict, b: dict) -> tuple[float, float] | None:
    """Largest absolute difference between two state dicts' common tensors, and that difference relative to
    the largest weight of ``a``; None when they share no tensor."""
    common = [k for k in a if k in b and a[k].shape == b[k].shape]
    if not common:
        return None
    gap = max(float((a[k].double() - b[k].double()).abs().max()) for k in common)
    scale = max(float(a[k].abs().max()) for k in common) or 1.0
    return gap, gap / scale


def _compare_arrays(
    name: str, a: np.ndarray, b: np.ndarray, tol: float, cmp: Comparison, rtol: float | None = None, flips: float = 0.0
) -> None:
    """Equal when every element is within ``atol = tol`` + ``rtol`` (default ``tol``) · |b|; ``flips``: the
    fraction of rows (first axis) allowed to differ by more (decoded positions across devices)."""
    cmp.compared += 1
    if a.shape != b.shape or a.dtype != b.dtype:
        cmp.differences.append(f"{name}: shape/dtype {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
        return
    if a.dtype.kind in "fc":
        if tol == 0 and not rtol:
            bad = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        else:
            bad = ~np.isclose(a, b, rtol=tol if rtol is None else rtol, atol=tol, equal_nan=True)
        bad_rows = bad.reshape(len(bad), -1).any(axis=1) if bad.ndim > 1 else bad
        if bad_rows.sum() > flips * bad_rows.size:
            diff = np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64))) if a.size else 0.0
            rule = f"tolerance {tol:g}" + (f" + {rtol:g} relative" if rtol is not None else "")
            allowed = f", {int(bad_rows.sum())} of {bad_rows.size} rows beyond it (at most {flips:g} allowed)" if flips else ""
            cmp.differences.append(f"{name}: max |difference| {diff:.3g} ({rule}{allowed})")
    elif not np.array_equal(a, b):
        cmp.differences.append(f"{name}: values differ")


def _attrs_equal(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind in "fc"))
    except (TypeError, ValueError):
        return bool(np.all(np.asarray(a) == np.asarray(b)))


def compare_hdf5(stored: Path, fresh: Path, tol: float, cmp: Comparison, cross_device: bool = False) -> None:
    """Every dataset and every attribute (except ``device``, which names where it ran) of two HDF5 files.

    ``cross_device``: datasets named ``decoded*`` may differ in ``DECODE_FLIP_FRACTION`` of their rows and
    float attributes (the mean decoding errors) by ``DECODED_ERROR_RTOL`` relative (module doc).
    """
    import h5py

    def contents(f: "h5py.File") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        data: dict[str, np.ndarray] = {}
        attrs: dict[str, Any] = {f"@{k}": v for k, v in f.attrs.items() if k != "device"}

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                data[name] = obj[()]
            attrs.update({f"{name}@{k}": v for k, v in obj.attrs.items()})

        f.visititems(visit)
        return data, attrs

    def read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        try:
            with h5py.File(path, "r") as f:
                return contents(f)
        except OSError as exc:
            raise DataError(f"{path}: cannot read HDF5 ({exc}); it is truncated or corrupt") from exc

    (a, attrs_a), (b, attrs_b) = read(stored), read(fresh)
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            cmp.differences.append(f"{stored.name}:{key}: present in only one of stored/re-run")
            continue
        flips = DECODE_FLIP_FRACTION if cross_device and key.rsplit("/", 1)[-1].startswith("decoded") else 0.0
        _compare_arrays(f"{stored.name}:{key}", np.asarray(a[key]), np.asarray(b[key]), tol, cmp, flips=flips)
    for key in sorted(set(attrs_a) | set(attrs_b)):
        cmp.compared += 1
        if key not in attrs_a or key not in attrs_b:
            cmp.differences.append(f"{stored.name}:{key}: attribute present in only one of stored/re-run")
        elif cross_device and all(isinstance(v, (float, np.floating)) for v in (attrs_a[key], attrs_b[key])):
            if not np.isclose(attrs_a[key], attrs_b[key], rtol=DECODED_ERROR_RTOL, atol=tol):
                cmp.differences.append(f"{stored.name}:{key}: {attrs_a[key]!r} vs {attrs_b[key]!r} "
                                       f"(tolerance {DECODED_ERROR_RTOL:g} relative)")
        elif not _attrs_equal(attrs_a[key], attrs_b[key]):
            cmp.differences.append(f"{stored.name}:{key}: {attrs_a[key]!r} vs {attrs_b[key]!r}")


def compare_model(stored: Path, fresh: Path, tol: float, cmp: Comparison, cross_device: bool = False) -> None:
    """Weights, readout parameters, status, steps and final loss of two ``model.pt`` files.

    Wall time, device, versions and ``resumed_from`` describe the run, not the result, and are not compared.
    ``cross_device``: weights, final loss and decoding error within ``tol`` count as a match (short runs);
    otherwise they are shown side by side in ``cmp.notes``, not compared, and ``cmp.inconclusive`` is set
    (module doc).
    """
    from .training import _load

    a, b = _load(stored), _load(fresh)
    for key in ("format", "network_id", "config", "status", "steps", "diverged_step"):
        cmp.compared += 1
        if a.get(key) != b.get(key):
            cmp.differences.append(f"model.pt:{key}: {a.get(key)!r} vs {b.get(key)!r}")
    near = Comparison(cmp.stage)
    for key in ("final_loss", "final_error_cm"):
        _compare_arrays(f"model.pt:{key}", np.float64(a.get(key, np.nan)), np.float64(b.get(key, np.nan)), tol, near)
    _compare_parts(a, b, ("state_dict",), tol, near)
    if not cmp.settle(near, cross_device):
        for key, unit in (("final_loss", ""), ("final_error_cm", " cm")):
            cmp.notes.append(f"model.pt:{key}: stored {a.get(key, float('nan')):.6g}{unit}, re-run {b.get(key, float('nan')):.6g}{unit} (not compared)")
        gap = weights_gap(a.get("state_dict", {}), b.get("state_dict", {}))
        if gap is not None:
            cmp.notes.append(f"model.pt:state_dict: largest difference {gap[0]:.3g}, {gap[1]:.3g} of the largest weight (not compared)")
    _compare_parts(a, b, ("readout",), tol, cmp)


def _compare_parts(a: dict, b: dict, parts: tuple[str, ...], tol: float, cmp: Comparison) -> None:
    import torch

    for part in parts:
        sa, sb = a.get(part, {}), b.get(part, {})
        for name in sorted(set(sa) | set(sb)):
            if name not in sa or name not in sb:
                cmp.differences.append(f"model.pt:{part}.{name}: present in only one")
                continue
            va, vb = sa[name], sb[name]
            if isinstance(va, torch.Tensor) and isinstance(vb, torch.Tensor):
                _compare_arrays(f"model.pt:{part}.{name}", va.numpy(), vb.numpy(), tol, cmp)
            else:
                cmp.compared += 1
                if va != vb:
                    cmp.differences.append(f"model.pt:{part}.{name}: {va!r} vs {vb!r}")


def _compare_frames(label: str, a, b, tol: float, cmp: Comparison, skip: tuple[str, ...] = ()) -> None:
    """Two tables column by column: numbers with ``tol``, anything else as text."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        cmp.differences.append(f"{label}: columns or row count differ ({a.shape} vs {b.shape})")
        return
    for col in a.columns:
        if col in skip:
            continue
        va, vb = a[col].to_numpy(), b[col].to_numpy()
        if va.dtype.kind in "fciu":
            _compare_arrays(f"{label}:{col}", va, vb, tol, cmp)
        else:
            cmp.compared += 1
            if not (a[col].astype(str) == b[col].astype(str)).all():
                cmp.differences.append(f"{label}:{col}: values differ")


def compare_train_log(stored: Path, fresh: Path, tol: float, cmp: Comparison, cross_device: bool = False) -> None:
    """``train_log.csv`` column by column, except ``seconds_per_step`` (a timing, never reproducible);
    ``cross_device``: loss and decoding error within ``tol`` count as a match, else they are shown in
    ``cmp.notes``, not compared, and ``cmp.inconclusive`` is set (module doc)."""
    import pandas as pd

    a, b = pd.read_csv(stored), pd.read_csv(fresh)
    near = Comparison(cmp.stage)
    _compare_frames(stored.name, a, b, tol, near, skip=("seconds_per_step",))
    if cmp.settle(near, cross_device):
        return
    outcomes = ("loss", "decoding_error_cm")
    _compare_frames(stored.name, a, b, tol, cmp, skip=("seconds_per_step", *outcomes))
    if len(a) == len(b) and set(outcomes) <= set(a.columns) & set(b.columns):
        rel = (a["loss"] - b["loss"]).abs().max() / a["loss"].abs().max()
        err = (a["decoding_error_cm"] - b["decoding_error_cm"]).abs().max()
        cmp.notes.append(f"{stored.name}: logged loss differs by up to {rel:.2g} of its largest value, decoding error "
                         f"by up to {err:.3g} cm (not compared)")


def rerun_device(prov: dict[str, Any] | None) -> tuple[str, bool]:
    """Where to re-run a stage whose provenance is ``prov``, and whether that is the same device model.

    A stage stored from a GPU re-runs on this machine's GPU when it has one, everything else on the CPU.
    Provenance written before devices carried their model (plain "cpu") counts as this processor.
    """
    stored = str((prov or {}).get("device") or "cpu")
    if not stored.startswith("cuda"):
        return "cpu", stored in ("cpu", cpu_name())
    import torch

    from .precision import device_name

    if torch.cuda.is_available():
        return "cuda", stored == device_name("cuda")
    return "cpu", False


def _prov(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def verify_checksums(provs: dict[str, Path], base_dir: Path, cmp: Comparison) -> None:
    """Each file named in a provenance record (input or output) still has the sha256 recorded there.

    A mismatch means the file changed after the stage wrote or read it (edited, corrupted, or produced by
    another run), so the chain of stages no longer says where the result came from.
    """
    from .provenance import sha256_file

    for stage, prov_path in provs.items():
        prov = _prov(prov_path)
        if prov is None:
            cmp.compared += 1
            cmp.differences.append(f"{prov_path.name}: provenance record missing or unreadable")
            continue
        for role in ("outputs", "inputs"):
            for name, digest in sorted((prov.get(role) or {}).items()):
                path = Path(name) if Path(name).is_absolute() else base_dir / name
                cmp.compared += 1
                if not path.exists():
                    cmp.differences.append(f"{path}: missing (an {role[:-1]} of {stage} in {prov_path.name})")
                elif sha256_file(path) != digest:
                    cmp.differences.append(
                        f"{path}: sha256 differs from the {role[:-1]} recorded by {stage} in {prov_path.name} "
                        "(changed after that stage ran)"
                    )


def compare_table(stored: Path, fresh: Path, tol: float, cmp: Comparison, cross_device: bool = False) -> None:
    import pandas as pd

    _compare_frames(stored.name, pd.read_parquet(stored), pd.read_parquet(fresh), tol, cmp)


def compare_summary(stored: Path, fresh: Path, tol: float, cmp: Comparison, cross_device: bool = False) -> None:
    a, b = json.loads(stored.read_text()), json.loads(fresh.read_text())
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        cmp.compared += 1
        if isinstance(va, float) and isinstance(vb, float):
            if not (np.isclose(va, vb, rtol=tol, atol=tol) or (np.isnan(va) and np.isnan(vb)) or va == vb):
                cmp.differences.append(f"summary.json:{key}: {va!r} vs {vb!r}")
        elif va != vb:
            cmp.differences.append(f"summary.json:{key}: {va!r} vs {vb!r}")


def compare_data(stored: Path, fresh: Path, tol: float, cmp: Comparison, cross_device: bool = False) -> None:
    """A trajectory set: generated from a seed, the same on any device (no decoded positions)."""
    compare_hdf5(stored, fresh, tol, cmp)


#: How each kind of stage output (a file key of pathint.layout) is compared with its re-run.
COMPARE: dict[str, Callable[[Path, Path, float, Comparison, bool], None]] = {
    "h5": compare_data,
    "model": compare_model,
    "train_log": compare_train_log,
    "activations": compare_hdf5,
    "ratemaps": compare_data,
    "units": compare_table,
    "summary": compare_summary,
}


def _stage_files(results: Path, network_id: str, cfg: dict, name: str) -> dict[str, Path]:
    """Every file of stage ``name`` for one network, by key (the evaluation set for trajectories)."""
    if name == "trajectories":
        return {"h5": Path(layout.shared_file(results, "eval")), "prov": Path(layout.shared_file(results, "eval_prov"))}
    return network_files(results, network_id, STAGES[name], cfg)


def describe_chain(network_id: str, cfg: dict, results: Path, out: Callable[[str], None]) -> None:
    """Print each stage's files, provenance, timings and key figures."""
    out(f"network {network_id}")
    out("  config: " + json.dumps(cfg, sort_keys=True))
    for name in STAGES_AUDITED:
        st = STAGES[name]
        files = _stage_files(results, network_id, cfg, name)
        prov = _prov(files[st.prov])
        out(f"  [{name}]")
        for p in (files[k] for k in st.outputs):
            out(f"    {p}  " + (f"{p.stat().st_size:,} bytes" if p.exists() else "MISSING"))
        if prov is None:
            out("    provenance: MISSING")
            continue
        now = st.code_hash()
        code = prov.get("code_hash")
        out(
            f"    code {code}" + ("" if code == now else f" (code now {now}: changed since this ran)")
            + f", device {prov.get('device')}, wall {prov.get('wall_time_s') or 0:.1f} s, finished {prov.get('finished_utc')}"
        )
        out("    versions: " + ", ".join(f"{k} {v}" for k, v in sorted(prov.get("versions", {}).items())))
        for path, digest in sorted(prov.get("inputs", {}).items()):
            out(f"    input {path} sha256 {digest[:16]}…")
    summary = Path(layout.network_file(results, "summary", network_id))
    if summary.exists():
        s = json.loads(summary.read_text())
        keys = ("status", "eval_error_cm", "eval_error_cm_untrained", "path_integrates", "max_score_60", "max_score_60_untrained")
        out("  key figures: " + ", ".join(f"{k}={s.get(k)!r}" for k in keys))


def audit(
    network_id: str,
    config_path: str | Path = "config.yaml",
    stages: tuple[str, ...] = ("trajectories", "record", "score"),
    base_dir: str | Path = ".",
    keep: bool = False,
    out: Callable[[str], None] = print,
) -> int:
    """Describe and re-run ``stages`` of one network; return 0 if every re-run matches, else 1."""
    from .precision import device_name

    config = load_experiment(config_path)
    nets = {n.id: n for n in experiment_networks(config, base_dir)}
    if network_id not in nets:
        close = [i for i in nets if i.startswith(network_id[:3])]
        raise ConfigError(
            f"network id {network_id!r} is not in {config_path}" + (f"; similar ids: {', '.join(close)}" if close else "")
            + "; list them with `python -m pathint networks`"
        )
    unknown = [s for s in stages if s not in STAGES_AUDITED]
    if unknown:
        raise ConfigError(f"unknown stage(s) {', '.join(map(repr, unknown))}; expected one of {', '.join(STAGES_AUDITED)} or all")
    net = nets[network_id]
    cfg = net.config.to_dict()
    results = Path(base_dir) / config["results"]
    describe_chain(network_id, cfg, results, out)
    box = {"box_width": net.config.box_width, "box_height": net.config.box_height, "periodic": net.config.periodic}
    tmp = Path(tempfile.mkdtemp(prefix=f"pathint-audit-{network_id}-"))
    comparisons = []
    checks = Comparison("checksums")
    verify_checksums(
        {name: _stage_files(results, network_id, cfg, name)[STAGES[name].prov] for name in STAGES_AUDITED},
        Path(base_dir),
        checks,
    )
    comparisons.append(checks)
    out(f"  checksums: {'MATCH' if checks.ok else f'DIFFER ({len(checks.differences)} of {checks.compared} files)'} "
        "(every file against the sha256 in the provenance records)")
    for d in checks.differences[:20]:
        out(f"    {d}")
    try:
        for name in stages:
            st = STAGES[name]
            stored = _stage_files(results, network_id, cfg, name)
            # outputs go to a folder of their own per stage; inputs are the stored ones
            fresh = {k: (tmp / name / p.name if k in st.outputs + (st.prov,) else p) for k, p in stored.items()}
            prov = _prov(stored[st.prov])
            device, same = rerun_device(prov)
            out(f"re-running {name} on {device} into {tmp / name} …")
            st.run(network_id=network_id, network=cfg, files=fresh, defines=st.defines(config, box),
                   runtime=dict(config["training"], device=device))

            def compare(tol: float, cmp: Comparison, cross: bool) -> None:
                for key in st.outputs:
                    COMPARE[key](stored[key], fresh[key], tol, cmp, cross)

            # bitwise first: a re-run on another device often still matches exactly (same instruction set)
            cmp = Comparison(name)
            compare(0.0, cmp, False)
            where = f"stored on {(prov or {}).get('device')}, re-run on {device_name(device)}"
            if cmp.ok:
                how = "bitwise" + ("" if same else f", although {where}")
            elif same:
                how = "bitwise"
            else:
                cmp = Comparison(name)
                compare(CROSS_DEVICE_TOLERANCE, cmp, True)
                how = f"across devices: {where}; pathint/audit.py says how"
            comparisons.append(cmp)
            verdict = "MATCH" if cmp.ok else f"DIFFER ({len(cmp.differences)} of {cmp.compared} items)"
            if cmp.ok and cmp.inconclusive:
                verdict = "INCONCLUSIVE (what must agree does; the result itself cannot be compared across devices)"
            out(f"  {name}: {verdict} ({how})")
            for d in cmp.differences[:20] + cmp.notes:
                out(f"    {d}")
    finally:
        if keep:
            out(f"re-run outputs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    bad = [c.stage for c in comparisons if not c.ok]
    unsure = [c.stage for c in comparisons if c.ok and c.inconclusive]
    if bad:
        out(f"audit: differences in {', '.join(bad)}")
        return 1
    if unsure:
        out(f"audit: no differences, but {', '.join(unsure)} could not be compared on this machine (see above)")
        return EXIT_INCONCLUSIVE
    out("audit: all re-run stages match the stored results")
    return 0
