"""AI/BI (Lakeview) dashboards and workspace folders for the in-memory workspace, with Databricks' preconditions.

https://docs.databricks.com/api/workspace/lakeview: a dashboard needs a display name and a parent folder that
exists (``RESOURCE_DOES_NOT_EXIST`` otherwise); two dashboards of one name cannot share a folder; listing leaves
out the folder and the body; publishing needs a warehouse. Its datasets run on that warehouse, so every table
or view they read must exist (unqualified names resolve in the dataset catalog and schema given at create or
update), and every widget must query a dataset the dashboard has: a dashboard that breaks either is refused
here, standing for the errors its widgets would show.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceAlreadyExists
from databricks.sdk.service import dashboards as lv

TABLE_REF = re.compile(r"(?:FROM|JOIN)\s+`(\w+)`(?:\.`(\w+)`\.`(\w+)`)?")


@dataclass
class FakeDashboards:
    exists: Callable[[str, str, str], bool]  # the workspace's table-or-view check
    folders: set[str] = field(default_factory=lambda: {"/Workspace", "/Workspace/Shared", "/Workspace/Users"})
    dashboards: dict[str, lv.Dashboard] = field(default_factory=dict)  # by id
    published: dict[str, str] = field(default_factory=dict)  # id -> warehouse
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def install(self, ws: Any) -> None:
        ws.workspace.mkdirs.side_effect = self._mkdirs
        ws.lakeview.create.side_effect = self._create
        ws.lakeview.update.side_effect = self._update
        ws.lakeview.get.side_effect = self._get
        ws.lakeview.list.side_effect = self._list
        ws.lakeview.publish.side_effect = self._publish
        ws.lakeview.trash.side_effect = self._trash

    def _mkdirs(self, path: str) -> None:
        parts = path.rstrip("/").split("/")
        self.folders.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))

    def _check(self, d: lv.Dashboard, catalog: str | None, schema: str | None) -> None:
        if not d.display_name or not d.serialized_dashboard:
            raise InvalidParameterValue("a dashboard needs display_name and serialized_dashboard")
        body = json.loads(d.serialized_dashboard)
        names = {ds["name"] for ds in body.get("datasets", [])}
        for ds in body.get("datasets", []):
            for first, sch, tab in TABLE_REF.findall("".join(ds["queryLines"])):
                ref = (first, sch, tab) if tab else (catalog or "", schema or "", first)
                if not all(ref) or not self.exists(*ref):
                    raise InvalidParameterValue(f"[TABLE_OR_VIEW_NOT_FOUND] dataset {ds['name']}: {'.'.join(ref)}")
        for page in body.get("pages", []):
            for item in page.get("layout", []):
                for q in item["widget"].get("queries", []):
                    if q["query"]["datasetName"] not in names:
                        raise InvalidParameterValue(f"widget {item['widget']['name']}: no dataset {q['query']}")

    def _folder_free(self, d: lv.Dashboard, own_id: str | None) -> None:
        if d.parent_path not in self.folders:
            raise NotFound(f"RESOURCE_DOES_NOT_EXIST: Path ({d.parent_path}) doesn't exist.")
        for other_id, other in self.dashboards.items():
            same = other.parent_path == d.parent_path and other.display_name == d.display_name
            if same and other_id != own_id and other.lifecycle_state == lv.LifecycleState.ACTIVE:
                raise ResourceAlreadyExists(f"RESOURCE_ALREADY_EXISTS: {d.display_name} in {d.parent_path}")

    def _create(
        self, dashboard: lv.Dashboard, *, dataset_catalog: str | None = None, dataset_schema: str | None = None
    ) -> lv.Dashboard:
        self._check(dashboard, dataset_catalog, dataset_schema)
        self._folder_free(dashboard, None)
        new_id = f"dash-{next(self._ids)}"
        stored = lv.Dashboard.from_dict(
            {
                **dashboard.as_dict(),
                "dashboard_id": new_id,
                "path": f"{dashboard.parent_path}/{dashboard.display_name}.lvdash.json",
                "lifecycle_state": "ACTIVE",
            }
        )
        self.dashboards[new_id] = stored
        return stored

    def _update(
        self,
        dashboard_id: str,
        dashboard: lv.Dashboard,
        *,
        dataset_catalog: str | None = None,
        dataset_schema: str | None = None,
    ) -> lv.Dashboard:
        current = self._get(dashboard_id)
        self._check(dashboard, dataset_catalog, dataset_schema)
        merged = {**current.as_dict(), **{k: v for k, v in dashboard.as_dict().items() if k != "parent_path"}}
        self.dashboards[dashboard_id] = lv.Dashboard.from_dict(merged)
        return self.dashboards[dashboard_id]

    def _get(self, dashboard_id: str) -> lv.Dashboard:
        if dashboard_id not in self.dashboards:
            raise NotFound(f"dashboard {dashboard_id} does not exist")
        return self.dashboards[dashboard_id]

    def _list(self, **_: Any) -> Iterator[lv.Dashboard]:
        for d in list(self.dashboards.values()):
            if d.lifecycle_state == lv.LifecycleState.ACTIVE:
                yield lv.Dashboard(
                    dashboard_id=d.dashboard_id,
                    display_name=d.display_name,
                    warehouse_id=d.warehouse_id,
                    lifecycle_state=d.lifecycle_state,
                )

    def _publish(
        self, dashboard_id: str, *, embed_credentials: bool | None = None, warehouse_id: str | None = None
    ) -> lv.PublishedDashboard:
        d = self._get(dashboard_id)
        if d.lifecycle_state != lv.LifecycleState.ACTIVE or not (warehouse_id or d.warehouse_id):
            raise InvalidParameterValue(f"dashboard {dashboard_id}: trashed, or no warehouse to publish with")
        self.published[dashboard_id] = warehouse_id or d.warehouse_id or ""
        return lv.PublishedDashboard(
            display_name=d.display_name, embed_credentials=embed_credentials, warehouse_id=self.published[dashboard_id]
        )

    def _trash(self, dashboard_id: str) -> None:
        d = self._get(dashboard_id)
        d.lifecycle_state = lv.LifecycleState.TRASHED
        self.published.pop(dashboard_id, None)
