"""Reading a Delta table's log in tests: its commits, and those that change data (auto compaction passed over)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Commit = list[dict[str, Any]]


def commits(table: Path, after: int = -1) -> list[tuple[int, Commit]]:
    """(version, actions) of every JSON commit of the Delta table at ``table`` newer than ``after``, oldest first."""
    found = []
    for path in sorted((table / "_delta_log").glob("*.json")):
        version = int(path.stem)
        if version > after:
            found.append((version, [json.loads(line) for line in path.read_text().splitlines()]))
    return found


def operation(actions: Commit) -> str:
    return str(next(a["commitInfo"] for a in actions if "commitInfo" in a)["operation"])


def data_commits(table: Path, after: int = -1) -> list[Commit]:
    """The commits newer than ``after`` that change data. Compactions (OPTIMIZE, auto compaction included) are passed
    over once checked to change none: every file they add or remove says ``dataChange: false``."""
    kept = []
    for _, actions in commits(table, after):
        if operation(actions) == "OPTIMIZE":
            assert all(not a[kind]["dataChange"] for a in actions for kind in ("add", "remove") if kind in a)
        else:
            kept.append(actions)
    return kept
