"""Masking on Databricks: the masked view deploy shares gives, on Spark, exactly what the local endpoint serves.

The view's SQL (``deploy.masked_sql``) and its key table's INSERT, as deploy sends them, run on local Spark over a
table with personal data at every depth; the local endpoint's masker (``stm.sharing.masking``) masks the same rows
with the same key; the two must match value for value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deploy.masked_sql import key_table_sql, masked_select, view_name
from stm.sharing.masking import Masker
from stm.sharing.personal import MASK_PREFIX, hmac_pads

IDENTITY = pa.struct([("email", pa.string()), ("subject_name", pa.string()), ("depth", pa.int32())])
ROWS = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "run_as": ["ann@acme.test", "service-principal-7", None],
        "note": ["contact bob@acme.test", "bob@acme.test", "10.1.2.3"],
        "user_identity": pa.array(
            [
                {"email": "ann@acme.test", "subject_name": "Ann", "depth": 1},
                None,
                {"email": None, "subject_name": "x", "depth": 2},
            ],
            IDENTITY,
        ),
        "request_params": pa.array(
            [[("user_email", "ann"), ("sourceIp", "10.0.0.1"), ("path", "/a")], None, [("Owner_Email", "n/a")]],
            pa.map_(pa.string(), pa.string()),
        ),
        "tags": pa.array([["prod", "cy@acme.test"], [], None], pa.list_(pa.string())),
        "emails": pa.array([["plain"], None, ["x", None]], pa.list_(pa.string())),
        "by_day": pa.array(
            [[(1, {"email": "d@acme.test", "subject_name": "fe80::1", "depth": 3})], None, []],
            pa.map_(pa.int32(), IDENTITY),
        ),
        "cost": pa.array([1.5, 2.0, None], pa.float64()),
    }
)


def _as_python(rows: list[Any]) -> list[dict[str, Any]]:
    return sorted((r.asDict(recursive=True) for r in rows), key=lambda r: r["id"])


@pytest.fixture(scope="module")
def masked(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root: Path = tmp_path_factory.mktemp("masked_views")
    masker = Masker(root / "_sharing")
    local = root / "local.parquet"
    pq.write_table(masker.mask_table(ROWS), local)
    source = root / "source.parquet"
    pq.write_table(ROWS, source)

    schema = "masked_contract"
    spark.sql(f"CREATE DATABASE {schema} LOCATION '{root / schema}'")
    spark.read.parquet(str(source)).write.format("delta").saveAsTable(f"{schema}.audit")
    create, insert = key_table_sql("spark_catalog", schema, "managed by system-tables-monitor (target t)")
    ipad, opad = hmac_pads(masker.key())
    spark.sql(create)
    for _ in range(2):  # a second insert adds nothing: the key is drawn once
        # bound as the Statement Execution API binds STRING parameters (this local session refuses named markers)
        spark.sql(insert.replace(":ipad", f"'{ipad.hex()}'").replace(":opad", f"'{opad.hex()}'"))
    fields = json.loads(spark.table(f"{schema}.audit").schema.json())["fields"]
    select = masked_select("spark_catalog", schema, "audit", fields)
    spark.sql(f"CREATE VIEW {schema}.{view_name('audit')} AS {select}")
    out = {
        "view": _as_python(spark.table(f"{schema}.{view_name('audit')}").collect()),
        "local": _as_python(spark.read.parquet(str(local)).collect()),
        "keys": spark.table(f"{schema}.stm_mask_key").count(),
        "select": select,
    }
    spark.sql(f"DROP DATABASE {schema} CASCADE")
    return out


def test_masked_view_equals_what_the_local_endpoint_serves(masked: dict[str, Any]):
    assert masked["view"] == masked["local"]


def test_masked_view_masks_at_every_depth_and_keeps_the_rest(masked: dict[str, Any]):
    first, second, third = masked["view"]
    assert first["run_as"].startswith(MASK_PREFIX) and second["run_as"].startswith(MASK_PREFIX)
    assert third["run_as"] is None
    assert first["note"] == "contact bob@acme.test" and second["note"].startswith(MASK_PREFIX)
    assert third["note"].startswith(MASK_PREFIX)
    assert first["user_identity"]["email"].startswith(MASK_PREFIX) and first["user_identity"]["depth"] == 1
    assert second["user_identity"] is None
    assert first["request_params"]["user_email"].startswith(MASK_PREFIX)
    assert first["request_params"]["sourceIp"].startswith(MASK_PREFIX) and first["request_params"]["path"] == "/a"
    assert third["request_params"]["Owner_Email"].startswith(MASK_PREFIX)
    assert first["tags"][0] == "prod" and first["tags"][1].startswith(MASK_PREFIX)
    assert first["emails"][0].startswith(MASK_PREFIX) and third["emails"][1] is None
    assert first["by_day"][1]["email"].startswith(MASK_PREFIX)
    assert first["by_day"][1]["subject_name"].startswith(MASK_PREFIX)  # an IPv6 value
    assert first["cost"] == 1.5
    assert first["run_as"] == masked["view"][0]["user_identity"]["email"]  # same value, same mask: joins still work


def test_the_key_is_drawn_once_and_never_in_the_view_text(masked: dict[str, Any]):
    assert masked["keys"] == 1
    assert "stm_mask_key" in masked["select"] and "unhex(:" not in masked["select"]
