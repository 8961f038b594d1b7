"""The hub's AI/BI (Lakeview) dashboard: the dashboard definition ``stm report`` draws locally, on the hub.

Its datasets name the hub's views plainly and run in the hub's catalog and schema (the dashboard's dataset catalog
and schema); it is published with the hub's SQL warehouse and without embedded credentials, so every viewer reads
the views as themselves. It lives in ``FOLDER`` (made when missing) as ``stm-<target> cost and usage``; a copy
elsewhere is not ours to touch. It is ours by its note, the text line under its first page (the product marker,
the target and a digest of what we set): apply creates it, updates it when the digest changes, and destroy trashes
it; a dashboard of the same name that we did not make is left alone
(https://docs.databricks.com/api/workspace/lakeview). Lakeview keeps a dashboard's folder without the ``/Workspace``
prefix it was created with (the Databricks CLI adds it back for the same reason: databricks/cli
``bundle/direct/dresources/dashboard.go``), so the folder is compared in that form.
"""

from __future__ import annotations

from dataclasses import dataclass

from databricks.sdk.service import dashboards

from deploy.model import Action, Change, digest, is_ours_for, marker
from stm.dashboard.definition import DASHBOARD
from stm.dashboard.lakeview import lakeview_body, note_of, serialized

FOLDER = "/Workspace/Shared/system-tables-monitor"
BUDGETS = "budget_status"
PRIVILEGE = "CAN USE on the warehouse, SELECT on the hub views and CAN MANAGE on " + FOLDER


@dataclass(frozen=True)
class DashboardWanted:
    name: str  # display name
    dashboard: dashboards.Dashboard
    catalog: str  # the datasets' default catalog and schema: the hub's
    schema: str
    tables: tuple[str, ...]  # the hub views the datasets read
    pages: int

    @property
    def note(self) -> str | None:
        return note_of(self.dashboard.serialized_dashboard)


@dataclass(frozen=True)
class DashboardUpdate:
    dashboard_id: str | None  # as observed; None makes the executor create it again
    want: DashboardWanted


def display_name(target: str) -> str:
    return f"stm-{target} cost and usage"


def _unprefixed(path: str) -> str:
    return path.removeprefix("/Workspace") if path.startswith("/Workspace/") else path


def in_folder(found: dashboards.Dashboard) -> bool:
    """Whether a dashboard read back from Lakeview lies in ``FOLDER``, its folder named with or without the prefix."""
    folder = _unprefixed(FOLDER)
    return _unprefixed(found.parent_path or "") == folder or _unprefixed(found.path or "").startswith(folder + "/")


def wanted_dashboard(
    target: str, catalog: str, schema: str, warehouse_id: str, with_budgets: bool = True
) -> DashboardWanted:
    """The dashboard for a hub; without budgets declared the hub has no budget view, nor the dashboard its page."""
    body = lakeview_body(DASHBOARD, frozenset() if with_budgets else frozenset({BUDGETS}))
    served = {d["name"] for d in body["datasets"]}
    tables = tuple(d.table for d in DASHBOARD.datasets if d.name in served)
    note = marker(target, digest({"body": body, "catalog": catalog, "schema": schema, "warehouse": warehouse_id}))
    dashboard = dashboards.Dashboard(
        display_name=display_name(target),
        parent_path=FOLDER,
        serialized_dashboard=serialized(body, note),
        warehouse_id=warehouse_id,
    )
    return DashboardWanted(display_name(target), dashboard, catalog, schema, tables, len(body["pages"]))


def dashboard_actions(
    want: DashboardWanted, observed: dashboards.Dashboard | None, views: set[str], target: str, destroy: bool
) -> list[Action]:
    """Create, update, leave or trash the dashboard; ``observed`` the one of its name in ``FOLDER``, ``views`` the
    hub's views."""
    note = note_of(observed.serialized_dashboard) if observed is not None else None
    mine = observed if is_ours_for(note, target) else None
    if destroy:
        return [] if mine is None else [Action("dashboard", want.name, Change.DELETE, "", mine.dashboard_id, "owner")]
    missing = [t for t in want.tables if t not in views]
    if missing:
        why = f"a dataset reads {missing[0]}, which the hub does not have yet (apply again once it has)"
        return [Action("dashboard", want.name, Change.SKIP, why)]
    if observed is not None and mine is None:
        return [Action("dashboard", want.name, Change.SKIP, "exists, not made by stm: left alone")]
    detail = f"{len(want.tables)} datasets, {want.pages} pages, published in {FOLDER}"
    if mine is None:
        return [Action("dashboard", want.name, Change.CREATE, detail, want, PRIVILEGE)]
    if note != want.note:
        return [
            Action("dashboard", want.name, Change.UPDATE, detail, DashboardUpdate(mine.dashboard_id, want), PRIVILEGE)
        ]
    return [Action("dashboard", want.name, Change.UNCHANGED, detail)]
