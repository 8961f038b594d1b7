"""A small simulated lake run through the whole local pipeline, for the cost tests.

``base_lake`` is built once per test session (two pipeline runs: N days, then one appended day with a few unpriced
rows) and each test works on its own copy, so tests stay independent without paying for the build twice.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

from stm.config import Config
from stm.store.base import StreamOptions
from stm.store.local import LocalTableStore
from stm.transforms.models import models
from streaming.apps import AppStats, resolve_apps
from streaming.checkpoints import Checkpoints
from streaming.runner import StreamRunner

INGEST_BEFORE = 20  # batch jobs ordered below this ingest the tables that cannot stream (as `stm demo` does)
BILLING_APPS = ("billing_usage_bronze", "billing_summary")
DAYS = 11  # the late-correction test retracts a record dated 10 days before the newest day
UNLISTED_SKU = "UNLISTED_SKU_NO_PRICE"
USAGE = ("billing", "usage")
_BASE: dict[str, Path] = {}
LATE_DATES: set[date] = set()  # dates older than the appended day that the second run's new source rows carry


def store_of(spark: Any, lake: Path) -> LocalTableStore:
    return LocalTableStore(spark, lake)


def run_jobs_named(spark: Any, cfg: Config, lake: Path, names: Iterable[str] | None = None) -> dict[str, Any]:
    """Run batch jobs by name (default: the ingest jobs); every one must succeed."""
    from batch.command import available_jobs
    from batch.registry import BatchContext, resolve_jobs, run_jobs

    jobs = available_jobs(cfg)
    chosen = (
        [j for j in resolve_jobs(jobs, [], True) if j.order < INGEST_BEFORE]
        if names is None
        else resolve_jobs(jobs, list(names), False)
    )
    results = run_jobs(BatchContext(cfg, spark, store_of(spark, lake)), chosen)
    failed = {n: r.detail for n, r in results.items() if r.status == "failed"}
    assert not failed, failed
    return results


def stream(spark: Any, cfg: Config, lake: Path, apps: Iterable[str] | None = None) -> dict[str, AppStats]:
    """Run the streaming apps (default: all of them) with availableNow; none may fail."""
    runner = StreamRunner(
        cfg, spark, store_of(spark, lake), Checkpoints(lake / "_checkpoints"), StreamOptions(), {"availableNow": True}
    )
    chosen = resolve_apps(cfg, [], True) if apps is None else resolve_apps(cfg, list(apps), False)
    stats = runner.run(chosen)
    failed = {n: s.detail for n, s in stats.items() if s.status not in ("ok", "skipped")}
    assert not failed, failed
    return stats


def run_pipeline(spark: Any, cfg: Config, lake: Path) -> None:
    """Ingest the batch-only tables, then every streaming app (bronze, then billing_summary and gold)."""
    run_jobs_named(spark, cfg, lake)
    stream(spark, cfg, lake)


def usage_path(lake: Path) -> Path:
    return lake.joinpath("system", *USAGE)


def read_source(path: Path) -> pa.Table:
    # to_pyarrow_table() can abort the process at exit; a single-threaded dataset scan does not
    return DeltaTable(str(path)).to_pyarrow_dataset().to_table(use_threads=False)


def new_records(rows: pa.Table, **columns: pa.Array) -> pa.Table:
    """``rows`` as new records: fresh record ids, ``columns`` replaced."""
    out = rows.set_column(
        rows.schema.get_field_index("record_id"), "record_id", pa.array([str(uuid.uuid4()) for _ in range(len(rows))])
    )
    for name, values in columns.items():
        i = out.schema.get_field_index(name)
        out = out.set_column(i, out.schema.field(i), values)
    return out


def append_unlisted_usage(lake: Path, count: int = 3) -> pa.Table:
    """Append ``count`` copies of the newest day's records under a SKU no price list has: they stay unpriced."""
    usage = read_source(usage_path(lake))
    newest = pc.max(usage.column("usage_date"))
    rows = usage.filter(pc.equal(usage.column("usage_date"), newest)).slice(0, count)
    unlisted = new_records(rows, sku_name=pa.array([UNLISTED_SKU] * len(rows)))
    write_deltalake(str(usage_path(lake)), unlisted, mode="append")
    return unlisted


