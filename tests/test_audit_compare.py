"""The audit's comparisons (pathint/audit.py): bitwise on the same device, outcome tolerances across devices.

Fast unit tests on hand-made files; the end-to-end audit runs in tests/test_audit.py.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from pathint import audit
from pathint.audit import Comparison, compare_hdf5, compare_model, compare_train_log, rerun_device
from pathint.provenance import cpu_name


def _h5(path, act, dec, err):
    with h5py.File(path, "w") as f:
        f.attrs["steps"] = 20
        f.create_dataset("trained/activations", data=act)
        f.create_dataset("trained/decoded", data=dec)
        f["trained"].attrs["eval_error_cm"] = err


@pytest.fixture
def recording(tmp_path):
    g = np.random.default_rng(0)
    act, dec = g.random((2000, 16), dtype=np.float32), g.random((2000, 2), dtype=np.float32)
    _h5(tmp_path / "stored.h5", act, dec, 7.6756)
    return tmp_path, act, dec


def _compare(tmp_path, cross, act, dec, err):
    _h5(tmp_path / "fresh.h5", act, dec, err)
    cmp = Comparison("record")
    compare_hdf5(tmp_path / "stored.h5", tmp_path / "fresh.h5", audit.CROSS_DEVICE_TOLERANCE if cross else 0.0, cmp, cross)
    return cmp


def test_cross_device_recording_allows_last_bit_noise_and_rare_decoding_flips(recording):
    tmp_path, act, dec = recording
    near = act + np.float32(5e-6)
    flipped = dec.copy()
    flipped[17] += 0.05  # one near-tie decoded to a neighbouring place cell: 1 of 2000 rows
    cmp = _compare(tmp_path, True, near, flipped, 7.6755)
    assert cmp.ok, cmp.differences
    # the same files compared bitwise (same device) differ, naming each item
    cmp = _compare(tmp_path, False, near, flipped, 7.6755)
    assert {d.split(":")[1] for d in cmp.differences} == {"trained/activations", "trained/decoded", "trained@eval_error_cm"}


def test_cross_device_recording_still_catches_real_differences(recording):
    tmp_path, act, dec = recording
    flipped = dec.copy()
    flipped[:5] += 0.05  # 5 of 2000 rows > DECODE_FLIP_FRACTION
    cmp = _compare(tmp_path, True, act, flipped, 7.6756)
    assert len(cmp.differences) == 1 and "5 of 2000 rows" in cmp.differences[0], cmp.differences
    assert not _compare(tmp_path, True, act + np.float32(1e-3), dec, 7.6756).ok
    assert not _compare(tmp_path, True, act, dec, 7.9).ok


def _model(path, weights, final_loss=6.1, final_error_cm=4.6, status="ok", readout_scale=1.0):
    torch.save({"format": "pathint-network-v1", "network_id": "abc", "config": {"n_grid": 4}, "status": status,
                "steps": 100, "diverged_step": None, "final_loss": final_loss, "final_error_cm": final_error_cm,
                "state_dict": {"cell.weight_hh": weights}, "readout": {"centres": torch.ones(3, 2) * readout_scale},
                "device": "cuda (NVIDIA H100 80GB HBM3)"}, path)  # fmt: skip


def test_cross_device_training_is_inconclusive_and_shows_the_outcomes_side_by_side(tmp_path):
    w = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    _model(tmp_path / "a.pt", w)
    _model(tmp_path / "b.pt", w + 0.3, final_loss=6.2, final_error_cm=5.1)
    cmp = Comparison("train")
    compare_model(tmp_path / "a.pt", tmp_path / "b.pt", audit.CROSS_DEVICE_TOLERANCE, cmp, cross_device=True)
    assert cmp.ok and cmp.inconclusive, cmp.differences
    assert "stored 6.1, re-run 6.2" in cmp.notes[0] and "stored 4.6 cm, re-run 5.1 cm" in cmp.notes[1]
    assert "largest difference 0.3" in cmp.notes[2]
    bitwise = Comparison("train")
    compare_model(tmp_path / "a.pt", tmp_path / "b.pt", 0.0, bitwise)
    assert not bitwise.inconclusive
    assert {d.split(":")[1].split(" ")[0] for d in bitwise.differences} == {"final_loss", "final_error_cm", "state_dict.cell.weight_hh"}


def test_cross_device_training_within_the_tolerance_matches(tmp_path):
    """A short run on another processor: last-bit differences only (6e-8 measured), so it can be checked."""
    w = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    _model(tmp_path / "a.pt", w)
    _model(tmp_path / "b.pt", w + 6e-8, final_loss=6.1 * (1 + 1e-7))
    cmp = Comparison("train")
    compare_model(tmp_path / "a.pt", tmp_path / "b.pt", audit.CROSS_DEVICE_TOLERANCE, cmp, cross_device=True)
    assert cmp.ok and not cmp.inconclusive and not cmp.notes, cmp.differences
    _model(tmp_path / "c.pt", w + 1e-3)
    compare_model(tmp_path / "a.pt", tmp_path / "c.pt", audit.CROSS_DEVICE_TOLERANCE, cmp, cross_device=True)
    assert cmp.ok and cmp.inconclusive


@pytest.mark.parametrize(
    "change, named",
    [(dict(status="diverged"), "status"), (dict(readout_scale=2.0), "readout.centres")],
)
def test_cross_device_training_still_compares_what_must_agree(tmp_path, change, named):
    w = torch.zeros(4, 4)
    _model(tmp_path / "a.pt", w)
    _model(tmp_path / "b.pt", w, **change)
    cmp = Comparison("train")
    compare_model(tmp_path / "a.pt", tmp_path / "b.pt", audit.CROSS_DEVICE_TOLERANCE, cmp, cross_device=True)
    assert [d.split(":")[1].split(" ")[0] for d in cmp.differences] == [named]


def test_cross_device_train_log_compares_steps_and_rates_and_shows_the_curves_gap(tmp_path):
    log = pd.DataFrame({"step": [1, 50, 100], "loss": [6.26, 6.22, 6.2168], "decoding_error_cm": [94.5, 70.2, 61.17],
                        "lr": [3e-3, 2e-3, 1e-3], "seconds_per_step": [0.1, 0.1, 0.1]})  # fmt: skip
    log.to_csv(tmp_path / "a.csv", index=False)
    log.assign(loss=log.loss * 1.05, decoding_error_cm=log.decoding_error_cm + 3.3, seconds_per_step=9.0).to_csv(
        tmp_path / "b.csv", index=False
    )
    log.assign(lr=log.lr * 2).to_csv(tmp_path / "c.csv", index=False)
    cross, wrong_lr, bitwise = Comparison("train"), Comparison("train"), Comparison("train")
    compare_train_log(tmp_path / "a.csv", tmp_path / "b.csv", audit.CROSS_DEVICE_TOLERANCE, cross, cross_device=True)
    compare_train_log(tmp_path / "a.csv", tmp_path / "c.csv", audit.CROSS_DEVICE_TOLERANCE, wrong_lr, cross_device=True)
    compare_train_log(tmp_path / "a.csv", tmp_path / "b.csv", 0.0, bitwise)
    assert cross.ok and cross.inconclusive, cross.differences
    assert "up to 0.05 of its largest value" in cross.notes[0] and "3.3 cm" in cross.notes[0], cross.notes
    log.assign(loss=log.loss * (1 + 1e-7)).to_csv(tmp_path / "d.csv", index=False)
    near = Comparison("train")
    compare_train_log(tmp_path / "a.csv", tmp_path / "d.csv", audit.CROSS_DEVICE_TOLERANCE, near, cross_device=True)
    assert near.ok and not near.inconclusive and not near.notes
    assert [d.split(":")[1] for d in wrong_lr.differences] == ["lr"]
    assert [d.split(":")[1] for d in bitwise.differences] == ["loss", "decoding_error_cm"]


def test_rerun_device_follows_the_stored_device(monkeypatch):
    assert rerun_device(None) == ("cpu", True)
    assert rerun_device({"device": "cpu"}) == ("cpu", True)  # provenance from before devices named their model
    assert rerun_device({"device": cpu_name()}) == ("cpu", True)
    assert rerun_device({"device": "cpu (Some Other Processor)"}) == ("cpu", False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert rerun_device({"device": "cuda (NVIDIA H100 80GB HBM3)"}) == ("cpu", False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H100 80GB HBM3")
    assert rerun_device({"device": "cuda (NVIDIA H100 80GB HBM3)"}) == ("cuda", True)
    assert rerun_device({"device": "cuda (NVIDIA A100-SXM4-40GB)"}) == ("cuda", False)
