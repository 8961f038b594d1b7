"""Shared pieces of the simulator tests: one small simulated lake per session, and ways to read it back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder

from stm.simulate.simulator import simulate


def read(lake: Path, table: str) -> pa.Table:
    """A whole system table with its deletion vectors applied, read the way that exits cleanly (local_engine.md
    gotcha #4); delta-rs's pyarrow dataset refuses tables with deletion vectors. Strings come back as string_view."""
    schema, name = table.split(".")
    source = DeltaTable(str(lake / "system" / schema / name))
    return pa.table(QueryBuilder().register("t", source).execute("SELECT * FROM t"))


def commits(lake: Path, table: str) -> list[list[dict[str, Any]]]:
    """The actions of every commit of a table, in version order."""
    schema, name = table.split(".")
    log = lake / "system" / schema / name / "_delta_log"
    files = sorted(log.glob("*.json"))
    return [[json.loads(line) for line in f.read_text().splitlines() if line.strip()] for f in files]


def operations(lake: Path, table: str) -> list[str]:
    return [a["commitInfo"].get("operation", "") for c in commits(lake, table) for a in c if "commitInfo" in a]


def normalize_ddl(text: str) -> str:
    """``col TYPE, ...`` DDL (comments allowed) to Spark's ``simpleString`` of the same struct."""
    text = re.sub(r"--[^\n]*", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    columns, depth, current = [], 0, ""
    for ch in text:
        depth += int(ch in "<(")
        depth -= int(ch in ">)")
        if ch == "," and depth == 0:
            columns.append(current.strip())
            current = ""
        else:
            current += ch
    columns.append(current.strip())
    fields = []
    for col in columns:
        name, tp = col.split(" ", 1)
        fields.append(name + ":" + re.sub(r"\s+", "", tp).lower())
    return "struct<" + ",".join(fields) + ">"


_LAKES: dict[str, Path] = {}


def small_lake(factory: pytest.TempPathFactory) -> Path:
    """A 2 accounts x 2 workspaces x 3 days lake, simulated once per test session and shared read-only."""
    if "small" not in _LAKES:
        _LAKES["small"] = factory.mktemp("simulated")
        simulate(_LAKES["small"], accounts=2, workspaces=2, days=3, seed=7)
    return _LAKES["small"]
