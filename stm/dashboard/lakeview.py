"""The dashboard definition as an AI/BI (Lakeview) dashboard: the ``serialized_dashboard`` JSON. Pure.

Every dataset the Databricks hub can serve becomes a Lakeview dataset of the same name and SQL (its table names
resolve in the dashboard's dataset catalog and schema, the hub's); each panel's widgets are laid out in reading
order on its page's six-column grid. Widgets over a local-only dataset are left out, and so is a page left empty.
The last widget of the first page is a text line, the note, given by the caller: the deploy writes there that the
dashboard is its own, for which target, and a digest of what it set, so it knows its dashboard and when it changed.
Widget specs take the versions and fields of databrickslabs/lsql's Lakeview model
(``databricks/labs/lsql/lakeview/model.py``): counter 2, bar and line 3, table 2 (its columns a ``fieldName``
each), a text widget's markdown in ``textbox_spec``; the tests check the whole dashboard against that model.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from stm.dashboard.definition import GRID_WIDTH, Dashboard, Field, Widget

NOTE_WIDGET = "stm_note"
SPEC_VERSIONS = {"counter": 2, "bar": 3, "line": 3, "table": 2}
HEIGHTS = {"counter": 2, "bar": 6, "line": 6, "table": 6}
TEMPORAL = {"usage_date", "run_date", "summary_date", "week_start", "as_of"}


def _scale(field: Field, quantitative: bool) -> dict[str, str]:
    if quantitative:
        return {"type": "quantitative"}
    return {"type": "temporal" if field.column in TEMPORAL else "categorical"}


def _encoding(field: Field, quantitative: bool = False) -> dict[str, Any]:
    return {"fieldName": field.name, "scale": _scale(field, quantitative), "displayName": field.display}


def widget_json(name: str, widget: Widget) -> dict[str, Any]:
    """One widget: its query over its dataset (the fields, aggregated unless a table) and its spec."""
    fields = widget.fields()
    query = {
        "datasetName": widget.dataset,
        "fields": [{"name": f.name, "expression": f.expression} for f in fields],
        "disaggregated": widget.kind == "table",
    }
    encodings: dict[str, Any]
    if widget.kind == "counter":
        (value,) = widget.columns
        encodings = {"value": {"fieldName": value.name, "displayName": value.display}}
    elif widget.kind == "table":
        encodings = {"columns": [{"fieldName": f.name, "displayName": f.display} for f in widget.columns]}
    else:
        assert widget.x is not None and widget.y is not None  # checked by the definition's tests
        encodings = {"x": _encoding(widget.x), "y": _encoding(widget.y, quantitative=True)}
        if widget.color is not None:
            encodings["color"] = _encoding(widget.color)
    spec = {
        "version": SPEC_VERSIONS[widget.kind],
        "widgetType": widget.kind,
        "encodings": encodings,
        "frame": {"showTitle": True, "title": widget.title},
    }
    return {"name": name, "queries": [{"name": "main_query", "query": query}], "spec": spec}


def _layout(items: list[tuple[str, Widget]]) -> list[dict[str, Any]]:
    """Widgets left to right, a new row when the next one does not fit."""
    out: list[dict[str, Any]] = []
    x = y = row_height = 0
    for name, widget in items:
        if x + widget.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        height = HEIGHTS[widget.kind]
        position = {"x": x, "y": y, "width": widget.width, "height": height}
        out.append({"widget": widget_json(name, widget), "position": position})
        x, row_height = x + widget.width, max(row_height, height)
    return out


def _bottom(layout: list[dict[str, Any]]) -> int:
    return max((p["position"]["y"] + p["position"]["height"] for p in layout), default=0)


def lakeview_body(dashboard: Dashboard, omit: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The serialized dashboard as data, without the note; the datasets ``omit`` names are left out too."""
    datasets = [d for d in dashboard.datasets if not d.local_only and d.name not in omit]
    served = {d.name for d in datasets}
    pages: list[dict[str, Any]] = []
    for page in dashboard.pages:
        items = [
            (f"{panel.key}_{i}", w) for panel in page.panels for i, w in enumerate(panel.widgets) if w.dataset in served
        ]
        if items:
            pages.append({"name": page.name, "displayName": page.title, "layout": _layout(items)})
    return {
        "datasets": [
            {"name": d.name, "displayName": d.title, "queryLines": d.sql.splitlines(keepends=True)} for d in datasets
        ],
        "pages": pages,
    }


def with_note(body: dict[str, Any], note: str) -> dict[str, Any]:
    """``body`` with the text line ``note`` under everything on its first page."""
    out = copy.deepcopy(body)
    first = out["pages"][0]["layout"]
    position = {"x": 0, "y": _bottom(first), "width": GRID_WIDTH, "height": 1}
    first.append({"widget": {"name": NOTE_WIDGET, "textbox_spec": note}, "position": position})
    return out


def serialized(body: dict[str, Any], note: str) -> str:
    return json.dumps(with_note(body, note), indent=2)


def note_of(serialized_dashboard: str | None) -> str | None:
    """The note of a dashboard as Databricks returns it, or None when it has none."""
    try:
        body = json.loads(serialized_dashboard or "")
        for page in body.get("pages", []):
            for item in page.get("layout", []):
                widget = item.get("widget", {})
                if widget.get("name") != NOTE_WIDGET:
                    continue
                if isinstance(widget.get("textbox_spec"), str):
                    return str(widget["textbox_spec"])
                # an earlier release wrote the note as lines
                lines = widget.get("multilineTextboxSpec", {}).get("lines", [])
                return "".join(line for line in lines if isinstance(line, str))
    except (ValueError, AttributeError):
        return None
    return None
