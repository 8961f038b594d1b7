"""Desired versus observed state of a hub -> the list of actions (pure: no workspace calls).

The hub's catalog and schema, a catalog per provider share, the consolidated views over them, the views derived
from those (``deploy.hub_sql``), the SQL alerts (``deploy.hub_alerts``) and the dashboard (``deploy.hub_dashboard``).
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.desired import HubDesired
from deploy.diff import NOT_OURS, catalog_action, container_action
from deploy.hub_alerts import alert_actions, budgetless, display_name, wanted_alerts
from deploy.hub_dashboard import dashboard_actions, wanted_dashboard
from deploy.hub_sql import (
    Column,
    PendingView,
    Provided,
    Source,
    Statement,
    create_view_sql,
    derived_selects,
    drop_view_sql,
    view_name,
    view_select,
)
from deploy.model import Action, Change, is_ours, marker
from deploy.observe import HubObserved
from stm.anomalies import TABLE as ANOMALIES


@dataclass(frozen=True)
class ShareCatalog:
    """A hub catalog made from a provider's share."""

    provider: str | None  # None: the provider is not visible to the hub yet
    share: str
    comment: str


def hub_actions(d: HubDesired, o: HubObserved, destroy: bool = False, purge: bool = False) -> list[Action]:
    out: list[Action] = []
    containers = [
        catalog_action(d.catalog, o.catalog, d.storage_root, o.metastore_has_root, d.target, destroy, purge),
        container_action(
            "schema", f"{d.catalog}.{d.schema}", o.schema, "USE CATALOG and CREATE SCHEMA", destroy, purge, d.target
        ),
    ]
    if not destroy:
        out.extend(containers)
    by_table: dict[str, list[tuple[Source, tuple[Column, ...] | None]]] = {}  # columns None: not readable yet
    for src in d.sources:
        found = o.source_catalogs.get(src.catalog)
        provider = o.providers.get(src.global_metastore_id)
        what = f"share {src.share} of provider {provider or src.global_metastore_id}"
        privilege = "CREATE CATALOG and USE PROVIDER"
        if destroy:
            if found is not None:
                ours = is_ours(found.comment)
                change = Change.DELETE if ours else Change.SKIP
                out.append(Action("catalog from share", src.catalog, change, what, privilege=privilege))
            continue
        if found is not None:
            ok = is_ours(found.comment) or found.share_name == src.share
            out.append(
                Action(
                    "catalog from share",
                    src.catalog,
                    Change.UNCHANGED if ok else Change.SKIP,
                    what if ok else NOT_OURS,
                )
            )
            if not ok:
                continue
        elif not o.offline and (provider is None or src.share not in o.provider_shares.get(provider, set())):
            out.append(
                Action(
                    "catalog from share",
                    src.catalog,
                    Change.SKIP,
                    f"{what} not visible yet: apply provider target {src.target} first",
                )
            )
            continue
        else:
            payload = ShareCatalog(provider, src.share, marker(d.target))
            out.append(Action("catalog from share", src.catalog, Change.CREATE, what, payload, privilege))
        source = Source(src.account, src.workspace, src.catalog, src.schema)
        shared = o.shared_tables.get(src.catalog, set())
        known = o.columns.get(src.catalog, {})
        for table in src.tables:
            # a view may read only what the provider shares already (its jobs create a table before it is shared)
            if o.offline or f"{src.schema}.{table}" in shared:
                by_table.setdefault(table, []).append((source, known.get(f"{src.schema}.{table}")))
    views: set[str] = set()
    for table, spec in ({} if destroy else d.views).items():
        view = view_name(table)
        if table not in by_table:
            why = (
                "no provider shares this table yet: the next apply after a provider's apply shared it creates the view"
            )
            out.append(Action("view", f"{d.catalog}.{d.schema}.{view}", Change.SKIP, why))
            continue
        views.add(view)
        sources = by_table[table]
        detail = f"UNION ALL over {len(sources)} provider(s), by column name"
        if any(columns is None for _, columns in sources):
            pending = PendingView(d.target, d.catalog, d.schema, table, spec, tuple(s for s, _ in sources))
            out.append(_view_action(d, o, view, pending, PENDING))
        else:
            select = view_select(table, spec, [Provided(s, c) for s, c in sources if c is not None])
            out.append(_view_action(d, o, view, select, detail))
    for view, select in derived_selects(d.catalog, d.schema, views, d.analytics, d.budgets).items():
        views.add(view)
        what = (
            "daily cost anomalies (stm.anomalies)"
            if view == ANOMALIES
            else "over the consolidated billing and job runs"
        )
        out.append(_view_action(d, o, view, select, what))
    unwatched = budgetless(d.alert_rules, d.budgets)
    wanted = wanted_alerts(
        d.target, d.catalog, d.schema, d.warehouse_id, d.alert_rules, d.budgets, d.notify, d.alert_destinations
    )
    alerts = alert_actions(wanted, o.alerts, views, d.target, destroy)
    if not destroy:
        why = "no budgets declared (budgets:): nothing for this rule to watch"
        out.extend(Action("alert", display_name(d.target, n), Change.SKIP, why) for n in sorted(unwatched))
    dashboard = dashboard_actions(
        wanted_dashboard(d.target, d.catalog, d.schema, d.warehouse_id, bool(d.budgets)),
        o.dashboard,
        views,
        d.target,
        destroy,
    )
    if d.by_bundle:  # the bundle's own: apply neither makes nor removes them
        why = "deployed by the bundle (deployed_by: bundle; databricks bundle deploy makes it)"
        alerts = [Action("alert", a.name, Change.SKIP, why) for a in alerts if a.change != Change.DELETE]
        dashboard = [Action("dashboard", a.name, Change.SKIP, why) for a in dashboard]
    if not destroy:
        out.extend(alerts)
        out.extend(dashboard)
    for name, info in sorted(o.views.items()):
        if is_ours(info.comment) and (destroy or name not in views):
            sql = drop_view_sql(d.catalog, d.schema, name)
            out.append(
                Action(
                    "view",
                    f"{d.catalog}.{d.schema}.{name}",
                    Change.DELETE,
                    "",
                    Statement(d.warehouse_id, sql),
                    "view owner",
                )
            )
    if destroy:
        views_first = [*[a for a in out if a.kind == "view"], *[a for a in out if a.kind != "view"]]
        out = [*dashboard, *alerts, *views_first, *reversed(containers)]
    return out


PENDING = "its columns are read from the providers' tables once this apply made their catalogs"


def _view_action(d: HubDesired, o: HubObserved, view: str, select: str | PendingView, detail: str) -> Action:
    """Create, update or leave a view; a pending view's statement is built when it is made."""
    full = f"{d.catalog}.{d.schema}.{view}"
    current = o.views.get(view)
    if current is not None and not is_ours(current.comment):
        return Action("view", full, Change.SKIP, NOT_OURS)
    privilege = "USE SCHEMA and CREATE TABLE"
    if isinstance(select, PendingView):
        change = Change.CREATE if current is None else Change.UPDATE
        return Action("view", full, change, detail, Statement(d.warehouse_id, select), privilege)
    sql, comment = create_view_sql(d.target, d.catalog, d.schema, view, select)
    change = Change.CREATE if current is None else (Change.UNCHANGED if current.comment == comment else Change.UPDATE)
    return Action("view", full, change, detail, Statement(d.warehouse_id, sql), privilege)
