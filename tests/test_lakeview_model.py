"""The serialized dashboard against a maintained model of Lakeview's format: databrickslabs/lsql's
``databricks.labs.lsql.lakeview.model`` (generated from Lakeview's own spec). Pure: no Spark.

The model reads leniently (a missing key becomes None, an unknown key is dropped), so the check is three-fold:
every widget spec is one of the (version, widgetType) pairs the model knows; every field the model declares
without a default is set; and the model writes the dashboard back as it was given, so no key is one it does not
know. On top of it, every field a widget's spec encodes is one its query selects.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from stm.dashboard.definition import DASHBOARD
from stm.dashboard.lakeview import NOTE_WIDGET, lakeview_body, note_of, serialized, with_note

model = pytest.importorskip("databricks.labs.lsql.lakeview.model", reason="databricks-labs-lsql (the dev extra)")


def _unset_required(obj: Any, where: str) -> list[str]:
    """The paths of the fields declared without a default that are None, through nested model objects and lists."""
    if isinstance(obj, list):
        return [p for i, item in enumerate(obj) for p in _unset_required(item, f"{where}[{i}]")]
    if not dataclasses.is_dataclass(obj):
        return []
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if value is None and required:
            out.append(f"{where}.{f.name}")
        out.extend(_unset_required(value, f"{where}.{f.name}"))
    return out


def _as_the_model_writes(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with each dataset's ``queryLines`` (how the Dashboard API holds the SQL now) as the one ``query``
    string the model keeps; lsql's ``Dataset.from_dict`` does the same from release 0.17 on."""
    out = json.loads(json.dumps(body))
    for d in out.get("datasets", []):
        if "queryLines" in d:
            d["query"] = "".join(d.pop("queryLines"))
    return out


def _unqueried(widget: dict[str, Any]) -> list[str]:
    """Field names a widget's spec encodes that its query does not select."""
    selected = {f["name"] for q in widget.get("queries", []) for f in q["query"].get("fields", [])}
    encodings = widget.get("spec", {}).get("encodings", {})
    used = [e["fieldName"] for e in encodings.get("columns", []) if "fieldName" in e]
    used += [e["fieldName"] for k, e in encodings.items() if k != "columns" and "fieldName" in e]
    return [name for name in used if name not in selected]


def model_problems(body: dict[str, Any]) -> list[str]:
    """What lsql's Lakeview model refuses or does not hold in ``body``; empty when it takes it whole."""
    given = _as_the_model_writes(body)
    try:
        parsed = model.Dashboard.from_dict(given)
    except KeyError as exc:  # a (version, widgetType) the model does not know
        return [f"not a Lakeview widget spec: {exc}"]
    problems = _unset_required(parsed, "dashboard")
    written = parsed.as_dict()
    for i, (ours, theirs) in enumerate(zip(given.get("pages", []), written.get("pages", []), strict=True)):
        for j, (a, b) in enumerate(zip(ours["layout"], theirs["layout"], strict=True)):
            if a != b:
                problems.append(f"pages[{i}].layout[{j}] ({a['widget'].get('name')}): keys the model does not hold")
            problems.extend(f"{a['widget'].get('name')}: {n} is not queried" for n in _unqueried(a["widget"]))
    if given.get("datasets") != written.get("datasets"):
        problems.append("datasets: keys the model does not hold")
    return problems


def _table_specs(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = [item["widget"] for page in body["pages"] for item in page["layout"]]
    return [w["spec"] for w in items if w.get("spec", {}).get("widgetType") == "table"]


def test_lakeview_model_takes_the_whole_serialized_dashboard_with_and_without_budgets():
    for omit in (frozenset(), frozenset({"budget_status"})):
        text = serialized(lakeview_body(DASHBOARD, omit), "managed by system-tables-monitor (target hub) digest=0")
        body = json.loads(text)
        assert model_problems(body) == []
        widgets = [item["widget"] for page in body["pages"] for item in page["layout"]]
        assert len(widgets) == (22 if not omit else 21)  # 21 (20 without budgets) charts and tables, and the note


def test_lakeview_table_widgets_are_version_2_with_a_field_name_per_column():
    tables = _table_specs(lakeview_body(DASHBOARD))
    assert len(tables) == 6  # forecast's among them
    for spec in tables:
        assert spec["version"] == 2 and spec["encodings"]["columns"]
        assert all(set(c) == {"fieldName", "displayName"} for c in spec["encodings"]["columns"])


def test_lakeview_model_check_refuses_a_version_1_table_with_version_2_columns_and_an_unknown_key():
    body = lakeview_body(DASHBOARD)
    widget = next(i["widget"] for p in body["pages"] for i in p["layout"] if i["widget"]["name"] == "governance_0")
    widget["spec"]["version"] = 1  # what an earlier release emitted: v1 columns need title, type and displayAs
    problems = model_problems(body)
    columns = "dashboard.pages[1].layout[0].widget.spec.encodings.columns[0]"
    assert {f"{columns}.{f}" for f in ("title", "type", "display_as")} <= set(problems)
    assert "pages[1].layout[0] (governance_0): keys the model does not hold" in problems
    widget["spec"]["version"] = 2
    assert model_problems(body) == []
    widget["spec"]["encodings"]["columns"][0]["fieldName"] = "nowhere"
    assert model_problems(body) == ["governance_0: nowhere is not queried"]
    widget["spec"]["version"] = 4
    assert model_problems(body) == ["not a Lakeview widget spec: 'unknown: version=4 widgetType=table'"]


def test_lakeview_note_is_a_text_widget_the_model_holds_and_an_earlier_releases_note_is_still_read():
    body = with_note(lakeview_body(DASHBOARD), "managed by system-tables-monitor")
    (note,) = [i["widget"] for p in body["pages"] for i in p["layout"] if i["widget"]["name"] == NOTE_WIDGET]
    assert note == {"name": NOTE_WIDGET, "textbox_spec": "managed by system-tables-monitor"}
    assert model_problems(body) == []
    lines = {"name": NOTE_WIDGET, "multilineTextboxSpec": {"lines": ["a", "b"]}}
    earlier = {"pages": [{"layout": [{"widget": lines}]}]}
    assert note_of(json.dumps(earlier)) == "ab"
