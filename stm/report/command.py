"""``stm report --lake-root DIR --out FILE.html``: one self-contained HTML dashboard of cost, jobs and freshness."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stm.config import Config, load_config
from stm.engine import require_lake_root
from stm.errors import UsageError
from stm.report import DEFAULT_DAYS, DEFAULT_TOP

if TYPE_CHECKING:
    from stm.store.delta import TableStore

log = logging.getLogger(__name__)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "report",
        parents=[parent],
        help="write an HTML dashboard of cost, jobs, AI/ML spend, trends and freshness",
        description="Write one self-contained HTML file (no network needed to open it) by running the dashboard's "
        "datasets (the SQL the Databricks hub's dashboard runs) on Spark over the hub's consolidated tables "
        "(hub.catalog/hub.schema, default monitoring_hub.consolidated) under --lake-root or, "
        "when the lake has no hub, from the provider tables (output.catalog/output.schema, default "
        "monitoring.workspace_usage). A missing table leaves its section empty with a note.",
    )
    p.add_argument("--out", type=Path, default=Path("stm-report.html"), help="HTML file (default stm-report.html)")
    p.add_argument(
        "--days",
        type=_positive,
        default=DEFAULT_DAYS,
        help=f"days up to the newest usage date (default {DEFAULT_DAYS})",
    )
    p.add_argument("--top", type=_positive, default=DEFAULT_TOP, help=f"rows in top-N charts (default {DEFAULT_TOP})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    lake = require_lake_root(args.lake_root)
    if not lake.is_dir():
        raise UsageError(f"--lake-root {lake}: no such directory")
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out}: is a directory; give a file name such as report.html")
    from stm.engine import LOCAL_HUB_MODE, open_engine

    engine = open_engine(cfg, lake, "stm-report", LOCAL_HUB_MODE)
    write_report(cfg, engine.store, out, days=args.days, top=args.top)
    return 0


def write_report(
    cfg: Config, store: TableStore, out: Path, *, days: int = DEFAULT_DAYS, top: int = DEFAULT_TOP
) -> Path:
    """Render the dashboard of ``store`` (a hub, or a provider lake) to ``out``, atomically; print where it is."""
    from stm.report.build import build_report
    from stm.report.data import load_report_data
    from stm.report.render import render_html

    data = load_report_data(store, (cfg.output.catalog, cfg.output.schema), (cfg.hub.catalog, cfg.hub.schema))
    html = render_html(build_report(data, days=days, top=top))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.tmp")
    partial.write_text(html, encoding="utf-8")
    os.replace(partial, out)  # readers never see a half-written report
    missing = f"; {len(data.missing)} input table(s) missing: {', '.join(sorted(data.missing))}" if data.missing else ""
    print(f"report written: {out.resolve()} ({len(html) // 1024} KiB, {data.schema}{missing})")
    return out
