"""The code a stage depends on comes from the import graph of its entry function (pathint.codedeps)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pathint import codedeps
from pathint.figures import names as figure_names
from pathint.stages import NETWORK_STAGES, STAGES, figure_stage

#: A package named like ours, so that the resolver's rules apply to it unchanged.
FAKE = {
    "pathint/__init__.py": "VERSION = 1\n",
    "pathint/a.py": """
        from typing import TYPE_CHECKING
        from . import b
        from .provenance import record
        if TYPE_CHECKING:
            from .d import Hint
        def entry():
            return b.f() + helper()
        def helper():
            from .sub.e import g
            return g()
        def unused():
            from .never import x
            return x
    """,
    "pathint/b.py": """
        def f():
            from .c import h
            return h()
    """,
    "pathint/c.py": "def h():\n    return 1\n",
    "pathint/d.py": "class Hint: ...\n",
    "pathint/never.py": "x = 1\n",
    "pathint/provenance.py": "from . import c\ndef record(): ...\n",
    "pathint/sub/__init__.py": "",
    "pathint/sub/e.py": "from ..c import h\ndef g():\n    return h()\n",
    "pathint/registry/__init__.py": "LOADS_ALL_SUBMODULES = True\n",
    "pathint/registry/one.py": "",
    "pathint/registry/two.py": "",
}


def test_a_registry_package_brings_all_its_modules(fake_root):
    (fake_root / "pathint/c.py").write_text("from . import registry\ndef h():\n    return 1\n")
    files = codedeps.entry_files("pathint.a:entry", root=fake_root)
    assert {"pathint/registry/__init__.py", "pathint/registry/one.py", "pathint/registry/two.py"} <= set(files)


@pytest.fixture()
def fake_root(tmp_path) -> Path:
    for rel, text in FAKE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(textwrap.dedent(text))
    return tmp_path


def test_entry_files_follow_the_import_graph(fake_root):
    files = codedeps.entry_files("pathint.a:entry", ("workflow/x.py",), root=fake_root)
    assert set(files) == {
        "pathint/a.py::entry", "pathint/a.py::helper",  # the entry and the same-module function it calls
        "pathint/__init__.py", "pathint/b.py", "pathint/c.py",  # module-level import, then an import in a function
        "pathint/sub/__init__.py", "pathint/sub/e.py",  # an import inside a called function; its package
        "workflow/x.py",
    }
    # not: d (TYPE_CHECKING only), never (imported by a function the entry does not call), provenance
    # (bookkeeping), a.py as a whole (only the functions the entry uses)


def test_code_hash_follows_content_of_every_dependency(fake_root):
    files = codedeps.entry_files("pathint.a:entry", root=fake_root)
    before = codedeps.code_hash(files, fake_root)
    c = fake_root / "pathint/c.py"
    c.write_text(c.read_text() + "# edited\n")
    assert codedeps.code_hash(files, fake_root) != before
    after = codedeps.code_hash(files, fake_root)
    (fake_root / "pathint/never.py").write_text("x = 2\n")
    (fake_root / "pathint/a.py").write_text((fake_root / "pathint/a.py").read_text().replace("import x", "import x  # y"))
    assert codedeps.code_hash(files, fake_root) == after  # a function the entry does not call


def _modules(stage) -> set[str]:
    return {ref.split("::")[0] for ref in stage.code_files}


def test_network_stage_dependencies():
    train, record, score = (_modules(STAGES[s]) for s in NETWORK_STAGES)
    for mod in ("pathint/training.py", "pathint/models.py", "pathint/config.py", "pathint/seeds.py"):
        assert mod in train and mod in record, mod
    # the readout package loads every encoding by name: training depends on all of them
    from pathint import readouts

    for name in readouts.names():
        assert f"pathint/readouts/{name}.py" in train, name
    # scoring reads the recording module (read_activations), not the models
    assert {"pathint/recording.py", "pathint/scores.py", "pathint/analysis.py", "pathint/ratemaps.py"} <= score
    assert not {"pathint/training.py", "pathint/models.py"} & score
    assert "pathint/scores.py" not in train and "pathint/scores.py" not in record
    for name in NETWORK_STAGES:
        files = STAGES[name].code_files
        assert f"pathint/stages.py::run_{name}" in files and "workflow/scripts/stage.py" in files
        # a stage's hash covers its own entries (run_<stage> and its group entry), never another stage's
        own = {"pathint/stages.py::" + e.split(":")[1] for e in (STAGES[name].entry, STAGES[name].group_entry) if e}
        assert {f for f in files if f.startswith("pathint/stages.py::run_")} == own, name
        assert not set(files) & {f"pathint/{m.split('.')[-1]}.py" for m in codedeps.BOOKKEEPING}


def test_aggregate_and_figure_dependencies():
    agg = _modules(STAGES["aggregate"])
    assert {"pathint/aggregate.py", "pathint/figures/common.py", "pathint/comparison.py", "pathint/analysis.py"} <= agg
    assert not any(m.startswith("pathint/figures/fig") for m in agg)
    figs = {name: _modules(figure_stage(name)) for name in figure_names()}
    assert any(m.startswith("pathint/readouts") for m in figs["fig4"])  # Fig. 4c draws the readout's code
    for name, mods in figs.items():
        assert f"pathint/figures/{name}.py" in mods and "pathint/figures/common.py" in mods
        others = {f"pathint/figures/{o}.py" for o in figure_names() if o != name}
        # a figure depends on another only through an import (fig4 and fig5 reuse fig2's survival panel)
        assert mods & others <= {"pathint/figures/fig2.py"}, (name, mods & others)
    assert "pathint/figures/fig2.py" not in figs["fig3"]
