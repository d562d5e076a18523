"""Auditing: ``python -m pathint audit <id> [--stage STAGE]`` on a finished tiny Snakemake run.

Exit 0 when the re-run stages match bitwise (trajectories, recording and scoring by default; training with
``--stage train``); exit 1 naming the difference after a stored output is tampered with; exit 2 with a
one-line message for an unknown id.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from test_faults_runtime import CONFIG_ARGS, ENV, RES, clone_results, tiny_pipeline  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


def audit(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pathint", "audit", *args, "--config", CONFIG_ARGS[1]], cwd=work,
                          env=ENV, capture_output=True, text=True, timeout=600)


def test_audit_of_a_clean_run_matches(tiny_pipeline):
    work, ids = tiny_pipeline
    proc = audit(work, ids["dos"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for stage in ("checksums", "trajectories", "record", "score"):
        assert f"  {stage}: MATCH" in proc.stdout, stage
    assert "bitwise" in proc.stdout
    # the chain: every stage's files, code hash and inputs are shown
    for name in ("eval.h5", "model.pt", "activations.h5", "units.parquet", "code ", "input "):
        assert name in proc.stdout, name
    assert "changed since this ran" not in proc.stdout


def test_audit_retrains_bitwise(tiny_pipeline):
    work, ids = tiny_pipeline
    for nid in (ids["dos"], ids["diverging"]):
        proc = audit(work, nid, "--stage", "train")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "  train: MATCH (bitwise)" in proc.stdout


def test_tampered_outputs_are_named(tiny_pipeline, tmp_path):
    clean, ids = tiny_pipeline
    work = clone_results(clean, tmp_path / "work")
    nd = work / RES / "networks" / ids["dos"]
    units = pd.read_parquet(nd / "units.parquet")
    units.loc[3, "score_60"] += 0.5
    units.to_parquet(nd / "units.parquet", index=False)
    with h5py.File(nd / "activations.h5", "r+") as f:
        f["trained/activations"][0, 0] += 1.0
    proc = audit(work, ids["dos"], "--stage", "record", "--stage", "score")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "units.parquet:score_60: max |difference| 0.5" in out
    assert "activations.h5:trained/activations: max |difference| 1" in out
    assert "record: DIFFER" in out and "score: DIFFER" in out
    # the provenance checksums flag both files as changed after their stage wrote them
    assert "checksums: DIFFER" in out
    assert f"{RES}/networks/{ids['dos']}/units.parquet: sha256 differs" in out
    assert out.strip().splitlines()[-1].startswith("audit: differences in")


def test_a_changed_model_is_caught_by_the_checksums_and_by_retraining(tiny_pipeline, tmp_path):
    """Replacing model.pt by another network's weights: its provenance no longer matches."""
    clean, ids = tiny_pipeline
    work = clone_results(clean, tmp_path / "work")
    nd = work / RES / "networks" / ids["dos"]
    blob = torch.load(nd / "model.pt", weights_only=True)
    blob["state_dict"]["decoder.weight"] = blob["state_dict"]["decoder.weight"] * 1.001
    torch.save(blob, nd / "model.pt")
    proc = audit(work, ids["dos"], "--stage", "train")
    assert proc.returncode == 1
    assert "model.pt:state_dict.decoder.weight: max |difference|" in proc.stdout
    assert "model.pt: sha256 differs from the output recorded by train" in proc.stdout


def test_unknown_id_exits_2_with_one_line(tiny_pipeline):
    work, ids = tiny_pipeline
    proc = audit(work, "0123456789")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "pathint: network id '0123456789' is not in configs/faults.yaml; list them with `python -m pathint networks`"
    )
    assert proc.stdout == ""


def test_a_missing_output_is_reported(tiny_pipeline, tmp_path):
    clean, ids = tiny_pipeline
    work = clone_results(clean, tmp_path / "work")
    (work / RES / "networks" / ids["dos"] / "summary.json").unlink()
    shutil.rmtree(work / RES / "tables")
    proc = audit(work, ids["dos"], "--stage", "trajectories")
    assert proc.returncode == 1
    assert "summary.json  MISSING" in proc.stdout
    assert "summary.json: missing (an output of score in score.prov.json)" in proc.stdout


def _from_another_device(work: Path, path: Path, stage: str) -> None:
    """Make ``path`` look produced by ``stage`` on a GPU this machine lacks: the provenance records name that
    device and the file's new sha256 (the caller has changed it as another device's last bits would)."""
    from pathint.provenance import sha256_file

    digest = sha256_file(path)
    for prov_path in (work / RES).rglob("*.prov.json"):
        prov = json.loads(prov_path.read_text())
        for role in ("inputs", "outputs"):
            for name in prov.get(role) or {}:
                if (work / name).resolve() == path.resolve():
                    prov[role][name] = digest
        if prov_path.name == f"{stage}.prov.json" and prov_path.parent == path.parent:
            prov["device"] = "cuda (NVIDIA Imaginary 80GB)"
        prov_path.write_text(json.dumps(prov))


def test_a_network_stored_from_another_device_is_audited_across_devices(tiny_pipeline, tmp_path):
    """Recording: last-bit differences pass the cross-device tolerance, larger ones do not; training: a
    different-but-equivalent network is INCONCLUSIVE (exit 3) with the outcomes side by side. The other device
    is faked; on the real GPU the same audit matched bitwise (docs/performance.md, "GPU")."""
    clean, ids = tiny_pipeline
    work = clone_results(clean, tmp_path / "work")
    nd = work / RES / "networks" / ids["dos"]
    here = "cuda" if torch.cuda.is_available() else "cpu"  # a real GPU re-runs it, but is another model
    with h5py.File(nd / "activations.h5", "r+") as f:
        f["trained/activations"][...] += np.float32(3e-6)
    _from_another_device(work, nd / "activations.h5", "record")
    proc = audit(work, ids["dos"], "--stage", "record")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"record: MATCH (across devices: stored on cuda (NVIDIA Imaginary 80GB), re-run on {here}" in proc.stdout
    with h5py.File(nd / "activations.h5", "r+") as f:
        f["trained/activations"][0, 0] += np.float32(1e-2)
    _from_another_device(work, nd / "activations.h5", "record")
    proc = audit(work, ids["dos"], "--stage", "record")
    assert proc.returncode == 1 and "activations.h5:trained/activations: max |difference| 0.01" in proc.stdout, proc.stdout

    blob = torch.load(nd / "model.pt", weights_only=True)
    blob["state_dict"]["decoder.weight"] *= 1.01  # beyond the tolerance: a long run on another device
    blob["final_loss"] *= 1.001
    torch.save(blob, nd / "model.pt")
    _from_another_device(work, nd / "model.pt", "train")
    proc = audit(work, ids["dos"], "--stage", "train")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"re-running train on {here}" in out and "train: INCONCLUSIVE" in out
    assert "model.pt:final_loss: stored" in out and "model.pt:state_dict: largest difference" in out
    assert out.strip().splitlines()[-1] == "audit: no differences, but train could not be compared on this machine (see above)"
