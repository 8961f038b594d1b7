"""Prices before costs: a first stream of billing on a new lake prices its records at once."""

from __future__ import annotations

from stm.cli import main
from stm.simulate.simulator import simulate
from stm.store.local import LocalTableStore


def test_stream_of_billing_on_a_new_lake_ingests_prices_first_and_prices_every_record(spark, cfg, tmp_path):
    simulate(tmp_path, accounts=1, workspaces=1, days=2, seed=4, billing_rows_per_day=10, audit_events_per_day=2)
    store = LocalTableStore(spark, tmp_path)
    assert not store.exists(cfg.output_name("list_prices"))  # no daily job has run yet
    argv = ["stream", "billing_usage_bronze", "billing_summary", "--trigger", "availableNow"]
    assert main([*argv, "--lake-root", str(tmp_path), "--spark-mode", "classic"]) == 0
    billing = store.read(cfg.output_name("billing_summary"))
    total = billing.count()
    unpriced = billing.where("estimated_cost_usd IS NULL").count()
    assert total > 0 and unpriced == 0, f"{unpriced} of {total} records unpriced"
