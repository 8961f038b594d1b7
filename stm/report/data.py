"""Reading the report's input tables: the hub's consolidated schema, or one provider's output schema.

The only module of the report that touches storage. Tables are read with delta-rs into small pandas frames
(aggregates, not raw usage), decimals as floats and dates as datetimes, so the pure report code never sees Arrow.
A table that does not exist or cannot be read is recorded as missing with the reason, never raised.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa

from stm.report.model import HUB_ONLY, HUB_ONLY_WRITERS, HUB_PREFIX, SYNC_STATUS, ReportData

log = logging.getLogger(__name__)

HUB_CATALOG = "monitoring_hub"
HUB_SCHEMA = "consolidated"

# Provider tables the report reads, by their provider name; the hub holds each as ``all_<name>``.
REPORT_TABLES = (
    "cost_by_product",
    "cost_by_sku",
    "cost_by_job",
    "cost_by_user",
    "cost_by_tag",
    "job_runs_summary",
    "job_success_rate_weekly",
    "cost_trend_analysis",
    "query_cost_by_source",
    "query_cost_by_user",
    "untagged_resources",
    "compute_rightsizing",
    "serverless_cost",
    "aiml_executive_summary",
    "workspace_info",
    "jobs_current",
)
# Columns read when present (others, such as nested job settings, stay on disk).
WANTED_COLUMNS = {
    "workspace_info": ("account_id", "workspace_id", "workspace_name"),
    "jobs_current": ("account_id", "workspace_id", "job_id", "name"),
}
SOURCE_COLUMNS = ("source_account", "source_workspace")


def is_delta_table(path: Path) -> bool:
    return (path / "_delta_log").is_dir()


def load_report_data(
    lake_root: Path,
    output: tuple[str, str],
    hub_schema: tuple[str, str] = (HUB_CATALOG, HUB_SCHEMA),
) -> ReportData:
    """Read the hub schema ``hub_schema`` (catalog, schema) when the lake has it, else the provider ``output``."""
    hub = lake_root.joinpath(*hub_schema)
    output_catalog, output_schema = output
    if hub.is_dir():
        data = ReportData("hub", ".".join(hub_schema))
        base, prefix = hub, HUB_PREFIX
    else:
        data = ReportData("provider", f"{output_catalog}.{output_schema}")
        base, prefix = lake_root / output_catalog / output_schema, ""
    for name in REPORT_TABLES:
        frame, problem = read_table(base / f"{prefix}{name}", WANTED_COLUMNS.get(name))
        if frame is None:
            data.missing[name] = f"{data.qualified(name)} {problem}"
            continue
        data.frames[name] = frame if data.mode == "hub" else with_source_columns(frame)
    for name in HUB_ONLY:
        if data.mode != "hub":
            data.missing[name] = f"{name}: found on the hub only ({HUB_ONLY_WRITERS[name]})"
            continue
        frame, problem = read_table(hub / name, None)
        if frame is None:
            data.missing[name] = f"{'.'.join(hub_schema)}.{name} {problem} ({HUB_ONLY_WRITERS[name]} writes it)"
        else:
            data.frames[name] = frame
    if data.mode == "hub":
        data.sync, problem = read_table(hub / SYNC_STATUS, None)
        if data.sync is None:
            data.missing[SYNC_STATUS] = f"{data.qualified(SYNC_STATUS)} {problem}"
    else:
        data.sync = last_commits(base, REPORT_TABLES, data.frames)
    log.info(
        "report input: %s (%s), %d tables read, %d missing", data.schema, data.mode, len(data.frames), len(data.missing)
    )
    return data


def read_table(path: Path, columns: tuple[str, ...] | None) -> tuple[pd.DataFrame | None, str]:
    """The Delta table at ``path`` as pandas, or ``(None, reason)`` when it is absent or unreadable."""
    if not is_delta_table(path):
        return None, "not found"
    try:
        # Spark-free reader: the report renders a few small tables into pandas without starting a JVM
        from deltalake import DeltaTable

        dataset = DeltaTable(str(path)).to_pyarrow_dataset()
        names = [c for c in columns if c in dataset.schema.names] if columns else None
        # use_threads=False: the threaded Arrow read after opening a delta-rs table can abort the process at exit.
        table = dataset.to_table(columns=names, use_threads=False)
    except Exception as exc:  # any storage or format error: the report shows the section as unavailable
        log.warning("cannot read %s: %s", path, exc)
        return None, f"could not be read ({type(exc).__name__})"
    return arrow_to_pandas(table), ""


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Decimals as float64 (money for charts, not accounting), dates and timestamps as datetimes."""
    fields = []
    for f in table.schema:
        if pa.types.is_decimal(f.type):
            fields.append(pa.field(f.name, pa.float64()))
        elif pa.types.is_string_view(f.type):
            fields.append(pa.field(f.name, pa.string()))
        else:
            fields.append(f)
    return table.cast(pa.schema(fields)).to_pandas(date_as_object=False)


def with_source_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A provider table seen as the hub sees it: ``source_account``/``source_workspace`` from its own ids."""
    out = frame.copy()
    for source, own in zip(SOURCE_COLUMNS, ("account_id", "workspace_id"), strict=True):
        if source not in out.columns and own in out.columns:
            out[source] = out[own]
    return out


def last_commits(base: Path, names: tuple[str, ...], frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """For a provider lake: each table's latest Delta version and commit time, shaped like the hub's sync_status."""
    # Spark-free reader: one log read per table, no JVM for the report
    from deltalake import DeltaTable

    rows = []
    for name in names:
        if name not in frames:
            continue
        try:
            dt = DeltaTable(str(base / name))
            (latest,) = dt.history(1)
        except Exception as exc:  # unreadable log: the table still reports, without a commit time
            log.warning("cannot read the history of %s: %s", name, exc)
            continue
        committed = pd.Timestamp(latest["timestamp"], unit="ms", tz="UTC")
        rows.append(
            {
                "provider": base.parent.parent.name or "local",
                "table": name,
                "version": dt.version(),
                "rows": len(frames[name]),
                "synced_at": committed,
                "status": "ok",
                "error": None,
            }
        )
    return pd.DataFrame(rows, columns=["provider", "table", "version", "rows", "synced_at", "status", "error"])
