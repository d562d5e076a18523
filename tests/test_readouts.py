"""The readout registry and the machinery every encoding shares (SPEC §2).

Each encoding's own behaviour is tested in tests/readouts/test_<name>.py; the contract tests here run
over every registered readout.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from readout_cases import MULTI, batch_positions, build, variants

from pathint import config, readouts
from pathint.config import NetworkConfig
from pathint.errors import ConfigError, DataError
from pathint.readouts import Readout, decoding_error_cm, make_readout, min_spread_points
from pathint.readouts import base as readout_base
from pathint.readouts import place as place_mod

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {k: v for name in readouts.names() for k, v in variants(name).items()}
VARIANTS["gaussian_none"] = dict(readout="gaussian", gaussian_normalisation="none")
VARIANTS["general_dog_dip"] = dict(readout="general_difference_of_gaussians", alpha_e=0.5, alpha_i=3.0)


@pytest.fixture(scope="module")
def positions() -> torch.Tensor:
    return batch_positions()


# ---------------------------------------------------------------------- the registry
def test_one_module_per_encoding_and_one_test_module_each():
    shared = {"base", "place", "evaluation"}
    modules = {p.stem for p in (ROOT / "pathint" / "readouts").glob("*.py") if not p.stem.startswith("_")}
    assert set(readouts.names()) == modules - shared
    for name in readouts.names():
        assert readouts.get(name).__module__ == f"pathint.readouts.{name}"
        assert (ROOT / "tests" / "readouts" / f"test_{name}.py").exists(), f"{name} has no test module"


def test_registry_views():
    assert readouts.names() == tuple(sorted(readouts.names())) and len(readouts.names()) == 8
    assert readouts.labels()["difference_of_softmaxes"] == "DoS" == readouts.label("difference_of_softmaxes")
    assert len(set(readouts.labels().values())) == len(readouts.names())  # labels name groups: unique
    wide = ("difference_of_gaussians", "difference_of_softmaxes", "softmax_of_differences")
    assert readouts.wide_surround_names() == wide
    assert readouts.PLACE_CODES == tuple(n for n in readouts.names() if not n.startswith(("cartesian", "high_dim")))
    with pytest.raises(ConfigError, match=r"readout='dos' is unknown; expected one of \['cartesian'"):
        readouts.get("dos")
    with pytest.raises(ConfigError, match="unknown"):
        Readout.create("nonsense", 4, {})


def test_config_derives_from_the_registry():
    assert config.READOUTS == readouts.names()
    assert config.GROUP_LABELS == readouts.labels()
    assert config.SURROUND_READOUTS == readouts.wide_surround_names()
    # the schema's enum is the registry's, added when loaded: the YAML holds no list of its own
    assert config.load_schema("network.schema.yaml")["properties"]["readout"]["enum"] == list(readouts.names())
    raw = yaml.safe_load((ROOT / "pathint" / "schemas" / "network.schema.yaml").read_text())
    assert "enum" not in raw["properties"]["readout"]
    with pytest.raises(ConfigError, match=r"key 'readout': value 'dos' is not allowed; expected one of \['cartesian'"):
        NetworkConfig.from_dict({"readout": "dos"})
    with pytest.raises(ConfigError, match="readout='dos' is invalid"):
        NetworkConfig(readout="dos").check()


@pytest.mark.parametrize("key", list(VARIANTS))
def test_config_rules_match_the_readout(key):
    cfg = NetworkConfig(**VARIANTS[key])
    ro = make_readout(cfg, np.random.default_rng(0))
    assert (cfg.loss_kind, cfg.n_out) == (ro.loss_kind, ro.n_out)
    assert cfg.loss_kind == ("mse" if key.startswith(("cartesian", "high_dim", "gaussian_none")) else "cross_entropy")


def test_importing_config_loads_neither_torch_nor_numpy():
    """Snakemake plans a workflow with pathint.config, which reads the registry: that must stay cheap."""
    code = (
        "import sys; from pathint.config import expand_sweep, NetworkConfig;"
        "cfgs = expand_sweep({'name': 's', 'grid': {'readout': list(__import__('pathint.readouts').readouts.names())},"
        " 'fixed': {'n_place': 2}}, {});"
        "print([c.loss_kind for c in cfgs], 'torch' in sys.modules, 'numpy' in sys.modules)"
    )
    # n_place 2 is valid for every readout; expand_sweep runs every check and the loss rule
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False False"), out


def test_a_new_readout_is_one_class(monkeypatch, positions):
    """The example of docs/architecture.md ("Adding a readout"): defining the class registers it, and the
    shared machinery does the rest (state, loss, decoder)."""
    monkeypatch.setattr(readout_base, "_REGISTRY", dict(readout_base._REGISTRY))

    class WideGaussian(readouts.PlaceCode):
        """softmax(-q / 4): the Gaussian code at twice the width."""

        name = "wide_gaussian"
        label = "Wide Gaussian"

        def targets_from(self, qr):
            return torch.softmax(qr[:, 0] / 4, dim=-1)

        def unnormalised_from(self, qr):
            return torch.exp(qr[:, 0] / 4)

    assert "wide_gaussian" in readouts.names() and readouts.labels()["wide_gaussian"] == "Wide Gaussian"
    cfg = NetworkConfig(readout="wide_gaussian", place_cell_rf=0.06)
    assert cfg.loss_kind == "cross_entropy" and cfg.n_out == 512
    ro = make_readout(cfg, np.random.default_rng(0))
    wide = make_readout(NetworkConfig(readout="gaussian", place_cell_rf=0.12), np.random.default_rng(0))
    torch.testing.assert_close(ro.encode(positions), wide.encode(positions), atol=1e-6, rtol=1e-5)
    assert decoding_error_cm(ro, ro.encode(positions), positions) < 5.0
    assert torch.equal(Readout.from_state(ro.state()).encode(positions), ro.encode(positions))

    with pytest.raises(TypeError, match="declared twice"):
        type("Again", (readouts.PlaceCode,), {"name": "gaussian", "label": "G"})
    with pytest.raises(TypeError, match="no label"):
        type("Unlabelled", (readouts.PlaceCode,), {"name": "unlabelled"})
    with pytest.raises(TypeError, match="not an encoding"):
        readouts.PlaceCode(4, {})


# ---------------------------------------------------------------------- contract: every readout
@pytest.mark.parametrize("key", list(VARIANTS))
def test_state_round_trip(key, positions, tmp_path):
    ro = build(seed=11, **VARIANTS[key])
    st = ro.state()
    assert list(st)[:8] == ["name", "n_out", "box_width", "box_height", "normalisation", "alpha_e", "alpha_i",
                            "surround_convention"]
    for k, v in st.items():
        assert isinstance(v, (np.ndarray, str, int, float)), (k, type(v))
    np.savez(tmp_path / "st.npz", **st)  # as a training checkpoint might store it
    loaded = {k: (v.item() if v.ndim == 0 else v) for k, v in np.load(tmp_path / "st.npz").items()}
    rebuilt = Readout.from_state(loaded)
    assert type(rebuilt) is type(ro) and rebuilt.n_out == ro.n_out and rebuilt.loss_kind == ro.loss_kind
    assert torch.equal(rebuilt.encode(positions), ro.encode(positions))
    y = ro.encode(positions)
    assert torch.equal(rebuilt.decode(y), ro.decode(y))


@pytest.mark.parametrize("key", list(VARIANTS))
def test_float32_everywhere(key, positions):
    ro = build(**VARIANTS[key])
    y = ro.encode(positions.double())  # float64 input is not propagated
    assert y.dtype == torch.float32 and y.shape == (50, 20, ro.n_out)
    assert ro.unnormalised(positions).shape == (50, 20, ro.n_out)
    out = (y + 0.01 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))).requires_grad_()
    loss = ro.loss(out, y)
    assert loss.dtype == torch.float32 and loss.ndim == 0
    loss.backward()
    assert out.grad is not None and out.grad.dtype == torch.float32
    d = ro.decode(y)
    assert d.dtype == torch.float32 and d.shape == (50, 20, 2)
    assert ro.to("cpu") is ro


def test_same_seed_same_centres_different_seed_different():
    a, b, c = build(seed=7).state(), build(seed=7).state(), build(seed=8).state()
    np.testing.assert_array_equal(a["param_centres"], b["param_centres"])
    assert not np.allclose(a["param_centres"], c["param_centres"])
    assert np.abs(a["param_centres"]).max() <= 1.1


def test_bad_state_and_config_raise():
    with pytest.raises(DataError, match="centres"):
        Readout.from_state({"name": "difference_of_softmaxes", "n_out": 4})
    with pytest.raises(DataError, match="name"):
        Readout.from_state({"n_out": 4})
    with pytest.raises(ConfigError, match="n_out=2, got 3"):
        Readout.create("cartesian", 3, {})
    with pytest.raises(ConfigError, match="gaussian_normalisation='max'"):
        Readout.create("cartesian", 2, {}, normalisation="max")
    with pytest.raises(ConfigError, match="surround_convention='x'"):
        build(readout="gaussian", surround_convention="x")


def test_decode_checks_unit_count():
    ro = build(readout="gaussian", n_place=64)
    with pytest.raises(ValueError, match="64"):
        ro.decode(torch.zeros(3, 10))
    with pytest.raises(ValueError, match="last axis of size 2"):
        ro.encode(torch.zeros(3, 3))


# ---------------------------------------------------------------------- place-code machinery
def test_exp_flushed_is_torch_exp_above_its_floor():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.empty(20000).uniform_(-300.0, 10.0, generator=g),
                   torch.tensor([-87.0, -86.99, -87.01, 0.0, -math.inf, math.nan])])  # fmt: skip
    e, ref = readouts.exp_flushed(x), torch.exp(x)
    kept = ref > place_mod._EXP_FLOOR_VALUE
    assert torch.equal(e[kept], ref[kept])
    assert torch.all(e[~kept & ~x.isnan()] == 0.0) and int((~kept).sum()) > 10000
    assert e[-1].isnan()


def test_min_spread_picks_the_tightest_triple():
    """Cell fields (F = 3, padded): the tight triple mixes field indices (1, 2, 0); a padded field
    sitting at the right spot must be ignored."""
    nan = 0.0
    centres = torch.tensor(
        [
            [
                [[-1.0, -1.0], [0.50, 0.50], [0.9, -0.9]],  # cell A: field 1 near (0.5, 0.5)
                [[0.8, 0.8], [-0.5, 0.9], [0.52, 0.47]],  # cell B: field 2
                [[0.49, 0.53], [nan, nan], [0.5, 0.5]],  # cell C: field 0 (field 2 is padding)
            ]
        ]
    )
    mask = torch.tensor([[[True, True, True], [True, True, True], [True, False, False]]])
    pts = min_spread_points(centres, mask)
    expected = torch.tensor([[[0.5, 0.5], [0.52, 0.47], [0.49, 0.53]]])
    assert torch.equal(pts, expected)
    # brute force agrees on random cases
    g = torch.Generator().manual_seed(0)
    c = torch.rand(200, 3, 4, 2, generator=g)
    m = torch.rand(200, 3, 4, generator=g) > 0.3
    m[:, :, 0] = True
    got = min_spread_points(c, m)
    for i in range(0, 200, 17):
        best, best_pts = math.inf, None
        for a in range(4):
            for b in range(4):
                for d in range(4):
                    if not (m[i, 0, a] and m[i, 1, b] and m[i, 2, d]):
                        continue
                    p = torch.stack([c[i, 0, a], c[i, 1, b], c[i, 2, d]])
                    spread = float(((p - p.mean(0)) ** 2).sum())
                    if spread < best:
                        best, best_pts = spread, p
        torch.testing.assert_close(got[i], best_pts)


def test_min_spread_chunking(monkeypatch):
    g = torch.Generator().manual_seed(2)
    c = torch.rand(300, 3, 3, 2, generator=g)
    m = torch.ones(300, 3, 3, dtype=torch.bool)
    full = min_spread_points(c, m)
    monkeypatch.setattr(place_mod, "_DECODE_CHUNK_ELEMENTS", 27 * 7)
    assert torch.equal(min_spread_points(c, m), full)


@pytest.mark.parametrize("kw", [dict(readout="difference_of_softmaxes"), dict(readout="difference_of_gaussians"),
                                dict(readout="difference_of_softmaxes", **MULTI)])
def test_encode_chunking_gives_identical_results(kw, monkeypatch, positions):
    ro = build(**kw)
    full = ro.encode(positions)
    monkeypatch.setattr(place_mod, "_ENCODE_CHUNK_ELEMENTS", 2 * ro.n_out * ro.max_fields * 37)
    torch.testing.assert_close(ro.encode(positions), full, atol=1e-6, rtol=1e-4)  # BLAS blocking
