"""A provider lake with curated tables, and the sharing endpoint run in-process on a free loopback port."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pyarrow as pa

# delta-rs writes the small provider fixtures fast (the endpoint serves Spark-written tables too: see
# test_sharing_server.py)
from deltalake import write_deltalake

from stm.config import Config, load_config
from stm.sharing.background import ServerThread
from stm.sharing.recipients import RecipientStore
from stm.sharing.server import create_app

SHARE = "stm_monitoring"
OTHER = "other_share"
MASKED = "masked_share"
MONEY = pa.decimal128(38, 18)

BILLING = pa.schema(
    [
        pa.field("account_id", pa.string()),
        pa.field("workspace_id", pa.string()),
        pa.field("record_id", pa.string()),
        pa.field("usage_date", pa.date32()),
        pa.field("usage_unit", pa.string()),
        pa.field("usage_quantity", MONEY),
        pa.field("billing_origin_product", pa.string()),
        pa.field("job_id", pa.string()),
        pa.field("run_as", pa.string()),
        pa.field("estimated_cost_usd", MONEY),
        pa.field("net_cost_usd", MONEY),
        pa.field("is_priced", pa.bool_()),
    ]
)
RUNS = pa.schema(
    [
        pa.field("account_id", pa.string()),
        pa.field("workspace_id", pa.string()),
        pa.field("run_date", pa.date32()),
        pa.field("job_id", pa.string()),
        pa.field("total_runs", pa.int64()),
        pa.field("failed_runs", pa.int64()),
    ]
)
USERS = pa.schema(
    [
        pa.field("workspace_id", pa.string()),
        pa.field("user_email", pa.string()),
        pa.field("source_ip_address", pa.string()),
        pa.field("user_identity", pa.struct([pa.field("email", pa.string())])),
        pa.field("events", pa.int64()),
    ]
)


def sharing_config() -> Config:
    """Packaged conf plus two small shares: one for another recipient, one that masks personal data (and shares
    ``jobs_current`` without history)."""
    return load_config(
        extra={
            "shares": {
                OTHER: {"tables": ["jobs_current"]},
                MASKED: {
                    "tables": ["user_activity_summary", "jobs_current"],
                    "without_history": ["jobs_current"],
                    "mask_personal_data": True,
                },
            }
        }
    )


def table_dir(root: Path, table: str) -> Path:
    return root / "monitoring" / "workspace_usage" / table


def billing_rows(account: str, workspace: str, records: list[str], day: int = 1, cost: str = "2") -> pa.Table:
    n = len(records)
    return pa.table(
        {
            "account_id": [account] * n,
            "workspace_id": [workspace] * n,
            "record_id": records,
            "usage_date": [date(2026, 11, day)] * n,
            "usage_unit": ["DBU"] * n,
            "usage_quantity": [Decimal("1.5")] * n,
            "billing_origin_product": ["JOBS"] * n,
            "job_id": [f"job-{r}" for r in records],
            "run_as": [f"{r}@example.com" for r in records],
            "estimated_cost_usd": [Decimal(cost)] * n,
            "net_cost_usd": [Decimal(cost) / 2] * n,
            "is_priced": [True] * n,
        },
        schema=BILLING,
    )


def runs_rows(account: str, workspace: str, failed: int) -> pa.Table:
    return pa.table(
        {
            "account_id": [account],
            "workspace_id": [workspace],
            "run_date": [date(2026, 11, 1)],
            "job_id": ["job-1"],
            "total_runs": [3],
            "failed_runs": [failed],
        },
        schema=RUNS,
    )


def users_rows() -> pa.Table:
    return pa.table(
        {
            "workspace_id": ["1001", "1001"],
            "user_email": ["ann@example.com", None],
            "source_ip_address": ["10.0.0.1", "10.0.0.2"],
            "user_identity": [{"email": "ann@example.com"}, {"email": "bob@example.com"}],
            "events": [3, 4],
        },
        schema=USERS,
    )


def write(root: Path, table: str, data: pa.Table, mode: Literal["append", "overwrite"] = "append") -> None:
    write_deltalake(str(table_dir(root, table)), data, mode=mode)


def provider_lake(root: Path, account: str = "acc1", workspace: str = "1001", billed: str | None = None) -> Path:
    """A provider's curated tables; ``billed``: the workspace of its (account-wide) billing rows."""
    write(root, "billing_summary", billing_rows(account, billed or workspace, ["r1", "r2"]))
    write(root, "billing_summary", billing_rows(account, billed or workspace, ["r3"], day=2))
    write(root, "job_runs_summary", runs_rows(account, workspace, failed=1))
    write(root, "jobs_current", pa.table({"workspace_id": [workspace], "job_id": ["job-1"]}))
    write(root, "user_activity_summary", users_rows())
    return root


def serve(root: Path, cfg: Config) -> ServerThread:
    return ServerThread(create_app(root, cfg, RecipientStore(root))).start()
