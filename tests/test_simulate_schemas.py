"""The simulated tables carry exactly the reference schemas (golden DDL transcribed from system_tables.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql.types import StructType

from stm.simulate.schemas import SYSTEM_TABLES, USAGE_METADATA_FIELDS
from tests.test_simulate_support import normalize_ddl, small_lake

GOLDEN = Path(__file__).parent / "golden" / "system_schemas"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_lake(tmp_path_factory)


def test_golden_files_cover_every_simulated_table_exactly() -> None:
    assert sorted(p.name.removesuffix(".ddl") for p in GOLDEN.glob("*.ddl")) == sorted(SYSTEM_TABLES)


@pytest.mark.parametrize("table", sorted(SYSTEM_TABLES))
def test_simulated_table_schema_matches_golden_ddl(lake: Path, table: str) -> None:
    schema, name = table.split(".")
    written = StructType.fromJson(json.loads(DeltaTable(str(lake / "system" / schema / name)).schema().to_json()))
    assert written.simpleString() == normalize_ddl((GOLDEN / f"{table}.ddl").read_text())


def test_usage_metadata_has_the_34_reference_fields_in_order() -> None:
    fields = SYSTEM_TABLES["billing.usage"].field("usage_metadata").type
    assert [f.name for f in fields] == list(USAGE_METADATA_FIELDS)
    assert len(USAGE_METADATA_FIELDS) == 34
    assert USAGE_METADATA_FIELDS[24] == "ai_runtime_pool_id"


def test_normalize_ddl_nested_types_become_spark_simple_string() -> None:
    ddl = "a STRING, -- note\n b STRUCT<x: DECIMAL(38,18), y: MAP<STRING, BIGINT>>, c ARRAY<INT>"
    assert normalize_ddl(ddl) == "struct<a:string,b:struct<x:decimal(38,18),y:map<string,bigint>>,c:array<int>>"
