"""FOCUS 1.2 export: the column set in the specification's order, hand-checked values of a record, its correction and
an endpoint, unpriced records left out (never exported as 0), the batch job's reruns, and ``stm export focus``."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from batch.finops_jobs import focus_costs_job
from stm.cli import main
from stm.transforms.focus import EXTRA_COLUMNS, FOCUS_COLUMNS, focus_costs
from tests.test_batch_lake import add, ctx, read, version

__all__ = ["ctx"]  # the fixture, imported for pytest

SUMMARY = (
    "account_id string, workspace_id string, record_id string, usage_date date, usage_start_time timestamp, "
    "usage_end_time timestamp, sku_name string, cloud string, usage_unit string, usage_quantity decimal(38,18), "
    "record_type string, billing_origin_product string, usage_type string, job_id string, warehouse_id string, "
    "cluster_id string, endpoint_name string, endpoint_id string, dlt_pipeline_id string, notebook_id string, "
    "custom_tags map<string,string>, list_price_usd decimal(38,18), estimated_cost_usd decimal(38,12), "
    "net_price_usd decimal(38,18), net_cost_usd decimal(38,12), price_source string, is_priced boolean"
)
START = datetime(2026, 11, 30, 23, tzinfo=timezone.utc)  # the last hour of November: billing period November


def record(rid, qty, kind="ORIGINAL", *, product="JOBS", price="0.15", net="0.12", meta=None, tags=None, day=None):
    meta = {"job_id": "7", "cluster_id": "c1", **(meta or {})}
    quantity = Decimal(qty)
    priced = price is not None
    start = START if day is None else datetime(day.year, day.month, day.day, 5, tzinfo=timezone.utc)
    return (
        "acc", "ws1", rid, start.date(), start, start + timedelta(hours=1), "PREMIUM_JOBS_COMPUTE", "AWS", "DBU",
        quantity, kind, product, "COMPUTE_TIME", meta.get("job_id"), meta.get("warehouse_id"), meta.get("cluster_id"),
        meta.get("endpoint_name"), meta.get("endpoint_id"), None, None, tags or {},
        Decimal(price) if priced else None, quantity * Decimal(price) if priced else None,
        Decimal(net) if priced else None, quantity * Decimal(net) if priced else None,
        "discount" if priced else None, priced,
    )  # fmt: skip


ROWS = [
    record("o1", "10", tags={"team": "data"}),
    record("r1", "-10", "RETRACTION", tags={"team": "data"}),
    record("s1", "12", "RESTATEMENT", tags={"team": "data"}),
    record("e1", "2", product="MODEL_SERVING", price="0.07", net="0.07",
           meta={"job_id": None, "cluster_id": None, "endpoint_id": "ep1", "endpoint_name": "chat"}),
    record("u1", "3", price=None),  # no list price: left out, counted in dq_unpriced_usage
]  # fmt: skip


def test_focus_columns_in_specification_order_then_extensions(spark):
    out = focus_costs(spark.createDataFrame(ROWS, SUMMARY))
    assert tuple(out.columns) == (*FOCUS_COLUMNS, *EXTRA_COLUMNS)
    assert len(FOCUS_COLUMNS) == 57 and list(FOCUS_COLUMNS) == sorted(FOCUS_COLUMNS)
    assert all(c.startswith("x_") for c in EXTRA_COLUMNS)


def test_focus_values_of_a_record_its_correction_and_an_endpoint(spark):
    rows = {r.x_RecordId: r for r in focus_costs(spark.createDataFrame(ROWS, SUMMARY)).collect()}
    assert set(rows) == {"o1", "r1", "s1", "e1"}  # u1 has no price: never exported as 0
    o1, r1, s1, e1 = rows["o1"], rows["r1"], rows["s1"], rows["e1"]
    assert (o1.ListCost, o1.BilledCost, o1.EffectiveCost, o1.ContractedCost) == (
        Decimal("1.5"), Decimal("1.2"), Decimal("1.2"), Decimal("1.2"))  # fmt: skip
    assert (o1.ListUnitPrice, o1.ContractedUnitPrice, o1.ConsumedQuantity, o1.PricingUnit) == (
        Decimal("0.15"), Decimal("0.12"), Decimal(10), "DBU")  # fmt: skip
    assert (o1.ChargeClass, r1.ChargeClass, s1.ChargeClass) == (None, "Correction", "Correction")
    assert r1.BilledCost == Decimal("-1.2") and s1.BilledCost == Decimal("1.44")
    # corrections net: 1.20 - 1.20 + 1.44 billed for the job, list 1.50 - 1.50 + 1.80
    assert sum(r.BilledCost for r in (o1, r1, s1)) == Decimal("1.44")
    utc = timezone.utc
    assert o1.BillingPeriodStart.astimezone(utc) == datetime(2026, 11, 1, tzinfo=utc)
    assert o1.BillingPeriodEnd.astimezone(utc) == datetime(2026, 12, 1, tzinfo=utc)
    assert o1.ChargePeriodStart.astimezone(utc) == START
    assert (o1.ResourceId, o1.ResourceType, o1.ServiceCategory, o1.ServiceSubcategory) == (
        "7", "Job", "Analytics", "Data Processing")  # fmt: skip
    assert (e1.ResourceId, e1.ResourceType, e1.ResourceName, e1.ServiceCategory) == (
        "ep1", "Serving Endpoint", "chat", "AI and Machine Learning")  # fmt: skip
    assert json.loads(o1.Tags) == {"team": "data"} and e1.Tags is None
    assert (o1.BillingAccountId, o1.SubAccountId, o1.ProviderName, o1.ChargeCategory, o1.x_FocusVersion) == (
        "acc", "ws1", "Databricks", "Usage", "1.2")  # fmt: skip


def test_focus_job_rerun_writes_nothing_and_export_writes_csv_and_parquet(ctx, tmp_path, capsys):
    add(ctx, "billing_summary", ROWS, SUMMARY, ["account_id", "record_id"])
    first = focus_costs_job(ctx)
    assert first.status == "ok" and "1 unpriced records left out" in first.detail
    assert read(ctx, "focus_costs").count() == 4
    before = version(ctx, "focus_costs")
    assert focus_costs_job(ctx).detail.startswith("unchanged")
    assert version(ctx, "focus_costs") == before

    lake = str(ctx.store.lake_root)
    out_csv = tmp_path / "focus.csv"
    assert main(["export", "focus", "--lake-root", lake, "--out", str(out_csv)]) == 0
    with out_csv.open(newline="") as f:
        rows = {r["x_RecordId"]: r for r in csv.DictReader(f)}
    assert list(rows["o1"])[: len(FOCUS_COLUMNS)] == list(FOCUS_COLUMNS)
    assert rows["s1"]["BilledCost"] == "1.440000000000"  # an exact decimal, not a float
    assert rows["o1"]["ChargePeriodStart"] == "2026-11-30T23:00:00Z"
    assert rows["o1"]["BillingPeriodEnd"] == "2026-12-01T00:00:00Z" and rows["o1"]["x_UsageDate"] == "2026-11-30"
    assert "FOCUS 1.2 export written" in capsys.readouterr().out

    out_parquet = tmp_path / "focus.parquet"
    assert main(["export", "focus", "--lake-root", lake, "--out", str(out_parquet), "--to", "2026-11-29"]) == 0
    assert pq.read_table(out_parquet).num_rows == 0  # every record is dated 2026-11-30
    assert main(["export", "focus", "--lake-root", lake, "--out", str(out_parquet), "--force"]) == 0
    table = pq.read_table(out_parquet)
    assert table.num_rows == 4 and sum(v.as_py() for v in table["BilledCost"]) == Decimal("1.58")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "x.json"], "cannot tell the format from the suffix"),
        (["--out", "x.csv", "--from", "2026-11-02", "--to", "2026-11-01"], "is after"),
        (["--out", "x.csv"], "no focus_costs table"),
        (["--out", "x.csv", "--format", "xlsx"], "invalid choice"),
    ],
)
def test_export_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, extra, message):
    lake = tmp_path / "lake"
    lake.mkdir()
    args = [
        "export",
        "focus",
        "--lake-root",
        str(lake),
        *[str(tmp_path / a) if a.startswith("x.") else a for a in extra],
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not list(tmp_path.glob("x.*"))


def test_export_refuses_to_replace_a_file_without_force(tmp_path, capsys):
    out = tmp_path / "focus.csv"
    out.write_text("keep me")
    assert main(["export", "focus", "--lake-root", str(tmp_path), "--out", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err and out.read_text() == "keep me"


def test_export_of_a_hub_lake_writes_every_account_with_its_source_as_custom_columns(tmp_path, capsys):
    from datetime import date

    import pyarrow as pa
    from deltalake import write_deltalake

    hub = tmp_path / "hub"
    rows = pa.table(
        {
            "source_account": ["acc1", "acc2"],
            "source_workspace": ["1001", "2001"],
            "BilledCost": pa.array([Decimal("1.5"), Decimal("2.25")], pa.decimal128(38, 12)),
            "ChargePeriodStart": pa.array([START, START], pa.timestamp("us", tz="UTC")),
            "x_RecordId": ["r1", "r1"],
            "x_UsageDate": [date(2026, 11, 30), date(2026, 11, 30)],
        }
    )
    write_deltalake(str(hub / "monitoring_hub" / "consolidated" / "all_focus_costs"), rows)
    out = tmp_path / "all.csv"
    assert main(["export", "focus", "--lake-root", str(hub), "--out", str(out)]) == 0
    assert "all_focus_costs" in capsys.readouterr().out
    with out.open(newline="") as f:
        reader = csv.DictReader(f)
        got = list(reader)
        assert reader.fieldnames is not None and reader.fieldnames[-2:] == ["x_SourceAccount", "x_SourceWorkspace"]
    assert [(r["x_SourceAccount"], r["BilledCost"]) for r in got] == [
        ("acc1", "1.500000000000"),
        ("acc2", "2.250000000000"),
    ]
