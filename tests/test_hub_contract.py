"""One hub contract: the local hub's tables and the Databricks hub's views, fed the same providers, hold the same rows.

The providers below differ the way real ones do: one runs an older release (columns in another order, one missing,
one extra), an account's account-wide rows arrive from both of its workspaces. The Databricks views' SQL, as deploy
generates it, runs on local Spark over the providers' tables; the local hub's Arrow transforms run over the same
data; every table must come out with the same names, the same columns in the same order and the same rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from deploy.hub_sql import Column, Provided, Source, derived_selects, view_name, view_select
from stm.anomalies import write_anomalies
from stm.config import Config
from stm.sharing.hub_tables import ProviderData, consolidate, cross_account_dashboard, workspaces_costs
from stm.store.local import LocalTableStore

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
MONEY = pa.decimal128(38, 18)
# (provider, account, workspace) in the hub's order
PROVIDERS = [("acme_eu", "acme", "acme_eu"), ("acme_us", "acme", "acme_us"), ("globex", "globex", "globex_us")]


def _billing(rows: list[tuple[Any, ...]], older: bool = False) -> pa.Table:
    """billing_summary rows: record, workspace, date, product, unit, quantity, list and net cost, priced, job, user."""
    cols = list(zip(*rows, strict=True))
    data = {
        "account_id": pa.array(["acct-" + r[0].split("-")[0] for r in rows]),
        "record_id": pa.array(cols[0]),
        "workspace_id": pa.array(cols[1]),
        "usage_date": pa.array(cols[2], pa.date32()),
        "billing_origin_product": pa.array(cols[3]),
        "usage_unit": pa.array(cols[4]),
        "usage_quantity": pa.array([Decimal(str(v)) for v in cols[5]], MONEY),
        "estimated_cost_usd": pa.array([None if v is None else Decimal(str(v)) for v in cols[6]], MONEY),
        "net_cost_usd": pa.array([None if v is None else Decimal(str(v)) for v in cols[7]], MONEY),
        "is_priced": pa.array(cols[8], pa.bool_()),
        "job_id": pa.array(cols[9]),
        "run_as": pa.array(cols[10]),
    }
    if older:
        # an older release: no net cost yet, columns in another order, a column the others lack
        del data["net_cost_usd"]
        data = {"legacy_flag": pa.array([True] * len(rows)), **dict(reversed(list(data.items())))}
    return pa.table(data)


ACME_SHARED = [  # account-wide: both acme workspaces share every acme record
    ("acme-1", "w1", D1, "JOBS", "DBU", 10, 5.5, 5.0, True, "j1", "ann@acme.test"),
    ("acme-2", "w2", D1, "SQL", "DBU", 4, 2.2, 2.0, True, None, "bob@acme.test"),
    ("acme-3", "w1", D2, "JOBS", "DBU", 3, None, None, False, "j1", "ann@acme.test"),
    ("acme-4", "w2", D2, "MODEL_SERVING", "GPU_HOUR", 2, 7.0, 6.5, True, None, None),
]
BILLING = {
    "acme_eu": _billing(ACME_SHARED),
    "acme_us": _billing(
        [*ACME_SHARED[1:], ("acme-5", "w2", D2, "SQL", "DBU", 1, 0.7, 0.6, True, None, "cy@acme.test")]
    ),
    "globex": _billing([("globex-1", "g1", D1, "JOBS", "DBU", 8, 3.2, 3.0, True, "j9", "dee@globex.test")], older=True),
}
RUNS = {
    "acme_eu": pa.table(
        {"account_id": ["acct-acme"], "run_date": pa.array([D1], pa.date32()), "total_runs": [4], "failed_runs": [1]}
    ),
    "acme_us": pa.table(
        {"account_id": ["acct-acme"], "run_date": pa.array([D1], pa.date32()), "total_runs": [2], "failed_runs": [0]}
    ),
    "globex": pa.table(
        {"account_id": ["acct-globex"], "run_date": pa.array([D2], pa.date32()), "total_runs": [3], "failed_runs": [3]}
    ),
}
PRODUCT_COST = {  # account-wide without a key: each account's rows come from its first listed provider only
    "acme_eu": pa.table({"usage_date": pa.array([D1], pa.date32()), "product": ["JOBS"], "cost": [1.0]}),
    "acme_us": pa.table({"usage_date": pa.array([D1], pa.date32()), "product": ["JOBS"], "cost": [1.0]}),
    "globex": pa.table({"usage_date": pa.array([D1], pa.date32()), "product": ["SQL"], "cost": [2.0]}),
}
TABLES = {"billing_summary": BILLING, "job_runs_summary": RUNS, "cost_by_product": PRODUCT_COST}


def _spark_type(t: pa.DataType) -> str:
    names = {
        pa.string(): "string",
        pa.date32(): "date",
        pa.bool_(): "boolean",
        pa.int64(): "bigint",
        pa.float64(): "double",
        MONEY: "decimal(38,18)",
    }
    return names[t]


def _rows(table: Any) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples, order-free; decimals by value."""

    def norm(v: Any) -> Any:
        return v.normalize() if isinstance(v, Decimal) else v

    return sorted((tuple(norm(v) for v in r) for r in table), key=repr)


