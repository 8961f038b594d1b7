"""query.history: the statements of one day on every live SQL warehouse, vectorized."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from stm.simulate.arrays import US_PER_DAY, US_PER_SECOND, build_table, pooled, rng_for, timestamps, uuid_strings
from stm.simulate.schema_types import STR_MAP
from stm.simulate.schemas_ml import QUERY_HISTORY
from stm.simulate.world import World, user_id

QUERY_STREAM = 50
STATEMENTS = (
    ("SELECT", "SELECT region, sum(amount) FROM main.sales.orders GROUP BY region"),
    ("SELECT", "SELECT * FROM main.sales.customers WHERE signup_date >= current_date() - 7"),
    ("SELECT", "SELECT count(*) FROM main.finance.ledger"),
    ("INSERT", "INSERT INTO main.finance.ledger SELECT * FROM main.finance.ledger_staging"),
    ("MERGE", "MERGE INTO main.sales.customers t USING updates s ON t.id = s.id WHEN MATCHED THEN UPDATE SET *"),
    ("COPY", "COPY INTO main.sales.orders FROM '/Volumes/main/raw/orders' FILEFORMAT = PARQUET"),
    ("ALTER", "ALTER TABLE main.sales.orders SET TBLPROPERTIES ('delta.autoOptimize.optimizeWrite' = 'true')"),
)
CLIENTS = (
    ("Databricks SQL Editor", None),
    ("Tableau", "Databricks ODBC Driver"),
    ("Power BI", "Databricks ODBC Driver"),
    ("Databricks Dashboards", None),
    (None, "Databricks SQL Driver for Go"),
)


def history_day(world: World, day_us: int, per_warehouse: int) -> pa.Table:
    """About ``per_warehouse`` statements for every warehouse alive at the end of the day."""
    rng = rng_for(world.seed, QUERY_STREAM, day_us // US_PER_DAY)
    live = [w for w in world.of("warehouse") if w.alive(day_us + US_PER_DAY)]
    if not live:
        return QUERY_HISTORY.empty_table()
    counts = rng.poisson(per_warehouse, size=len(live))
    wh = np.repeat(np.arange(len(live)), counts)
    n = len(wh)
    account_of = np.array([world.workspaces[w.ws].account.index for w in live])[wh]
    emails = [u for a in world.accounts for u in a.users]
    user = account_of * 8 + rng.integers(0, 8, size=n)
    stmt = rng.integers(0, len(STATEMENTS), size=n)
    client = rng.integers(0, len(CLIENTS), size=n)
    percentile = rng.integers(0, 100, size=n)
    state = np.where(percentile < 90, 0, np.where(percentile < 97, 1, 2))
    compile_ms = rng.integers(20, 800, size=n)
    exec_ms = np.round(rng.lognormal(7.5, 1.3, size=n)).astype(np.int64)
    wait_ms = np.where(rng.random(n) < 0.1, rng.integers(1000, 60000, size=n), 0)
    total_ms = compile_ms + exec_ms + wait_ms
    start = day_us + rng.integers(0, US_PER_DAY - 2 * 3600 * US_PER_SECOND, size=n)
    end = start + total_ms * 1000
    read_rows = rng.integers(0, 10**8, size=n)
    cached = rng.random(n) < 0.15
    statement_ids = uuid_strings(rng, n)
    sql_query = np.where(rng.random(n) < 0.3, rng.integers(0, 5, size=n), -1)
    return build_table(
        QUERY_HISTORY,
        n,
        {
            "account_id": pooled([world.workspaces[w.ws].account.account_id for w in live], wh),
            "workspace_id": pooled([world.workspaces[w.ws].workspace_id for w in live], wh),
            "statement_id": statement_ids,
            "executed_by": pooled(emails, user),
            "session_id": uuid_strings(rng, n),
            "execution_status": pooled(["FINISHED", "FAILED", "CANCELED"], state),
            "compute": {"type": "WAREHOUSE", "warehouse_id": pooled([w.id for w in live], wh)},
            "executed_by_user_id": pooled([user_id(e) for e in emails], user),
            "statement_text": pooled([s[1] for s in STATEMENTS], stmt),
            "statement_type": pooled([s[0] for s in STATEMENTS], stmt),
            "error_message": pooled([None, "[TABLE_OR_VIEW_NOT_FOUND] The table cannot be found.", None], state),
            "client_application": pooled([c[0] for c in CLIENTS], client),
            "client_driver": pooled([c[1] for c in CLIENTS], client),
            "total_duration_ms": total_ms,
            "waiting_for_compute_duration_ms": wait_ms,
            "waiting_at_capacity_duration_ms": np.zeros(n, dtype=np.int64),
            "execution_duration_ms": exec_ms,
            "compilation_duration_ms": compile_ms,
            "total_task_duration_ms": exec_ms * rng.integers(1, 16, size=n),
            "result_fetch_duration_ms": rng.integers(0, 500, size=n),
            "start_time": timestamps(start),
            "end_time": timestamps(end),
            "update_time": timestamps(end),
            "read_partitions": rng.integers(0, 50, size=n),
            "pruned_files": rng.integers(0, 500, size=n),
            "read_files": rng.integers(0, 200, size=n),
            "read_rows": read_rows,
            "produced_rows": read_rows // rng.integers(1, 1000, size=n),
            "read_bytes": read_rows * 120,
            "read_io_cache_percent": rng.integers(0, 101, size=n).astype(np.int8),
            "from_result_cache": cached,
            "spilled_local_bytes": np.zeros(n, dtype=np.int64),
            "written_bytes": np.zeros(n, dtype=np.int64),
            "shuffle_read_bytes": rng.integers(0, 10**9, size=n),
            "query_source": {"sql_query_id": pooled([f"query-{k}" for k in range(5)], sql_query)},
            "executed_as_user_id": pooled([user_id(e) for e in emails], user),
            "executed_as": pooled(emails, user),
            "written_rows": np.zeros(n, dtype=np.int64),
            "written_files": np.zeros(n, dtype=np.int64),
            "cache_origin_statement_id": statement_ids,
            "query_tags": pooled([[], [("dashboard", "revenue")]], (client == 3).astype(np.int64), STR_MAP),
            "pruned_files_bytes": rng.integers(0, 10**9, size=n),
            "read_files_bytes": read_rows * 100,
        },
    )
