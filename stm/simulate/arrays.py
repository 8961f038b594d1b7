"""Vectorized Arrow building blocks: random ids, timestamps, decimals, pooled strings and whole tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stm.simulate.schema_types import DATE, TS

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def rng_for(seed: int, *path: int) -> np.random.Generator:
    """An independent, reproducible generator for one (seed, day, stream, ...) path."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *path])))


def _fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars).tobytes()))


def hex_strings(rng: np.random.Generator, n: int, width: int = 32) -> pa.StringArray:
    """``n`` random lowercase hex strings of ``width`` characters (audit event ids and the like)."""
    return _fixed_width_strings(_HEX[rng.integers(0, 16, size=(n, width), dtype=np.uint8)])


def uuid_strings(rng: np.random.Generator, n: int) -> pa.StringArray:
    """``n`` random version-4 UUID strings, drawn from ``rng`` so they are reproducible."""
    nibbles = rng.integers(0, 16, size=(n, 32), dtype=np.uint8)
    nibbles[:, 12] = 4
    nibbles[:, 16] = 8 + (nibbles[:, 16] & 3)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for dst, src in ((0, 0), (9, 8), (14, 12), (19, 16), (24, 20)):
        width = {0: 8, 20: 12}.get(src, 4)
        out[:, dst : dst + width] = _HEX[nibbles[:, src : src + width]]
    return _fixed_width_strings(out)


def digit_strings(rng: np.random.Generator, n: int, digits: int) -> list[str]:
    """``n`` distinct-looking numeric ids of exactly ``digits`` digits (workspace, job and warehouse ids)."""
    low = 10 ** (digits - 1)
    return [str(v) for v in rng.integers(low, 10 * low - 1, size=n, dtype=np.int64)]


def timestamps(us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Microseconds since the epoch to ``TIMESTAMP`` (UTC); rows where ``valid`` is false are NULL."""
    arr = pa.array(np.asarray(us, dtype=np.int64), pa.int64(), mask=None if valid is None else ~valid)
    return arr.view(TS)


def dates(us: np.ndarray) -> pa.Array:
    """The UTC date of each microsecond timestamp."""
    return pa.array((np.asarray(us, dtype=np.int64) // US_PER_DAY).astype(np.int32), pa.int32()).view(DATE)


def decimals(micro_units: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Integer millionths to ``DECIMAL(38,18)`` exactly (no float rounding); NULL where ``valid`` is false."""
    micro = np.asarray(micro_units, dtype=np.int64)
    words = np.empty((len(micro), 2), dtype=np.int64)  # little-endian int128: low word, sign-extended high word
    words[:, 0] = micro
    words[:, 1] = np.where(micro < 0, -1, 0)
    scaled = pa.Array.from_buffers(pa.decimal128(38, 6), len(micro), [None, pa.py_buffer(words.tobytes())])
    out = scaled.cast(pa.decimal128(38, 18))
    return out if valid is None else pc.if_else(pa.array(valid, pa.bool_()), out, pa.scalar(None, out.type))


def pooled(pool: Sequence[Any], idx: np.ndarray, tp: pa.DataType | None = None) -> pa.Array:
    """``pool[idx]`` as an Arrow array of type ``tp``, NULL where ``idx < 0``."""
    values = pa.array(list(pool), type=tp)
    idx = np.asarray(idx, dtype=np.int64)
    return values.take(pa.array(idx, pa.int64(), mask=idx < 0))


def pick(groups: np.ndarray, cand_groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row's group, a uniformly random index into the candidates of that group, or -1 when it has none.

    ``cand_groups`` must be sorted; ``groups`` and ``cand_groups`` are small non-negative integers.
    """
    groups = np.asarray(groups, dtype=np.int64)
    size = int(max(groups.max(initial=-1), np.asarray(cand_groups).max(initial=-1))) + 1
    counts = np.bincount(np.asarray(cand_groups, dtype=np.int64), minlength=size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n_cand = counts[groups]
    choice = starts[groups] + np.floor(rng.random(len(groups)) * np.maximum(n_cand, 1)).astype(np.int64)
    return np.where(n_cand > 0, choice, -1)


def string_ids(values: np.ndarray) -> pa.Array:
    """Non-negative integers to their decimal strings (run ids and other numeric-looking STRING ids)."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


@dataclass(frozen=True)
class Struct:
    """Values for a struct column: its fields (missing ones are NULL) and which rows are non-NULL."""

    fields: Mapping[str, Any]
    valid: np.ndarray | None = None


def column(tp: pa.DataType, value: Any, n: int) -> pa.Array:
    """Build one column of type ``tp`` and length ``n`` from an array, a ``Struct``/mapping, a scalar or None."""
    if value is None:
        return pa.nulls(n, tp)
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        arr = value.combine_chunks() if isinstance(value, pa.ChunkedArray) else value
        return arr if arr.type == tp else arr.cast(tp)
    if isinstance(value, Mapping):
        value = Struct(value)
    if isinstance(value, Struct):
        if not isinstance(tp, pa.StructType):
            raise TypeError(f"struct values given for a {tp} column")
        unknown = set(value.fields) - {f.name for f in tp}
        if unknown:
            raise KeyError(f"unknown struct fields {sorted(unknown)}")
        children = [column(f.type, value.fields.get(f.name), n) for f in tp]
        mask = None if value.valid is None else pa.array(~np.asarray(value.valid, dtype=bool))
        return pa.StructArray.from_arrays(children, fields=list(tp), mask=mask)
    if isinstance(value, np.ndarray):
        return pa.array(value, type=tp)
    return pa.array([value], type=tp).take(pa.array(np.zeros(n, dtype=np.int64)))


def build_table(schema: pa.Schema, n: int, values: Mapping[str, Any]) -> pa.Table:
    """A table of ``schema`` with ``n`` rows; columns not in ``values`` are NULL."""
    unknown = set(values) - set(schema.names)
    if unknown:
        raise KeyError(f"unknown columns {sorted(unknown)}")
    return pa.Table.from_arrays([column(f.type, values.get(f.name), n) for f in schema], schema=schema)


def from_rows(schema: pa.Schema, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """A small table from Python rows (dimension tables: a few rows per workspace and day)."""
    return pa.Table.from_pylist([dict(r) for r in rows], schema=schema)
