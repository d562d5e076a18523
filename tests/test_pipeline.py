"""End to end: the smoke configuration through every rule, then what reruns after each kind of edit.

Caching must follow content, not modification times: (a) a finished run has nothing to do; (b) editing the
grid-score code reruns scoring, aggregation and figures only; (c) editing one figure's code reruns that
figure only; (d) adding a seed trains only the new network; (e) changing one network's hyper-parameter
reruns only that network's chain and the aggregates; (f) a fresh clone beside finished results reruns
nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import pandas as pd
import pytest

from pipeline_utils import copy_repo, planned_jobs, snakemake

pytestmark = [pytest.mark.pipeline, pytest.mark.slow]

SMOKE = ("--configfile", "configs/smoke.yaml")
FIGURES = ("fig2", "fig3", "fig4", "fig5", "trajectory", "architectures")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    work = copy_repo(tmp_path_factory.mktemp("smoke"))
    snakemake(work, "--cores", "2", *SMOKE)
    return work


def _planned_after_edit(work: Path, rel: str, edit) -> dict[str, int]:
    """Jobs a dry run would execute after ``edit(text)`` is applied to ``work/rel``; the file is restored."""
    path = work / rel
    original = path.read_text()
    path.write_text(edit(original))
    try:
        return planned_jobs(work, *SMOKE)
    finally:
        path.write_text(original)


def _append_comment(text: str) -> str:
    return text + "\n# edited by a test\n"


def test_smoke_run_produces_every_stage(smoke):
    res = smoke / "results/smoke"
    for name in FIGURES:
        for ext in ("png", "pdf"):
            f = res / "figures" / f"{name}.{ext}"
            assert f.stat().st_size > 1000, f
    networks = pd.read_parquet(res / "tables/networks.parquet")
    assert len(networks) == 13
    assert set(networks["status"]) <= {"ok", "diverged"}
    units = pd.read_parquet(res / "tables/units.parquet")
    assert len(units) == networks.loc[networks.status == "ok", "n_units"].sum()
    nid = networks.id.iloc[0]
    for name in ("model.pt", "train_log.csv", "activations.h5", "ratemaps.h5", "units.parquet", "summary.json"):
        assert (res / "networks" / nid / name).exists(), name
    with h5py.File(res / "data/eval.h5") as f:
        assert f["velocity"].shape == (60, 20, 2)
    # every stage leaves a provenance record with the code hash and input checksums
    for prov in ("train", "record", "score"):
        assert (res / "networks" / nid / f"{prov}.prov.json").exists()


def test_a_finished_run_has_nothing_to_do(smoke):
    assert planned_jobs(smoke, *SMOKE) == {}


def test_editing_grid_score_code_reruns_scoring_and_below(smoke):
    jobs = _planned_after_edit(smoke, "pathint/scores.py", _append_comment)
    assert "train" not in jobs and "record" not in jobs
    assert jobs["score"] == 13 and jobs["aggregate"] == 1
    assert jobs["figure"] == len(FIGURES)


def test_editing_a_module_a_stage_imports_reruns_that_stage_and_below(smoke):
    # the score stage reads activations with pathint.recording
    jobs = _planned_after_edit(smoke, "pathint/recording.py", _append_comment)
    assert "train" not in jobs and jobs["record"] == 13 and jobs["score"] == 13
    # aggregation writes the examples file with pathint.figures.common
    jobs = _planned_after_edit(smoke, "pathint/figures/common.py", _append_comment)
    assert jobs == {"aggregate": 1, "figure": len(FIGURES)}
    # the shared stage runner and provenance writer never change a result
    for rel in ("pathint/packs.py", "pathint/provenance.py"):
        assert _planned_after_edit(smoke, rel, _append_comment) == {}, rel


def test_runtime_settings_rerun_nothing(smoke):
    """Threads, memory, time limits, checkpoint and log intervals, device: none defines a result."""
    def edit(text: str) -> str:
        assert "  threads: 1\n" in text and "  checkpoint_every: 10\n" in text
        return (text.replace("  threads: 1\n", "  threads: 2\n  mem_mb: 1234\n  runtime_min: 7\n")
                .replace("  checkpoint_every: 10\n", "  checkpoint_every: 3\n").replace("  log_every: 5\n", "  log_every: 2\n")
                .replace("  device: cpu\n", "  device: auto\n"))

    assert _planned_after_edit(smoke, "configs/smoke.yaml", edit) == {}
    # a setting that does define a result (the evaluation set) reruns from recording down
    jobs = _planned_after_edit(smoke, "configs/smoke.yaml", lambda t: t.replace("n_trajectories: 60", "n_trajectories: 61"))
    assert "train" not in jobs and jobs["eval_trajectories"] == 1 and jobs["record"] == 13


def test_editing_one_figure_reruns_only_that_figure(smoke):
    jobs = _planned_after_edit(smoke, "pathint/figures/fig3.py", _append_comment)
    assert jobs == {"figure": 1}


def test_adding_a_seed_trains_only_the_new_network(smoke):
    jobs = _planned_after_edit(
        smoke, "sweeps/smoke/cartesian.yaml", lambda t: t.replace("grid: {seed: [0]}", "grid: {seed: [0, 1]}")
    )
    assert jobs["train"] == 1 and jobs["record"] == 1 and jobs["score"] == 1
    assert jobs["aggregate"] == 1


def test_changing_one_hyperparameter_reruns_only_that_chain(smoke):
    jobs = _planned_after_edit(
        smoke,
        "sweeps/smoke/polar.yaml",
        lambda t: t.replace("fixed: {readout: high_dim_polar}", "fixed: {readout: high_dim_polar, learning_rate: 0.002}"),
    )
    assert jobs["train"] == 1 and jobs["record"] == 1 and jobs["score"] == 1
    assert jobs["aggregate"] == 1
    assert "eval_trajectories" not in jobs


def test_fresh_clone_beside_finished_results_reruns_nothing(smoke, tmp_path):
    clone = copy_repo(tmp_path / "clone")
    for p in clone.rglob("*"):  # a clone's files are all newer than the results
        os.utime(p)
    shutil.copytree(smoke / "results", clone / "results")
    assert planned_jobs(clone, *SMOKE) == {}


def test_report_contains_every_figure(smoke):
    snakemake(smoke, *SMOKE, "--report", "results/smoke/report.html")
    html = (smoke / "results/smoke/report.html").read_text(errors="replace")
    for name in FIGURES:
        assert f"{name}.png" in html


def test_grouped_training_gives_the_same_networks(smoke):
    """training.group_size: networks of one shape train together, each bitwise as when trained alone."""
    import torch

    cfg = (smoke / "configs/smoke.yaml").read_text()
    assert "  threads: 1\n" in cfg and "results: results/smoke\n" in cfg
    cfg = cfg.replace("  threads: 1\n", "  threads: 1\n  group_size: 4\n").replace(
        "results: results/smoke\n", "results: results/grouped\n")
    cfg = cfg.replace("sweeps:\n", "sweeps:\n  - sweeps/smoke/place_codes.yaml\n  - sweeps/smoke/dos_sigma.yaml\n"
                      "  - sweeps/smoke/architectures.yaml\nold_sweeps:\n")
    cfg = cfg[: cfg.index("old_sweeps:")] + cfg[cfg.index("training:"):]
    (smoke / "configs/grouped.yaml").write_text(cfg)
    args = ("--configfile", "configs/grouped.yaml")
    jobs = planned_jobs(smoke, *args)
    assert jobs["train"] == 5  # the 5 RNN networks in two groups (3 + 2); GRU, LSTM and SRNN alone
    snakemake(smoke, "results/grouped/tables/networks.parquet", "--cores", "2", *args)
    logs = "".join(p.read_text() for p in (smoke / "results/grouped/logs/train").glob("*.log"))
    assert logs.count("networks as one group") == 2, logs[-2000:]
    models = sorted((smoke / "results/grouped/networks").glob("*/model.pt"))
    assert len(models) == 8
    for m in models:
        alone = torch.load(smoke / "results/smoke/networks" / m.parent.name / "model.pt", weights_only=False)
        grouped = torch.load(m, weights_only=False)
        assert grouped["state_dict"].keys() == alone["state_dict"].keys()
        for k, v in alone["state_dict"].items():
            assert torch.equal(grouped["state_dict"][k], v), (m.parent.name, k)


PACKED = """
results: results/packed
defaults: {n_grid: 16, n_place: 32, batch_size: 8, seq_len: 6, n_steps: 10, learning_rate: 0.001}
sweeps: [sweeps/packed.yaml]
training: {device: cpu, threads: 1, checkpoint_every: 5, log_every: 5}
evaluation: {n_trajectories: 30, seq_len: 10, batch_size: 30, n_example_trajectories: 1}
scoring: {bins: 20, n_example_units: 2}
figures: {make: [fig2], bootstrap: 20}
packing: {packs: 1}
"""


def _train_log_lines(work: Path) -> list[str]:
    lines = []
    for log in sorted((work / "results/packed/logs/train").glob("*.log")):
        lines += [l for l in log.read_text().splitlines() if "running" in l or "skipped" in l]
    return lines


def test_packed_runs_train_only_new_networks(tmp_path):
    """packing.packs: one job per pack and stage; adding a network trains only that network."""
    work = copy_repo(tmp_path)
    (work / "configs/packed.yaml").write_text(PACKED)
    sweep = work / "sweeps/packed.yaml"
    sweep.write_text("name: packed\nfixed: {readout: cartesian, n_place: 2}\ngrid: {seed: [0, 1, 2]}\n")
    args = ("--configfile", "configs/packed.yaml")
    jobs = planned_jobs(work, *args)
    assert jobs["train"] == jobs["record"] == jobs["score"] == 1
    snakemake(work, "--cores", "2", *args)
    assert sum("running" in l for l in _train_log_lines(work)) == 3
    networks = pd.read_parquet(work / "results/packed/tables/networks.parquet")
    assert len(networks) == 3
    assert (work / "results/packed/figures/fig2.png").exists()

    models = {p: p.stat().st_mtime_ns for p in (work / "results/packed/networks").glob("*/model.pt")}
    sweep.write_text("name: packed\nfixed: {readout: cartesian, n_place: 2}\ngrid: {seed: [0, 1, 2, 3]}\n")
    snakemake(work, "--cores", "2", *args)
    after = {p: p.stat().st_mtime_ns for p in (work / "results/packed/networks").glob("*/model.pt")}
    assert len(after) == 4
    assert all(after[p] == t for p, t in models.items()), "an existing network was retrained"
    # one pack holds all four: the rerun trained the new network and skipped the other three
    lines = _train_log_lines(work)
    assert sum("skipped" in l for l in lines) == 3 and sum("running" in l for l in lines) == 1, lines
    assert len(pd.read_parquet(work / "results/packed/tables/networks.parquet")) == 4
    assert planned_jobs(work, *args) == {}
