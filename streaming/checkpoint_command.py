"""``stm checkpoint reset APP [--starting-version V | --starting-timestamp TS]``."""

from __future__ import annotations

import argparse
from typing import Any

from stm.config import load_config
from stm.engine import CHECKPOINTS_DIR, require_lake_root
from stm.errors import UsageError
from streaming.checkpoints import Checkpoints


def _no_action(_args: argparse.Namespace) -> int:
    raise UsageError("stm checkpoint: an action is required; valid actions: reset")


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("checkpoint", help="manage streaming checkpoints")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    p.set_defaults(func=_no_action)
    reset = actions.add_parser(
        "reset",
        parents=[parent],
        help="back up and remove an app's checkpoint; the next run resumes from the given point",
        description="Refuses while the app runs. The old checkpoint is copied to <checkpoints>/_backup/, then "
        "removed. Rows "
        "already in the target are not duplicated: the MERGE is keyed.",
    )
    reset.add_argument("app", metavar="APP")
    start = reset.add_mutually_exclusive_group()
    start.add_argument("--starting-version", type=int, default=None, help="source Delta version to resume from")
    start.add_argument("--starting-timestamp", default=None, help="ISO timestamp, e.g. 2026-11-01T00:00:00Z")
    reset.set_defaults(func=run_reset)


def run_reset(args: argparse.Namespace) -> int:
    from streaming.apps import resolve_apps  # here, not at the top: `stm --help` must not load pyspark

    cfg = load_config(args.config)
    (app,) = resolve_apps(cfg, [args.app], False)
    if cfg.engine == "local":
        root = require_lake_root(args.lake_root) / CHECKPOINTS_DIR
    else:
        from pathlib import Path

        root = Path(cfg.databricks.checkpoint_root)
    backup = Checkpoints(root).reset(app.name, args.starting_version, args.starting_timestamp)
    where = (
        f"version {args.starting_version}"
        if args.starting_version is not None
        else f"timestamp {args.starting_timestamp}"
        if args.starting_timestamp
        else "a fresh snapshot of the source"
    )
    print(f"checkpoint of {app.name} reset" + (f" (backup: {backup})" if backup else " (there was none)"))
    print(f"next run of {app.name} starts from {where}")
    return 0
