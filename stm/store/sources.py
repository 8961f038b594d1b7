"""Whether a source table can be read: missing (its system schema is not enabled: the app is skipped) is told apart
from present but refused (a grant is missing: the app fails, naming the grant)."""

from __future__ import annotations

from collections.abc import Callable

from stm.errors import SourceUnreadable, is_permission_error
from stm.names import quote_table
from stm.privileges import read_grants_hint
from stm.store.delta import TableStore


def _analyze(store: TableStore, name: str) -> object:
    """Resolve ``name`` in the catalog without reading data: refused privileges and missing tables raise here."""
    return store.spark.read.table(quote_table(name)).schema


def _refused(name: str, exc: BaseException) -> SourceUnreadable:
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
    return SourceUnreadable(
        f"source {name} exists but cannot be read by this job's identity: {first}; grant: {read_grants_hint(name)}"
    )


def source_exists(store: TableStore, name: str, probe: Callable[[TableStore, str], object] = _analyze) -> bool:
    """True when ``name`` exists; False when it does not (TABLE_OR_VIEW_NOT_FOUND and the like). A table this
    identity may not see or read (INSUFFICIENT_PERMISSIONS, PERMISSION_DENIED) raises ``SourceUnreadable``: on
    Databricks a missing USE CATALOG or USE SCHEMA can make an existing table look absent."""
    try:
        if store.exists(name):
            return True
    except Exception as exc:  # the catalog refused even the existence check
        if is_permission_error(exc):
            raise _refused(name, exc) from None
        raise
    try:
        probe(store, name)
    except Exception as exc:  # a Spark or Databricks error: only a refused privilege is ours to report
        if is_permission_error(exc):
            raise _refused(name, exc) from None
    return False
