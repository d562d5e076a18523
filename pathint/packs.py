"""Run one per-network stage over a unit of networks: one network, or a pack of them.

By default each stage runs one Snakemake job per network. At the paper's scale (about 19,000 networks,
three jobs each) Snakemake spends most of its planning time on per-job bookkeeping and a cluster drowns in
short jobs, so with ``packing.packs: P`` each network belongs to pack ``int(id, 16) % P`` forever (adding
networks never moves others) and each stage runs one job per pack, whose output is a small manifest. Inside
a pack job a network is skipped when its outputs are current: they exist and their provenance says they
came from the current code, the current defining settings and the current inputs. So adding a seed reruns
the pack jobs that gained a network but trains only the new network, and editing the grid-score code
rescores every network without retraining any. Per-network files are the same in both modes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import DataError
from .io import write_json
from .provenance import json_plain, sha256_file
from .stages import STAGES, Stage, network_files


def pack_of(network_id: str, n_packs: int) -> int:
    """The pack of a network: a function of its id alone, so it never changes when networks are added."""
    return int(network_id, 16) % n_packs


def pack_name(index: int) -> str:
    return f"{index:05d}"


def is_current(st: Stage, files: Mapping[str, Path], code_hash: str, defines: Mapping[str, Any],
               input_digests: Mapping[str, str]) -> bool:
    """True if ``st``'s outputs exist and their provenance matches the current code, settings and inputs.

    ``input_digests`` maps input paths to the sha256 the stage must have read.
    """
    if not all(files[k].exists() for k in st.outputs + (st.prov,)):
        return False
    try:
        prov = json.loads(files[st.prov].read_text())
    except (json.JSONDecodeError, OSError):
        return False
    if prov.get("code_hash") != code_hash or prov.get("defines") != json_plain(defines):
        return False
    recorded = prov.get("inputs", {})
    return all(recorded.get(str(path)) == digest for path, digest in input_digests.items())


def _groups(st: Stage, ids: list[str], members: Mapping[str, Mapping[str, Any]], size: int,
            memory_mb: float | None) -> list[list[str]]:
    """The networks to run, as groups run together where the stage can and ``size`` > 1, else one by one."""
    if st.run_group is None or size <= 1 or len(ids) <= 1:
        return [[nid] for nid in ids]
    from .config import NetworkConfig
    from .grouped import plan_groups

    cfgs = [NetworkConfig.from_dict(members[nid], source=f"network {nid}", validated=True) for nid in ids]
    return [[ids[i] for i in g] for g in plan_groups(cfgs, max_size=size, memory_mb=memory_mb)]


def manifest_digests(manifest: str | Path) -> dict[str, str]:
    """id -> sha256 of the main output, from an upstream pack manifest."""
    try:
        data = json.loads(Path(manifest).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{manifest}: unreadable pack manifest ({exc}); delete it and rerun") from exc
    return {nid: e["sha256"] for nid, e in data["networks"].items()}


def run_unit(
    stage: str,
    members: Mapping[str, Mapping[str, Any]],
    results: str | Path,
    defines: Mapping[str, Any],
    runtime: Mapping[str, Any],
    *,
    manifest: str | Path | None = None,
    upstream: str | Path | None = None,
    group_size: int = 1,
    group_memory_mb: float | None = None,
    log: Callable[..., None] = lambda *a: None,
) -> dict[str, Any]:
    """Run ``stage`` for every network of ``members`` (id -> config dict).

    Without ``manifest`` (one job per network) every member runs: Snakemake decided it must. With a
    ``manifest`` (a pack job) members whose outputs are current are skipped, ``upstream`` is the manifest
    of the stage this one reads from, and the manifest written lists each member's main output and sha256.
    A stage that can run networks of one shape together (training) does so for the members that run, in
    groups of at most ``group_size`` networks and ``group_memory_mb`` (:func:`pathint.grouped.plan_groups`).
    """
    st = STAGES[stage]
    code = st.code_hash()
    upstream_digests = manifest_digests(upstream) if upstream else {}
    shared_digests: dict[str, str] = {}
    entries: dict[str, Any] = {}
    files_of: dict[str, dict[str, Path]] = {}
    to_run: list[str] = []
    for nid in sorted(members):
        files = files_of[nid] = network_files(results, nid, st, members[nid])
        ran = True
        if manifest is not None:
            digests = {}
            for key in st.inputs:
                if key not in files:
                    continue
                path = str(files[key])
                if key in ("eval", "dataset"):
                    digests[path] = shared_digests.setdefault(path, sha256_file(path))
                else:
                    digests[path] = upstream_digests[nid]
            ran = not is_current(st, files, code, defines, digests)
        log("%s %s: %s", stage, nid, "running" if ran else "current, skipped")
        if ran:
            to_run.append(nid)
        entries[nid] = {"ran": ran}
    for group in _groups(st, to_run, members, group_size, group_memory_mb):
        if len(group) == 1:
            nid = group[0]
            st.run(network_id=nid, network=members[nid], files=files_of[nid], defines=defines, runtime=runtime, log=log)
        else:
            st.run_group(network_ids=group, networks=[members[i] for i in group], files=[files_of[i] for i in group],
                         defines=defines, runtime=runtime, log=log)
    for nid in sorted(members):
        main = files_of[nid][st.outputs[0]]
        if not main.exists():
            raise DataError(f"{main}: the {stage} stage finished without writing it")
        entries[nid]["sha256"] = sha256_file(main) if manifest is not None else None
    if manifest is not None:
        write_json(manifest, {"stage": stage, "code_hash": code, "defines": json_plain(defines), "networks": entries})
    return entries

