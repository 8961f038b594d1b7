"""The Arrow types and builders the simulated system tables' schemas are written with."""

from __future__ import annotations

import pyarrow as pa

STR = pa.string()
TS = pa.timestamp("us", tz="UTC")
DATE = pa.date32()
DEC = pa.decimal128(38, 18)
BIGINT = pa.int64()
INT = pa.int32()
TINYINT = pa.int8()
DOUBLE = pa.float64()
BOOL = pa.bool_()
STR_MAP = pa.map_(STR, STR)


def struct(**fields: pa.DataType) -> pa.StructType:
    """A struct type whose fields keep keyword order (``default`` is a valid field name here, unlike in SQL)."""
    return pa.struct([pa.field(name, tp) for name, tp in fields.items()])


def strings(*names: str) -> pa.StructType:
    return pa.struct([pa.field(name, STR) for name in names])


def schema(*columns: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, tp) for name, tp in columns])
