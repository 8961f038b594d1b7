"""Make Arrow data match a target schema: missing columns (added to the table later) become nulls."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa


def _conform_array(arr: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_struct(target) and pa.types.is_struct(arr.type):
        children = []
        for field in target:
            idx = arr.type.get_field_index(field.name)
            if idx < 0:
                children.append(pa.nulls(len(arr), field.type))
            else:
                children.append(_conform_array(arr.field(idx), field.type))
        return pa.StructArray.from_arrays(children, fields=list(target), mask=arr.is_null())
    if arr.type.equals(target):
        return arr
    return arr.cast(target)


def conform(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly ``target``'s columns, in its order and types."""
    columns = []
    for field in target:
        idx = batch.schema.get_field_index(field.name)
        if idx < 0:
            columns.append(pa.nulls(batch.num_rows, field.type))
        else:
            columns.append(_conform_array(batch.column(idx), field.type))
    return pa.RecordBatch.from_arrays(columns, schema=target)


def read_conformed(path: str, target: pa.Schema, batch_rows: int = 1 << 17) -> Iterator[pa.RecordBatch]:
    """The rows of the parquet file ``path`` in file order, as batches of up to ``batch_rows`` rows with exactly
    ``target``'s columns.

    One thread: pyarrow's thread pool in a process that has opened delta-rs tables can abort it at exit.
    """
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, use_threads=False):
        yield conform(batch, target)
