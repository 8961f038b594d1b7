"""Cost anomaly detection against injected ground truth: precision and recall, measured in one run.

Simulates 2 accounts x 4 workspaces x 45 days with ``--anomalies`` (cost spikes of 3-6x on one (workspace, product)
of an account-day, about one per account every four days, from the 8th day on; listed in the simulation's state),
runs the provider's billing apps (bronze, billing_summary and its gold tables), builds the hub's
``all_workspaces_costs`` and ``all_cost_by_job`` from them, runs ``stm.anomalies`` and compares the
(workspace, product) anomalies with the injected spikes: precision (found that were injected) and recall (injected
that were found), goal >= 0.9 each. Prints the misses and false alarms with their figures, and the job anomalies
found on spiked days.

Run: ``.venv/bin/python bench/bench_anomalies.py [--days N] [--seed N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_cost import stream
from harness import PeakMemory, bench_main, simulate_lake, timed, verdict

from stm.anomalies import COSTS, JOBS, TABLE, write_anomalies
from stm.config import load_config
from stm.engine import open_engine

GOAL = 0.9


def run(root: Path, args: argparse.Namespace, memory: PeakMemory) -> None:
    from batch.command import available_jobs
    from batch.registry import BatchContext, run_jobs

    shape = {"accounts": 2, "workspaces": 4, "days": args.days, "seed": args.seed, "billing_rows_per_day": 200}
    timed("simulate with injected spikes (subprocess)", lambda: simulate_lake(root, memory, **shape, anomalies=1))
    truth = json.loads((root / "system" / "_simulation.json").read_text(encoding="utf-8"))["anomalies"]
    cfg = load_config()
    engine = open_engine(cfg, root, "stm-bench-anomalies")
    store, spark = engine.store, engine.spark

    def build() -> None:
        results = run_jobs(BatchContext(cfg, spark, store), [available_jobs(cfg)["list_prices"]])
        assert results["list_prices"].status == "ok", results["list_prices"].detail
        stream(cfg, engine, ["billing_usage_bronze", "jobs_bronze"])
        stream(cfg, engine, ["billing_summary"])

    timed("provider: list_prices, bronze, billing_summary and gold", build)
    hub = f"{cfg.hub.catalog}.{cfg.hub.schema}"
    billing = store.read(cfg.output_name("billing_summary"))
    billing.createOrReplaceTempView("bench_billing")
    costs = spark.sql(
        "SELECT account_id AS source_account, account_id, workspace_id, usage_date, billing_origin_product, "
        "SUM(estimated_cost_usd) AS total_cost_usd FROM bench_billing "
        "GROUP BY account_id, workspace_id, usage_date, billing_origin_product"
    )
    store.replace(f"{hub}.{COSTS}", costs)
    jobs = store.read(cfg.output_name("cost_by_job")).selectExpr("account_id AS source_account", "*")
    store.replace(f"{hub}.{JOBS}", jobs)
    _, counts = timed("stm.anomalies over the hub's costs", lambda: write_anomalies(cfg, store))
    assert counts is not None
    found = [r.asDict() for r in store.read(f"{hub}.{TABLE}").collect()]

    def key(r: dict[str, object]) -> tuple[str, str, str, str]:
        return (str(r["account_id"]), str(r["workspace_id"]), str(r["billing_origin_product"]), str(r["usage_date"]))

    injected = {key(t): t for t in truth}
    detected = {key(r): r for r in found if r["series"] == "workspace_product"}
    hits = set(injected) & set(detected)
    precision = len(hits) / len(detected) if detected else 0.0
    recall = len(hits) / len(injected) if injected else 0.0
    print(f"injected spikes: {len(injected)}; (workspace, product) anomalies found: {len(detected)}; both: {len(hits)}")
    for k in sorted(set(injected) - hits)[:10]:
        print(f"  missed: {k} factor {injected[k]['factor']}")
    for k in sorted(set(detected) - hits)[:10]:
        r = detected[k]
        figures = f"actual {r['actual_cost_usd']} expected {r['expected_cost_usd']} score {r['score']:.1f}"
        print(f"  false alarm: {k} {figures}")
    spiked_days = {(t["account_id"], t["workspace_id"], t["usage_date"]) for t in truth}
    jobs_found = [r for r in found if r["series"] == "job"]
    on_spikes = [r for r in jobs_found if (r["account_id"], r["workspace_id"], str(r["usage_date"])) in spiked_days]
    print(f"job anomalies: {len(jobs_found)}, of which on a spiked workspace-day: {len(on_spikes)}")
    print(f"precision = {precision:.3f} ({verdict(precision, GOAL, lower_is_better=False)})")
    print(f"recall    = {recall:.3f} ({verdict(recall, GOAL, lower_is_better=False)})")


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=45, help="days to simulate (spikes from the 8th on)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed")


if __name__ == "__main__":
    bench_main(__doc__, "bench-anomalies-", run, add_options)
