"""``stm export focus --out FILE [--format parquet|csv]``: the ``focus_costs`` table as one file for FOCUS tools.

On a hub lake it exports ``all_focus_costs`` (every account, each record once; the provider it came from in
``x_SourceAccount``/``x_SourceWorkspace``), on a provider lake its ``focus_costs``. Reads the local Delta table with
delta-rs (no JVM: an export of aggregates-sized data should take seconds), keeps
the dates between ``--from`` and ``--to``, and writes one Parquet or CSV file atomically. In CSV, money and
quantities are exact decimal strings, timestamps ISO 8601 in UTC (``2026-11-02T10:00:00Z``) and ``Tags`` a JSON
object, as FOCUS asks. An existing file is replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path
from typing import Any

from stm.config import load_config
from stm.console import iso_date
from stm.engine import require_lake_root
from stm.errors import UsageError

FORMATS = ("parquet", "csv")


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "export",
        parents=[parent],
        help="export a table in a standard format (focus: FOCUS 1.2 cost and usage)",
        description="Write the focus_costs table (built by `stm batch focus_costs`; on a hub lake the consolidated "
        "all_focus_costs of every account) from --lake-root as one Parquet or CSV file in the FinOps Open Cost and "
        "Usage Specification 1.2 column set (docs/FOCUS.md).",
    )
    p.add_argument("what", choices=("focus",), help="what to export: focus")
    p.add_argument("--out", type=Path, required=True, help="file to write (.parquet or .csv)")
    p.add_argument("--format", choices=FORMATS, default=None, help="parquet or csv (default: from --out's suffix)")
    p.add_argument("--from", type=iso_date, dest="date_from", default=None, help="first usage date (UTC)")
    p.add_argument("--to", type=iso_date, dest="date_to", default=None, help="last usage date (UTC)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=run)


def output_format(out: Path, given: str | None) -> str:
    if given is not None:
        return given
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UsageError(f"--out {out}: cannot tell the format from the suffix; use .parquet or .csv, or --format")
    return suffix


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    lake = require_lake_root(args.lake_root)
    out = Path(args.out)
    fmt = output_format(out, args.format)
    if out.is_dir():
        raise UsageError(f"--out {out}: is a directory; give a file name such as focus.{fmt}")
    if out.exists() and not args.force:
        raise UsageError(f"--out {out}: exists; pass --force to replace it")
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise UsageError(f"--from {args.date_from} is after --to {args.date_to}")
    table = focus_table(lake, (cfg.hub.catalog, cfg.hub.schema), (cfg.output.catalog, cfg.output.schema))
    rows = export_focus(table, out, fmt, args.date_from, args.date_to)
    print(f"FOCUS 1.2 export written: {out.resolve()} ({rows} rows, {fmt}, from {table})")
    return 0


def focus_table(lake: Path, hub: tuple[str, str], output: tuple[str, str]) -> Path:
    """The hub's ``all_focus_costs`` (every account) when the lake is a hub, else the provider's ``focus_costs``."""
    consolidated = lake.joinpath(*hub, "all_focus_costs")
    if (consolidated / "_delta_log").is_dir():
        return consolidated
    table = lake.joinpath(*output, "focus_costs")
    if not (table / "_delta_log").is_dir():
        raise UsageError(
            f"no focus_costs table at {table} and no hub table at {consolidated}; build it with "
            "`stm batch focus_costs` (a provider) or `stm hub sync` (a hub) first"
        )
    return table


def export_focus(table: Path, out: Path, fmt: str, date_from: date | None, date_to: date | None) -> int:
    """Write the rows of ``table`` dated in the range to ``out``; returns the number of rows."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    from stm.transforms.focus import DATE

    data = DeltaTable(str(table)).to_pyarrow_dataset().to_table()
    data = _hub_columns_last(data)
    if date_from is not None:
        data = data.filter(pc.greater_equal(data[DATE], pa.scalar(date_from)))
    if date_to is not None:
        data = data.filter(pc.less_equal(data[DATE], pa.scalar(date_to)))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.tmp")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(data, partial)
    else:
        import pyarrow.csv as pcsv

        pcsv.write_csv(_csv_ready(data), partial)
    os.replace(partial, out)  # a reader never sees half a file
    return data.num_rows


def _hub_columns_last(data: Any) -> Any:
    """A hub table's ``source_account``/``source_workspace`` as FOCUS custom columns after the others."""
    moved = {"source_account": "x_SourceAccount", "source_workspace": "x_SourceWorkspace"}
    present = [c for c in moved if c in data.column_names]
    if not present:
        return data
    kept = [c for c in data.column_names if c not in moved]
    return data.select([*kept, *present]).rename_columns([*kept, *(moved[c] for c in present)])


def _csv_ready(data: Any) -> Any:
    """Timestamps as ISO 8601 UTC strings (whole seconds) and dates as ISO dates; other columns as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for field, column in zip(data.schema, data.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            seconds = pc.cast(column, pa.timestamp("s", tz="UTC"), safe=False)  # FOCUS: whole seconds
            column = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
        elif pa.types.is_date(field.type):
            column = pc.strftime(column, format="%Y-%m-%d")
        columns.append(column)
    return pa.table(columns, names=data.schema.names)
