"""Malformed configurations and sweep files each give a one-line error naming the key or file.

Every case goes through ``python -m pathint validate`` (the same checks the Snakefile runs before any job);
a few also go through Snakemake itself in tests/test_workflow.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline_utils import ROOT

GOOD_SWEEP = "name: ok\nfixed: {readout: difference_of_softmaxes}\ngrid: {seed: [0]}\n"
#: aliases of aliases: 10^6 numbers from a dozen lines (each level repeats the one before ten times)
ALIAS_BOMB = "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
)
#: six keys of ten values each: a grid of 10^6 networks
MILLION_POINTS = "name: g\ngrid: {" + ", ".join(
    f"{k}: [{', '.join(map(str, range(1, 11)))}]"
    for k in ("seed", "n_steps", "learning_rate", "dataset_size", "n_grid", "batch_size")
) + "}\n"

# (id, config text, {sweep file: text}, fragment the one-line message must contain)
CASES = [
    ("wrong type in defaults", "sweeps: [s.yaml]\ndefaults: {n_grid: big}\n", {}, "n_grid"),
    ("unknown top-level key", "resutls: x\nsweeps: [s.yaml]\n", {}, "resutls"),
    ("unknown network key in defaults", "sweeps: [s.yaml]\ndefaults: {n_gird: 5}\n", {}, "n_gird"),
    ("odd Np for polar", "sweeps: [p.yaml]\n", {"p.yaml": "name: p\nfixed: {readout: high_dim_polar, n_place: 127}\n"}, "n_place=127"),
    ("uniform(b, a)", "sweeps: [u.yaml]\n", {"u.yaml": "name: u\nfixed: {place_cell_rf: {uniform: [0.2, 0.1]}}\n"}, "place_cell_rf"),
    ("s <= 1 for DoS", "sweeps: [d.yaml]\n", {"d.yaml": "name: d\nfixed: {surround_scale: 0.9}\n"}, "surround_scale"),
    ("s = 1 for true DoG", "sweeps: [d.yaml]\n", {"d.yaml": "name: d\nfixed: {readout: difference_of_gaussians, surround_scale: 1}\n"}, "surround_scale"),
    ("empty sweep file", "sweeps: [e.yaml]\n", {"e.yaml": ""}, "e.yaml: empty sweep file"),
    ("grid with an empty list", "sweeps: [g.yaml]\n", {"g.yaml": "name: g\ngrid: {seed: []}\n"}, "grid.seed"),
    ("negative steps", "sweeps: [s.yaml]\ndefaults: {n_steps: -10}\n", {}, "n_steps"),
    ("missing sweep file", "sweeps: [missing.yaml]\n", {}, "missing.yaml: file not found"),
    ("empty list of sweeps", "sweeps: []\n", {}, "sweeps"),
    ("no sweeps key", "results: r\n", {}, "sweeps"),
    ("sweep file is a list", "sweeps: [l.yaml]\n", {"l.yaml": "- a\n- b\n"}, "l.yaml"),
    ("sweep file is not YAML", "sweeps: [y.yaml]\n", {"y.yaml": "name: [unclosed\n"}, "y.yaml"),
    ("sweep without a name", "sweeps: [n.yaml]\n", {"n.yaml": "grid: {seed: [0]}\n"}, "name"),
    ("sweep name with spaces", "sweeps: [n.yaml]\n", {"n.yaml": "name: my sweep\n"}, "name"),
    ("same sweep name twice", "sweeps: [s.yaml, t.yaml]\n", {"t.yaml": GOOD_SWEEP}, "'ok' is used twice"),
    ("key in fixed and grid", "sweeps: [b.yaml]\n", {"b.yaml": "name: b\nfixed: {seed: 0}\ngrid: {seed: [1]}\n"}, "'seed'"),
    ("grid value not a list", "sweeps: [g.yaml]\n", {"g.yaml": "name: g\ngrid: {seed: 3}\n"}, "grid.seed"),
    ("unknown readout", "sweeps: [r.yaml]\n", {"r.yaml": "name: r\nfixed: {readout: dos}\n"}, "'dos'"),
    ("unknown activation", "sweeps: [s.yaml]\ndefaults: {activation: gelu}\n", {}, "'gelu'"),
    ("unknown architecture", "sweeps: [s.yaml]\ndefaults: {architecture: Transformer}\n", {}, "'Transformer'"),
    ("negative learning rate", "sweeps: [s.yaml]\ndefaults: {learning_rate: -0.001}\n", {}, "learning_rate"),
    ("dropout of 1", "sweeps: [s.yaml]\ndefaults: {recurrent_dropout: 1.0}\n", {}, "recurrent_dropout"),
    ("zero evaluation trajectories", "sweeps: [s.yaml]\nevaluation: {n_trajectories: 0}\n", {}, "evaluation.n_trajectories"),
    ("unsupported bin count", "sweeps: [s.yaml]\nscoring: {bins: 33}\n", {}, "scoring.bins"),
    ("unknown device", "sweeps: [s.yaml]\ntraining: {device: tpu}\n", {}, "'tpu'"),
    ("unknown figure", "sweeps: [s.yaml]\nfigures: {make: [fig7]}\n", {}, "'fig7'"),
    ("zero step scale", "sweeps: [s.yaml]\nstep_scale: 0\n", {}, "step_scale"),
    ("cartesian with 512 units", "sweeps: [c.yaml]\n", {"c.yaml": "name: c\nfixed: {readout: cartesian}\n"}, "n_place"),
    ("config is a list", "- sweeps\n", {}, "expected a mapping"),
    ("uniform with three numbers", "sweeps: [u.yaml]\n", {"u.yaml": "name: u\nfixed: {surround_scale: {uniform: [1.5, 2, 3]}}\n"}, "surround_scale"),
    ("uniform with a negative bound", "sweeps: [u.yaml]\n", {"u.yaml": "name: u\nfixed: {place_cell_rf: {uniform: [-0.1, 0.2]}}\n"}, "place_cell_rf"),
    ("networks in different boxes", "sweeps: [s.yaml, b.yaml]\n", {"b.yaml": "name: b\nfixed: {box_width: 1.0}\n"}, "box"),
    ("negative weight decay", "sweeps: [s.yaml]\ndefaults: {weight_decay: -1.0e-4}\n", {}, "weight_decay"),
    ("one place cell", "sweeps: [s.yaml]\ndefaults: {n_place: 1}\n", {}, "n_place"),
    ("batch of zero", "sweeps: [s.yaml]\ndefaults: {batch_size: 0}\n", {}, "batch_size"),
    ("negative field count", "sweeps: [s.yaml]\ndefaults: {fields_per_cell: -1}\n", {}, "fields_per_cell"),
    ("boolean as integer", "sweeps: [s.yaml]\ndefaults: {seed: true}\n", {}, "seed"),
    ("warm-up longer than training", "sweeps: [s.yaml]\ndefaults: {n_steps: 10, lr_warmup_steps: 20}\n", {}, "lr_warmup_steps"),
    # non-finite numbers, anywhere
    ("NaN learning rate", "sweeps: [s.yaml]\ndefaults: {learning_rate: .nan}\n", {}, "key 'defaults.learning_rate': value nan is not a finite number"),
    ("infinite uniform bound", "sweeps: [u.yaml]\n", {"u.yaml": "name: u\nfixed: {place_cell_rf: {uniform: [0.1, .inf]}}\n"}, "u.yaml: key 'fixed.place_cell_rf.uniform.1'"),
    ("NaN in a grid list", "sweeps: [g.yaml]\n", {"g.yaml": "name: g\ngrid: {learning_rate: [0.1, .NaN]}\n"}, "g.yaml: key 'grid.learning_rate.1'"),
    ("minus infinity in a section", "sweeps: [s.yaml]\nscoring: {path_integration_threshold_cm: -.inf}\n", {}, "scoring.path_integration_threshold_cm"),
    ("NaN threshold in a list", "sweeps: [s.yaml]\nscoring: {thresholds: [0.3, .nan]}\n", {}, "scoring.thresholds.1"),
    # physical ranges
    ("Ng of a trillion", "sweeps: [s.yaml]\ndefaults: {n_grid: 1000000000000}\n", {}, "defaults.n_grid"),
    ("sigma below a centimetre", "sweeps: [s.yaml]\ndefaults: {place_cell_rf: 0.001}\n", {}, "defaults.place_cell_rf"),
    ("uniform sigma above 10 m", "sweeps: [u.yaml]\n", {"u.yaml": "name: u\nfixed: {place_cell_rf: {uniform: [0.1, 50]}}\n"}, "fixed.place_cell_rf.uniform.1"),
    ("box of a centimetre", "sweeps: [s.yaml]\ndefaults: {box_width: 0.01}\n", {}, "defaults.box_width"),
    ("a thousand fields per cell", "sweeps: [s.yaml]\ndefaults: {fields_per_cell: 1000}\n", {}, "defaults.fields_per_cell"),
    ("grid-score threshold of 3", "sweeps: [s.yaml]\nfigures: {grid_threshold: 3}\n", {}, "figures.grid_threshold"),
    ("more packs than pack names", "sweeps: [s.yaml]\npacking: {packs: 1000000}\n", {}, "packing.packs"),
    ("one-step evaluation trajectories", "sweeps: [s.yaml]\nevaluation: {seq_len: 1}\n", {}, "evaluation.seq_len"),
    ("dataset batch larger than the dataset", "sweeps: [s.yaml]\ndefaults: {data_mode: dataset, dataset_size: 10, batch_size: 20}\n", {}, "batch_size"),
    ("a million grid points", "sweeps: [g.yaml]\n", {"g.yaml": MILLION_POINTS}, "g.yaml: key 'grid' expands to 1,000,000 networks"),
    # duplicate keys, in any file
    ("duplicate key in the config", "sweeps: [s.yaml]\ndefaults: {learning_rate: 0.1, learning_rate: 0.2}\n", {}, "config.yaml: line 2, column 32: duplicate key 'learning_rate'"),
    ("duplicate key in a sweep", "sweeps: [d.yaml]\n", {"d.yaml": "name: d\nfixed:\n  seed: 0\n  n_grid: 16\n  seed: 1\n"}, "d.yaml: line 5, column 3: duplicate key 'seed'"),
    # values YAML reads as something else
    ("a date as the results folder", "sweeps: [s.yaml]\nresults: 2024-01-01\n", {}, "key 'results': value datetime.date"),
    ("an unquoted 'on' as a key", "sweeps: [s.yaml]\ndefaults: {on: 1}\n", {}, "key 'defaults': key True is not a name"),
    ("an alias repeated a million times", "sweeps: [s.yaml]\n" + ALIAS_BOMB, {}, "holds 1,111,111 values"),
    ("a sweep name that is a list", "sweeps: [n.yaml]\n", {"n.yaml": "name: [1, 2]\n"}, "n.yaml: key 'name'"),
    ("a recursive alias", "sweeps: [s.yaml]\nfigures: &f {groups: [*f]}\n", {}, "figures.groups.0"),
    # the results folder
    ("results is a file", "sweeps: [s.yaml]\nresults: /etc/passwd\n", {}, "key 'results': '/etc/passwd' is a file, not a folder"),
    ("results below a file", "sweeps: [s.yaml]\nresults: s.yaml/out\n", {}, "key 'results': 's.yaml/out' cannot be created"),
    ("empty results path", "sweeps: [s.yaml]\nresults: ''\n", {}, "key 'results'"),
    # memory, estimated before any job
    ("a network too large for its jobs", "sweeps: [s.yaml]\ndefaults: {n_grid: 20000}\n", {}, "key 'training.mem_mb': the train job of 1 network(s)"),
    ("an evaluation set too large to score", "sweeps: [s.yaml]\nevaluation: {n_trajectories: 100000}\ntraining: {mem_mb: 1000000}\n", {}, "key 'scoring.mem_mb': the score job"),
    ("a job larger than this machine", "sweeps: [s.yaml]\ndefaults: {n_grid: 30000}\ntraining: {mem_mb: 100000000}\nscoring: {mem_mb: 100000000}\n", {}, "more than this machine's"),
]


def _validate(tmp_path, config_text: str, sweeps: dict[str, str]) -> subprocess.CompletedProcess:
    (tmp_path / "s.yaml").write_text(GOOD_SWEEP)
    for name, text in sweeps.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "config.yaml").write_text(config_text)
    return subprocess.run(
        [sys.executable, "-m", "pathint", "validate", "--config", "config.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name, config_text, sweeps, fragment", CASES, ids=[c[0] for c in CASES])
def test_malformed_configuration_gives_one_line_error(tmp_path, name, config_text, sweeps, fragment):
    before = set(tmp_path.iterdir())
    proc = _validate(tmp_path, config_text, sweeps)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert fragment in err, err
    written = set(tmp_path.iterdir()) - before - {tmp_path / n for n in ("config.yaml", "s.yaml", *sweeps)}
    assert not written


def test_the_valid_baseline_passes(tmp_path):
    proc = _validate(tmp_path, "sweeps: [s.yaml]\n", {})
    assert proc.returncode == 0, proc.stderr
    assert "valid, 1 networks" in proc.stdout