@pytest.fixture(scope="module")
def databricks_hub(spark: Any, cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every hub view's rows and columns, its SQL as deploy generates it, run over the providers' tables."""
    root: Path = tmp_path_factory.mktemp("hub_contract")
    sources = {}
    for provider, account, workspace in PROVIDERS:
        schema = f"contract_{provider}"
        spark.sql(f"CREATE DATABASE {schema} LOCATION '{root / schema}'")
        sources[provider] = Source(account, workspace, "spark_catalog", schema)
        for table, data in TABLES.items():
            spark.createDataFrame(data[provider].to_pandas()).write.format("delta").saveAsTable(f"{schema}.{table}")
    hub = "contract_hub"
    spark.sql(f"CREATE DATABASE {hub} LOCATION '{root / hub}'")
    specs = cfg.shared_tables("stm_monitoring")
    out: dict[str, Any] = {}
    for table, data in TABLES.items():
        provided = [
            Provided(sources[p], tuple(Column(f.name, _spark_type(f.type)) for f in data[p].schema))
            for p, _, _ in PROVIDERS
        ]
        spark.sql(f"CREATE VIEW {hub}.{view_name(table)} AS {view_select(table, specs[table], provided)}")
    views = {view_name(t) for t in TABLES}
    # cost_forecast calls Databricks SQL's ai_forecast, which open-source Spark lacks: tests/test_forecast.py runs its
    # SQL with a stand-in; the local hub's forecast is a table of its own, outside this contract
    derived = {
        v: select
        for v, select in derived_selects("spark_catalog", hub, views, cfg.analytics).items()
        if v != "cost_forecast"
    }
    for view, select in derived.items():
        spark.sql(f"CREATE VIEW {hub}.{view} AS {select}")
    for view in [*views, *derived]:
        df = spark.table(f"{hub}.{view}")
        out[view] = (df.columns, _rows(tuple(r) for r in df.collect()))
    for schema in [hub, *(s.schema for s in sources.values())]:
        spark.sql(f"DROP DATABASE {schema} CASCADE")
    return out


def local_hub(cfg: Config, anomalies: Any = None) -> dict[str, Any]:
    """What the local hub writes for the same providers (stm.sharing.hub's consolidate step, then
    ``stm hub finops``'s table when ``anomalies`` gives it)."""
    specs = cfg.shared_tables("stm_monitoring")
    out = {
        view_name(table): consolidate(specs[table], [ProviderData(p, a, w, data[p]) for p, a, w in PROVIDERS])
        for table, data in TABLES.items()
    }
    billing = out["all_billing_summary"]
    out["all_workspaces_billing"] = billing
    out["all_workspaces_costs"] = workspaces_costs(billing)
    out["cross_account_dashboard"] = cross_account_dashboard(billing, out["all_job_runs_summary"])
    if anomalies is not None:
        out["cost_anomalies"] = anomalies
    return out


@pytest.fixture(scope="module")
def local_anomalies(spark: Any, cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """``stm hub finops`` over the local hub's consolidated costs (written as the hub sync writes them)."""
    store = LocalTableStore(spark, tmp_path_factory.mktemp("local_hub"))
    costs = local_hub(cfg)["all_workspaces_costs"]
    store.replace(f"{cfg.hub.catalog}.{cfg.hub.schema}.all_workspaces_costs", spark.createDataFrame(costs.to_pandas()))
    assert write_anomalies(cfg, store) is not None
    return store.read(f"{cfg.hub.catalog}.{cfg.hub.schema}.cost_anomalies").toArrow()


def test_both_hubs_publish_the_same_tables(databricks_hub: dict[str, Any], cfg: Config, local_anomalies: pa.Table):
    assert sorted(databricks_hub) == sorted(local_hub(cfg, local_anomalies))


@pytest.mark.parametrize(
    "view",
    [
        "all_billing_summary",
        "all_job_runs_summary",
        "all_cost_by_product",
        "all_workspaces_billing",
        "all_workspaces_costs",
        "cross_account_dashboard",
        "cost_anomalies",
    ],
)
def test_both_hubs_hold_the_same_columns_and_rows(
    databricks_hub: dict[str, Any], cfg: Config, local_anomalies: pa.Table, view: str
):
    local = local_hub(cfg, local_anomalies)[view]
    columns, rows = databricks_hub[view]

    assert columns == local.column_names
    assert rows == _rows(tuple(r.values()) for r in local.to_pylist())


def test_the_contract_is_not_vacuous(databricks_hub: dict[str, Any]):
    """The shared acme records appear once, from the first listed provider; globex's missing net cost is NULL."""
    columns, rows = databricks_hub["all_billing_summary"]
    by_record = {r[columns.index("record_id")]: r for r in rows}
    assert len(rows) == 6 and by_record["acme-2"][columns.index("source_workspace")] == "acme_eu"
    assert by_record["acme-5"][columns.index("source_workspace")] == "acme_us"
    assert by_record["globex-1"][columns.index("net_cost_usd")] is None
    assert by_record["acme-1"][columns.index("legacy_flag")] is None
    _, products = databricks_hub["all_cost_by_product"]
    assert len(products) == 2
    columns, costs = databricks_hub["all_workspaces_costs"]
    assert len(costs) == 6
