"""The pipeline's tables are Delta Lake's own: every commit of every bronze table written by Delta's engine, each
streamed micro-batch committed with its app transaction and only add actions (insert-only MERGEs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cost_lake import base_lake


def _commits(table: Path) -> list[list[dict[str, Any]]]:
    logs = sorted((table / "_delta_log").glob("*.json"))
    return [[json.loads(line) for line in f.read_text().splitlines()] for f in logs]


def test_bronze_tables_are_written_by_delta_with_app_transactions(tmp_path_factory, spark, cfg):
    lake = base_lake(tmp_path_factory, spark, cfg)
    streamed = cfg.tables_in_mode("stream")
    checked = []
    for name in streamed:
        table = lake / cfg.output.catalog / cfg.output.schema / name
        if not table.is_dir():
            continue
        commits = _commits(table)
        assert commits, name
        for actions in commits:
            info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
            assert "Delta-Lake/" in info["engineInfo"], (name, info["engineInfo"])
            if info["operation"] == "OPTIMIZE":  # maintenance: rewrites files, changes no data
                assert all(not a[kind]["dataChange"] for a in actions for kind in ("add", "remove") if kind in a)
                continue
            txns = [a["txn"] for a in actions if "txn" in a]
            assert len(txns) == 1 and txns[0]["appId"].startswith(f"stm:{name}:"), (name, txns)
            assert not [a for a in actions if "remove" in a], name  # append-only: downstream streams see every row
        checked.append(name)
    assert {"billing_usage_bronze", "audit_logs_bronze", "jobs_bronze"} <= set(checked)
