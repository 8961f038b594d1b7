"""The one dashboard definition: its datasets run on the pipeline's own tables, its Lakeview form, its report.

The hub here is made the way the local hub makes it: the tables a whole pipeline run wrote (``base_lake``) are
consolidated with the hub's transforms, then ``stm hub finops`` and ``stm alerts check`` write the hub's own tables.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from batch.command import named_jobs
from stm.alerts import check
from stm.cli import build_parser
from stm.config import Config, load_config
from stm.dashboard.definition import DASHBOARD, GRID_WIDTH, WIDGET_KINDS, Dashboard, Dataset, Page
from stm.dashboard.lakeview import lakeview_body, note_of, serialized, with_note
from stm.errors import InvalidIdentifier
from stm.report.build import build_report
from stm.report.data import load_report_data
from stm.report.model import ReportData
from stm.sharing.hub import TableStatus, status_table
from stm.sharing.hub_command import finops_tables
from stm.sharing.hub_tables import ProviderData, consolidate, workspaces_costs
from stm.store.local import LocalTableStore
from tests.cost_lake import base_lake, copy_lake, run_jobs_named, store_of

HUB = ("monitoring_hub", "consolidated")


def daily_batch_jobs(cfg: Config) -> list[str]:
    """The batch jobs the deployed daily job's tasks name, in task order; its full ``gold`` recompute is run as
    ``batch_models``, the models no stream refreshes (the pipeline lake's streams made the others)."""
    parser = build_parser()
    names = [n for task in cfg.jobs["daily"].tasks.values() for n in named_jobs(cfg, parser.parse_args(task.command))]
    return [("batch_models" if name == "gold" else name) for name in names]


def _hub_config() -> Config:
    return load_config(extra={"budgets": {"everything": {"amount": 100}}})


@pytest.fixture(scope="module")
def hub(tmp_path_factory: Any, spark: Any, cfg: Config) -> LocalTableStore:
    """A hub over the pipeline's tables: every shared table consolidated, then the FinOps tables and alerts."""
    lake = copy_lake(base_lake(tmp_path_factory, spark, cfg), tmp_path_factory.mktemp("dashboard") / "lake")
    run_jobs_named(spark, cfg, lake, daily_batch_jobs(cfg))
    provider = store_of(spark, lake)
    root = tmp_path_factory.mktemp("dashboard-hub")
    folder = root.joinpath(*HUB)
    share = next(iter(cfg.shares.values()))
    unmade = [t for t in share.tables if not provider.exists(cfg.output_name(t))]
    assert unmade == [], f"shared, but neither the streams nor the daily job make {unmade}"
    written = provider.list_tables(cfg.output.catalog, cfg.output.schema)
    assert len(written) > len(share.tables)
    assert [t for t in written if cfg.entry(t) is None] == [], "the pipeline wrote tables the catalog does not declare"
    for table, spec in cfg.shared_tables("stm_monitoring").items():
        name = cfg.output_name(table)
        if provider.exists(name):
            data = ProviderData("lake", "acc-1", "ws-1", provider.read(name).toArrow())
            write_deltalake(str(folder / f"all_{table}"), consolidate(spec, [data]))
            if table == "billing_summary":
                write_deltalake(str(folder / "all_workspaces_costs"), workspaces_costs(consolidate(spec, [data])))
    synced = TableStatus("lake", "cost_by_product", 3, 10, datetime(2026, 12, 1, tzinfo=timezone.utc), "synced")
    write_deltalake(str(folder / "sync_status"), status_table([synced]))
    store = LocalTableStore(spark, root)
    hub_cfg = _hub_config()
    finops_tables(hub_cfg, store)
    check(hub_cfg, store)
    return store


def test_every_dataset_runs_on_the_tables_the_pipeline_and_the_hub_write(hub: LocalTableStore, cfg: Config):
    data = load_report_data(hub, (cfg.output.catalog, cfg.output.schema), HUB)
    assert data.mode == "hub"
    assert data.missing == {}
    assert data.absent == {}  # every column every dataset names is in its table
    for dataset in DASHBOARD.datasets:
        frame = data.sync if dataset.name == "sync_status" else data.frames[dataset.name]
        assert frame is not None and list(frame.columns) == list(dataset.columns), dataset.name
    assert len(data.frames["cost_by_product"]) > 0 and len(data.frames["cost_anomalies"].columns) > 0
    assert len(data.frames["alert_events"]) > 0  # the 100 USD budget is over
    report = build_report(data)
    assert [s.key for s in report.sections if s.missing] == []


def test_the_lakeview_datasets_are_the_same_sql_and_run_on_spark(hub: LocalTableStore):
    served = lakeview_body(DASHBOARD)["datasets"]
    tables = [d.table for d in DASHBOARD.datasets]
    session, found = hub.view_session(*HUB, tables)
    assert found == set(tables)
    for item in served:
        text = "".join(item["queryLines"])
        assert text == DASHBOARD.dataset(item["name"]).sql
        session.sql(text).limit(1).collect()  # raises if a table or column is unknown


def test_report_sections_are_the_definitions_panels_with_their_titles():
    report = build_report(ReportData("hub", "monitoring_hub.consolidated"))
    panels = {p.key: p.title for page in DASHBOARD.pages for p in page.panels}
    assert {s.key: s.title for s in report.sections} == {k: t for k, t in panels.items() if k != "kpis"}


def test_every_widget_reads_columns_its_dataset_has():
    for page in DASHBOARD.pages:
        for panel in page.panels:
            for w in panel.widgets:
                assert w.kind in WIDGET_KINDS
                dataset = DASHBOARD.dataset(w.dataset)
                absent = [f.column for f in w.fields() if f.column not in dataset.columns]
                assert absent == [], f"{panel.key}: {w.title} reads {absent} not in dataset {dataset.name}"
                if w.kind in ("bar", "line"):
                    assert w.x is not None and w.y is not None and w.y.agg
                if w.kind == "counter":
                    assert len(w.columns) == 1 and w.columns[0].agg
                assert 1 <= w.width <= GRID_WIDTH


def _boxes(layout: list[dict[str, Any]]) -> list[tuple[int, int, int, int]]:
    return [(p["position"]["x"], p["position"]["y"], p["position"]["width"], p["position"]["height"]) for p in layout]


def test_lakeview_form_leaves_local_only_datasets_out_and_lays_widgets_on_the_grid():
    body = with_note(lakeview_body(DASHBOARD), "a note")
    local = {d.name for d in DASHBOARD.datasets if d.local_only}
    assert local == {"alert_events", "sync_status"}  # the Databricks hub forecasts with ai_forecast
    assert {d["name"] for d in body["datasets"]} == {d.name for d in DASHBOARD.datasets} - local
    names = set()
    for page in body["pages"]:
        cells: set[tuple[int, int]] = set()
        for x, y, w, h in _boxes(page["layout"]):
            assert x + w <= GRID_WIDTH
            box = {(i, j) for i in range(x, x + w) for j in range(y, y + h)}
            assert not box & cells  # no two widgets overlap
            cells |= box
        for item in page["layout"]:
            widget = item["widget"]
            names.add(widget["name"])
            for q in widget.get("queries", []):
                assert q["query"]["datasetName"] not in local
    assert len(names) == sum(len(p["layout"]) for p in body["pages"])  # widget names are unique
    assert [p["name"] for p in body["pages"]] == ["cost", "operations", "finops"]


def test_the_note_is_found_again_in_the_serialized_dashboard_and_the_body_is_left_alone():
    body = lakeview_body(DASHBOARD)
    text = serialized(body, "managed by system-tables-monitor (target central_hub) digest=abc")
    assert note_of(text) == "managed by system-tables-monitor (target central_hub) digest=abc"
    assert body == lakeview_body(DASHBOARD)  # the note is added to a copy
    assert json.loads(text)["pages"][0]["layout"][-1]["position"]["y"] >= 8  # under the first page's widgets
    page = DASHBOARD.pages[0]
    smaller = Dashboard(DASHBOARD.title, DASHBOARD.datasets, (Page(page.name, page.title, page.panels[:-1]),))
    assert lakeview_body(smaller) != body
    assert note_of(json.dumps({"pages": []})) is None and note_of("not json") is None and note_of(None) is None


def test_a_table_of_an_older_release_is_read_without_the_columns_it_lacks(spark: Any, tmp_path: Path, cfg: Config):
    folder = tmp_path.joinpath(*HUB)
    write_deltalake(str(folder / "all_cost_by_sku"), pa.table({"usage_date": ["2026-11-01"], "sku_name": ["A"]}))
    data = load_report_data(LocalTableStore(spark, tmp_path), (cfg.output.catalog, cfg.output.schema), HUB)
    assert list(data.frames["cost_by_sku"].columns) == ["usage_date", "sku_name"]
    assert data.absent["cost_by_sku"] == [
        c for c in DASHBOARD.dataset("cost_by_sku").columns if c not in ("usage_date", "sku_name")
    ]
    assert data.missing["cost_by_product"] == "monitoring_hub.consolidated.all_cost_by_product not found"


def test_dataset_sql_lists_quoted_validated_names():
    assert Dataset("x", "X", "all_x", ("a", "b")).sql == "SELECT\n  `a`,\n  `b`\nFROM `all_x`"
    with pytest.raises(InvalidIdentifier, match="invalid name 'weird`name'"):
        _ = Dataset("x", "X", "all_x", ("a", "weird`name")).sql
