"""A source that exists but that the job identity may not read fails its app or job naming the missing grant; only
a source that does not exist (its system schema not enabled) is skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batch.ingest import ingest
from stm.errors import SourceUnreadable, is_permission_error
from stm.store.base import StreamOptions
from stm.store.local import LocalTableStore
from stm.store.sources import source_exists
from streaming.apps import resolve_apps
from streaming.checkpoints import Checkpoints
from streaming.runner import StreamRunner

# Databricks' refusals and its missing table, as Spark surfaces them (error classes of
# https://docs.databricks.com/aws/en/error-messages/error-classes; the message form of INSUFFICIENT_PERMISSIONS as a
# Databricks SQL warehouse returns it)
NO_USE_SCHEMA = (
    "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have USE SCHEMA on Schema 'system.billing'. "
    "SQLSTATE: 42501"
)
NOT_FOUND = "[TABLE_OR_VIEW_NOT_FOUND] The table or view `system`.`billing`.`usage` cannot be found. SQLSTATE: 42P01"
GRANTS = (
    "GRANT USE CATALOG ON CATALOG system TO `<job identity>`; GRANT USE SCHEMA ON SCHEMA system.billing TO "
    "`<job identity>`; GRANT SELECT ON SCHEMA system.billing TO `<job identity>`"
)


class Catalog:
    """A store's existence check as Unity Catalog answers it: ``exists`` for a table, or a refusal."""

    def __init__(self, exists: bool | str) -> None:
        self.answer = exists

    def exists(self, name: str) -> bool:
        if isinstance(self.answer, str):
            raise RuntimeError(self.answer)
        return self.answer


def raising(message: str) -> Any:
    def probe(store: Any, name: str) -> object:
        raise RuntimeError(message)

    return probe


def test_is_permission_error_on_databricks_error_classes_tells_refusal_from_missing():
    assert is_permission_error(RuntimeError(NO_USE_SCHEMA))
    assert is_permission_error(RuntimeError("[PERMISSION_DENIED] User does not have SELECT on Table 'a.b.c'."))
    assert not is_permission_error(RuntimeError(NOT_FOUND))


def test_source_exists_on_a_table_that_looks_absent_for_want_of_a_grant_raises_naming_it():
    with pytest.raises(SourceUnreadable) as caught:
        source_exists(Catalog(False), "system.billing.usage", raising(NO_USE_SCHEMA))
    assert str(caught.value) == (
        f"source system.billing.usage exists but cannot be read by this job's identity: {NO_USE_SCHEMA}; "
        f"grant: {GRANTS}"
    )
    assert caught.value.exit_code == 1


def test_source_exists_on_a_missing_table_is_false_and_on_an_existing_one_true():
    assert source_exists(Catalog(False), "system.billing.usage", raising(NOT_FOUND)) is False
    assert source_exists(Catalog(True), "system.billing.usage", raising(NO_USE_SCHEMA)) is True


def test_source_exists_when_the_existence_check_is_refused_raises_naming_the_grant():
    with pytest.raises(SourceUnreadable, match=r"GRANT USE SCHEMA ON SCHEMA system\.billing"):
        source_exists(Catalog(NO_USE_SCHEMA), "system.billing.usage", raising(NOT_FOUND))


class RefusingLake(LocalTableStore):
    """A lake whose catalog refuses the job identity the schema of ``refused`` (as Unity Catalog would)."""

    def __init__(self, spark: Any, root: Path, refused: str) -> None:
        super().__init__(spark, root)
        self.refused = refused

    def exists(self, name: str) -> bool:
        if name.startswith(self.refused):
            raise RuntimeError(NO_USE_SCHEMA)
        return super().exists(name)


def test_stream_on_a_refused_system_table_fails_naming_the_grant_instead_of_skipping(spark, cfg, tmp_path):
    store = RefusingLake(spark, tmp_path / "lake", "system.billing.")
    runner = StreamRunner(cfg, spark, store, Checkpoints(tmp_path / "cp"), StreamOptions(), {"availableNow": True})
    with pytest.raises(SourceUnreadable, match=r"source system\.billing\.usage exists but cannot be read"):
        runner.run(resolve_apps(cfg, ["billing_usage_bronze"], False))


def test_ingest_of_a_refused_system_table_fails_naming_the_grant_instead_of_skipping(spark, cfg, tmp_path):
    store = RefusingLake(spark, tmp_path / "lake", "system.billing.")
    spec = cfg.table("list_prices")
    with pytest.raises(SourceUnreadable, match=r"GRANT SELECT ON SCHEMA system\.billing"):
        ingest(store, spec, cfg.source_name(spec), cfg.output_name("list_prices"), 1)
    missing = ingest(LocalTableStore(spark, tmp_path / "lake"), spec, cfg.source_name(spec), "x.y.z", 1)
    assert (missing.status, missing.detail) == (
        "skipped",
        "source system.billing.list_prices missing: enable system schema 'billing'",
    )
