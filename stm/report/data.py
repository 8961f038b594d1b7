"""The report's inputs: the dashboard definition's datasets, run on Spark over the hub's consolidated tables.

The only module of the report that touches storage. Each dataset's SQL (``stm.dashboard.definition``, the same the
Databricks dashboard runs) is run in a session where the hub's tables are temporary views of their own names; when
the lake has no hub, the provider's own tables stand in for them (``cost_by_product`` as ``all_cost_by_product``,
with ``source_account``/``source_workspace`` from its own ids). Results come back as small pandas frames
(aggregates, not raw usage), decimals as floats and timestamps as UTC datetimes, so the pure report code never sees
Spark. A table that does not exist is recorded as missing with the reason, never raised; a table of an older
release that lacks some of a dataset's columns is read without them (the sections that need them say so).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from stm.dashboard.definition import DASHBOARD, Dataset
from stm.report.model import HUB_ONLY, HUB_ONLY_WRITERS, HUB_PREFIX, SYNC_STATUS, ReportData

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from stm.store.delta import TableStore

log = logging.getLogger(__name__)

HUB_CATALOG = "monitoring_hub"
HUB_SCHEMA = "consolidated"
SOURCE_COLUMNS = ("source_account", "source_workspace")


def load_report_data(
    store: TableStore,
    output: tuple[str, str],
    hub_schema: tuple[str, str] = (HUB_CATALOG, HUB_SCHEMA),
) -> ReportData:
    """Run every dataset over the hub schema ``hub_schema`` (catalog, schema) when the store has it, else over
    the provider schema ``output``."""
    tables = [d.table for d in DASHBOARD.datasets]
    if store.list_tables(*hub_schema):
        data = ReportData("hub", ".".join(hub_schema))
        session, found = store.view_session(*hub_schema, tables)
    else:
        data = ReportData("provider", ".".join(output))
        session, found = provider_views(store, output, tables)
    for dataset in DASHBOARD.datasets:
        if dataset.table in found:
            frame, absent = run_dataset(session, dataset)
            if absent:
                data.absent[dataset.name] = absent
            if dataset.name == SYNC_STATUS:
                data.sync = frame
            else:
                data.frames[dataset.name] = frame
        elif dataset.name in HUB_ONLY and data.mode == "provider":
            data.missing[dataset.name] = f"{dataset.name}: found on the hub only ({HUB_ONLY_WRITERS[dataset.name]})"
        elif dataset.name in HUB_ONLY:
            writer = HUB_ONLY_WRITERS[dataset.name]
            data.missing[dataset.name] = f"{data.qualified(dataset.name)} not found ({writer} writes it)"
        elif dataset.name != SYNC_STATUS or data.mode == "hub":
            data.missing[dataset.name] = f"{data.qualified(dataset.name)} not found"
    if data.mode == "provider":
        data.sync = last_commits(store, output, data.frames)
    log.info(
        "report input: %s (%s), %d datasets read, %d missing",
        data.schema,
        data.mode,
        len(data.frames),
        len(data.missing),
    )
    return data


def provider_views(store: TableStore, output: tuple[str, str], tables: list[str]) -> tuple[SparkSession, set[str]]:
    """A new session where each provider table ``<name>`` is the view ``all_<name>`` the datasets read, with the
    hub's source columns; the views made."""

    def with_source_columns(frame: DataFrame) -> DataFrame:
        for source, own in zip(SOURCE_COLUMNS, ("account_id", "workspace_id"), strict=True):
            if source not in frame.columns and own in frame.columns:
                frame = frame.withColumn(source, frame[own])
        return frame

    views = {view: view.removeprefix(HUB_PREFIX) for view in tables if view.startswith(HUB_PREFIX)}
    return store.view_session(*output, views, with_source_columns)


def run_dataset(session: SparkSession, dataset: Dataset) -> tuple[pd.DataFrame, list[str]]:
    """The dataset's rows as pandas, and its columns the table lacks (it is read with those it has)."""
    present = set(session.table(dataset.table).columns)
    absent = [c for c in dataset.columns if c not in present]
    if absent:
        log.warning("%s lacks %s: read without", dataset.table, ", ".join(absent))
        kept = tuple(c for c in dataset.columns if c in present)
        dataset = Dataset(dataset.name, dataset.title, dataset.table, kept, dataset.local_only)
    return arrow_to_pandas(session.sql(dataset.sql).toArrow()), absent


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Decimals as float64 (money for charts, not accounting), dates and timestamps as datetimes."""
    fields = []
    for f in table.schema:
        if pa.types.is_decimal(f.type):
            fields.append(pa.field(f.name, pa.float64()))
        elif pa.types.is_string_view(f.type) or pa.types.is_large_string(f.type):
            fields.append(pa.field(f.name, pa.string()))
        else:
            fields.append(f)
    return table.cast(pa.schema(fields)).to_pandas(date_as_object=False)


def last_commits(store: TableStore, output: tuple[str, str], frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """For a provider lake: each table's latest Delta version and commit time, shaped like the hub's sync_status."""
    rows: list[dict[str, Any]] = []
    root = getattr(store, "lake_root", None)  # a local lake is named after its folder
    provider = root.name if root is not None and root.name else "this workspace"
    for name in sorted(frames):
        table = f"{'.'.join(output)}.{name}"
        if not store.exists(table):
            continue
        (latest,) = store.history(table, 1)
        rows.append(
            {
                "provider": provider,
                "table": name,
                "version": int(latest["version"]),
                "rows": len(frames[name]),
                "synced_at": pd.Timestamp(latest["timestamp"]).tz_localize("UTC"),
                "status": "ok",
                "error": None,
            }
        )
    return pd.DataFrame(rows, columns=["provider", "table", "version", "rows", "synced_at", "status", "error"])
