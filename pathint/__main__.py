"""Command line: ``python -m pathint {networks,validate,audit}``."""

from __future__ import annotations

import argparse
import sys

from .errors import PathintError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pathint", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_net = sub.add_parser("networks", help="list the networks of an experiment (id, group, sweeps, key settings)")
    p_net.add_argument("--config", default="config.yaml")
    p_val = sub.add_parser(
        "validate",
        help="validate an experiment config and its sweep files, the results folder and every job's memory",
        description="Checks what the workflow checks before any job runs: every key and value of the config and "
        "its sweep files, that 'results' is a writable folder, and each network's estimated memory per stage "
        "against the jobs' mem_mb and, for a local run, this machine's memory.",
    )
    p_val.add_argument("--config", default="config.yaml")
    p_val.add_argument(
        "--executor",
        choices=["local", "slurm"],
        default="local",
        help="where the jobs will run: 'slurm' skips the check against this machine's memory (default: local)",
    )
    p_aud = sub.add_parser(
        "audit",
        help="show one network's chain, re-run stage(s) and compare with the stored results",
        description="Exit status: 0 all match, 1 a difference, 2 bad arguments, 3 nothing differs but a stage "
        "could not be compared here (training stored from a GPU this machine lacks).",
    )
    p_aud.add_argument("network_id")
    p_aud.add_argument("--config", default="config.yaml")
    p_aud.add_argument(
        "--stage",
        action="append",
        choices=["trajectories", "train", "record", "score", "all"],  # pathint.audit.STAGES_AUDITED
        help="stage(s) to re-run (repeatable); default: trajectories, record and score; 'all' adds training",
    )
    p_aud.add_argument("--keep", action="store_true", help="keep the re-run outputs")
    args = parser.parse_args(argv)
    try:
        from .config import experiment_networks, load_experiment

        if args.command in ("networks", "validate"):
            config = load_experiment(args.config)
            nets = experiment_networks(config, source=args.config)
            if args.command == "validate":
                from .preflight import preflight

                preflight(config, nets, args.config, configfiles=[args.config], local=args.executor == "local")
                print(f"{args.config}: valid, {len(nets)} networks")
                return 0
            for n in nets:
                c = n.config
                print(f"{n.id}  {n.group:<22} {','.join(n.sweeps):<24} {c.readout} {c.architecture} Ng={c.n_grid} seed={c.seed}")
            return 0
        from .audit import STAGES_AUDITED, audit

        stages = args.stage or ["trajectories", "record", "score"]
        if "all" in stages:
            stages = list(STAGES_AUDITED)
        return audit(args.network_id, args.config, tuple(dict.fromkeys(stages)), keep=args.keep)
    except PathintError as exc:
        print(f"pathint: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
