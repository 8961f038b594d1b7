"""Small Delta tables for tests, written with delta-rs."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import pyarrow as pa

EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string()),
        pa.field("workspace_id", pa.string()),
        pa.field("event_time", pa.timestamp("us", tz="UTC")),
        pa.field("amount", pa.decimal128(38, 18)),
    ]
)


def events(ids: list[str], hour: int = 0, amount: int = 1) -> pa.Table:
    """A small append-only table shaped like a system table (STRING ids, UTC timestamps, decimal(38,18))."""
    from decimal import Decimal

    t = datetime(2026, 11, 1, hour, tzinfo=timezone.utc)
    return pa.table(
        {
            "event_id": ids,
            "workspace_id": ["1001"] * len(ids),
            "event_time": [t] * len(ids),
            "amount": [Decimal(amount)] * len(ids),
        },
        schema=EVENTS,
    )


def append(path: Path, table: pa.Table, schema_mode: Literal["merge", "overwrite"] | None = None) -> None:
    from deltalake import write_deltalake

    path.mkdir(parents=True, exist_ok=True)
    write_deltalake(str(path), table, mode="append", schema_mode=schema_mode)
