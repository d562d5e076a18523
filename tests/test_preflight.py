"""Checks before any job (pathint.preflight): config files re-read for duplicate keys, the results folder,
and where the jobs run; the memory part is in tests/test_memory.py."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from pathint.config import check_experiment, experiment_networks, load_yaml
from pathint.errors import ConfigError
from pathint.preflight import check_results_folder, preflight, snakemake_runs_locally
from pipeline_utils import ROOT


def test_an_existing_or_creatable_folder_passes_and_nothing_is_created(tmp_path):
    check_results_folder(tmp_path, "c.yaml")
    check_results_folder(tmp_path / "a" / "b" / "c", "c.yaml")
    assert list(tmp_path.iterdir()) == []


def test_a_file_or_a_path_below_a_file_is_named(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"^c.yaml: key 'results': '.*/f' is a file, not a folder"):
        check_results_folder(tmp_path / "f", "c.yaml")
    with pytest.raises(ConfigError, match=r"^c.yaml: key 'results': '.*/f/out' cannot be created because '.*/f' is a file"):
        check_results_folder(tmp_path / "f" / "out", "c.yaml")


def test_a_broken_link_is_named(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="broken symbolic link"):
        check_results_folder(tmp_path / "link", "c.yaml")


def test_a_folder_without_write_permission_is_named(tmp_path, monkeypatch):
    # tests may run as root, for whom every folder is writable: the permission answer is simulated
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p).startswith(str(tmp_path)) else real(p, mode))
    with pytest.raises(ConfigError, match=r"folder '.*' is not writable by this user"):
        check_results_folder(tmp_path, "c.yaml")
    with pytest.raises(ConfigError, match=r"'.*/new' cannot be created: folder '.*' is not writable"):
        check_results_folder(tmp_path / "new", "c.yaml")


def test_duplicate_keys_name_the_file_line_and_key(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\nfixed:\n  n_grid: 16\n  seed: 1\n  n_grid: 32\n")
    with pytest.raises(ConfigError, match=r"s.yaml: line 5, column 3: duplicate key 'n_grid' \(first given at line 3"):
        load_yaml(p)
    p.write_text("grid:\n  seed: [0]\nname: s\ngrid:\n  seed: [1]\n")
    with pytest.raises(ConfigError, match=r"line 4, column 1: duplicate key 'grid'"):
        load_yaml(p)


def test_a_merge_key_may_be_overridden(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("base: &b {n_grid: 16, seed: 0}\nfixed:\n  <<: *b\n  seed: 3\n")
    assert load_yaml(p)["fixed"] == {"n_grid": 16, "seed": 3}


def test_every_shipped_yaml_file_reads_without_duplicate_keys():
    files = [ROOT / "config.yaml", *ROOT.glob("configs/*.yaml"), *ROOT.glob("sweeps/**/*.yaml"),
             *ROOT.glob("profiles/**/*.yaml"), *ROOT.glob("pathint/schemas/*.yaml"), *ROOT.glob("envs/*.yaml")]
    assert len(files) > 30
    for f in files:
        load_yaml(f)


def test_preflight_rereads_the_config_files(tmp_path):
    (tmp_path / "s.yaml").write_text("name: s\n")
    (tmp_path / "c.yaml").write_text(f"results: {tmp_path / 'out'}\nsweeps: [s.yaml]\nsweeps: [s.yaml]\n")
    cfg = check_experiment({"results": str(tmp_path / "out"), "sweeps": ["s.yaml"]})
    nets = experiment_networks(cfg, tmp_path)
    with pytest.raises(ConfigError, match="c.yaml: line 3, column 1: duplicate key 'sweeps'"):
        preflight(cfg, nets, "c.yaml", configfiles=[tmp_path / "c.yaml"])


def test_the_machine_check_applies_to_local_runs_only(tmp_path):
    (tmp_path / "s.yaml").write_text("name: s\n")
    cfg = check_experiment({"results": str(tmp_path / "out"), "sweeps": ["s.yaml"]})
    nets = experiment_networks(cfg, tmp_path)
    preflight(cfg, nets, "c.yaml", local=False, machine_mb=10)
    with pytest.raises(ConfigError, match="more than this machine's 10 MB of memory"):
        preflight(cfg, nets, "c.yaml", local=True, machine_mb=10)
    assert not (tmp_path / "out").exists()


def test_snakemake_runs_locally_reads_the_command_line_settings():
    def wf(main=True, nodes=None):
        return SimpleNamespace(is_main_process=main, resource_settings=SimpleNamespace(nodes=nodes))

    assert snakemake_runs_locally(wf())  # `snakemake --cores 2` (the default profile)
    assert not snakemake_runs_locally(wf(nodes=400))  # `--profile profiles/slurm` (jobs: 400)
    assert not snakemake_runs_locally(wf(main=False))  # the Snakefile parsed again inside a job
