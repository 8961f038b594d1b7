"""The pipeline's tables are Delta Lake's own: every commit of every bronze table written by Delta's engine, each
streamed micro-batch committed with its app transaction and only add actions (insert-only MERGEs)."""

from __future__ import annotations

from tests.cost_lake import base_lake
from tests.delta_log import commits, data_commits


def test_bronze_tables_are_written_by_delta_with_app_transactions(tmp_path_factory, spark, cfg):
    lake = base_lake(tmp_path_factory, spark, cfg)
    streamed = cfg.tables_in_mode("stream")
    checked = []
    for name in streamed:
        table = lake / cfg.output.catalog / cfg.output.schema / name
        if not table.is_dir():
            continue
        every = commits(table)
        assert every, name
        for _, actions in every:
            info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
            assert "Delta-Lake/" in info["engineInfo"], (name, info["engineInfo"])
        for actions in data_commits(table):  # compactions (they change no data) checked and passed over
            txns = [a["txn"] for a in actions if "txn" in a]
            assert len(txns) == 1 and txns[0]["appId"].startswith(f"stm:{name}:"), (name, txns)
            assert not [a for a in actions if "remove" in a], name  # append-only: downstream streams see every row
        checked.append(name)
    assert {"billing_usage_bronze", "audit_logs_bronze", "jobs_bronze"} <= set(checked)