def corrections_of(rows: pa.Table, ingested: date) -> pa.Table:
    """A RETRACTION of each record and a RESTATEMENT at 1.5 times its quantity, ingested on ``ingested``."""
    out = []
    for r in rows.to_pylist():
        for kind, quantity in (("RETRACTION", -r["usage_quantity"]), ("RESTATEMENT", r["usage_quantity"] * 3 / 2)):
            out.append(
                r
                | {
                    "record_id": str(uuid.uuid4()),
                    "record_type": kind,
                    "usage_quantity": quantity,
                    "ingestion_date": ingested,
                }
            )
    return pa.Table.from_pylist(out, schema=rows.schema)


def append_late_corrections(lake: Path, days_back: int, count: int = 2) -> None:
    """Correct ``count`` ORIGINAL records of the day ``days_back`` before the newest one (landing now)."""
    usage = read_source(usage_path(lake))
    newest = newest_date(lake)
    day = usage.filter(pc.equal(usage.column("usage_date"), newest - timedelta(days=days_back)))
    originals = day.filter(pc.equal(day.column("record_type"), "ORIGINAL")).slice(0, count)
    write_deltalake(str(usage_path(lake)), corrections_of(originals, newest), mode="append")


def base_lake(tmp_path_factory: Any, spark: Any, cfg: Config) -> Path:
    """The shared lake (built on first use): simulate, run; append a day, unpriced rows and corrections of an
    earlier day; run again."""
    if "lake" not in _BASE:
        from stm.simulate.simulator import simulate

        lake = tmp_path_factory.mktemp("cost-base") / "lake"
        simulate(lake, accounts=2, workspaces=2, days=DAYS - 1, seed=5, billing_rows_per_day=12, audit_events_per_day=3)
        run_pipeline(spark, cfg, lake)
        seen = set(read_source(usage_path(lake)).column("record_id").to_pylist())
        simulate(lake, days=1, append=True)
        append_unlisted_usage(lake)
        append_late_corrections(lake, days_back=3)
        usage = read_source(usage_path(lake))
        added = usage.filter(pc.invert(pc.is_in(usage.column("record_id"), pa.array(list(seen)))))
        newest = newest_date(lake)
        LATE_DATES.update(d for d in added.column("usage_date").to_pylist() if d < newest)
        run_pipeline(spark, cfg, lake)
        _BASE["lake"] = lake
    return _BASE["lake"]


def copy_lake(source: Path, target: Path, *, system_only: bool = False) -> Path:
    """A copy of a lake (checkpoints hold no paths, Delta logs relative ones), or of its system catalog only."""
    if system_only:
        shutil.copytree(source / "system", target / "system")
    else:
        shutil.copytree(source, target)
    return target


def derived_tables(cfg: Config, store: LocalTableStore) -> list[str]:
    """billing_summary and every registered model table that exists in the lake."""
    names = ["billing_summary", *models(cfg)]
    return [n for n in names if store.exists(cfg.output_name(n))]


def plain(value: Any) -> Any:
    """A value that compares and sorts the same way however Spark delivered it (maps, arrays, structs, doubles)."""
    if isinstance(value, dict):
        return tuple(sorted((k, plain(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(plain(v) for v in value)
    if hasattr(value, "asDict"):
        return tuple((k, plain(v)) for k, v in value.asDict().items())
    if isinstance(value, float):
        return float(f"{value:.12g}")  # doubles (ratios, averages) are summed in partition order: 12 digits
    return value


def table_rows(store: LocalTableStore, name: str) -> list[tuple[Any, ...]]:
    """Every row of ``name`` without audit columns (``_``-prefixed), in a canonical order."""
    df = store.read(name)
    columns = sorted(c for c in df.columns if not c.startswith("_"))
    rows = [tuple((c, plain(r[c])) for c in columns) for r in df.select(*columns).collect()]
    return sorted(rows, key=repr)


def snapshot(cfg: Config, store: LocalTableStore, names: Iterable[str]) -> dict[str, list[tuple[Any, ...]]]:
    return {n: table_rows(store, cfg.output_name(n)) for n in names}


def by_key(store: LocalTableStore, name: str, keys: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The rows of ``name`` keyed by ``keys`` (each key must be unique)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in store.read(name).collect():
        row = {k: v for k, v in r.asDict().items() if not k.startswith("_")}
        key = tuple(row[k] for k in keys)
        assert key not in out, f"{name}: key {key} twice"
        out[key] = row
    return out


def cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"))


def newest_date(lake: Path) -> date:
    value = pc.max(read_source(usage_path(lake)).column("usage_date")).as_py()
    assert isinstance(value, date)
    return value
