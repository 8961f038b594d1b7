"""What a target should hold, computed from the configuration alone (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from databricks.sdk.service import jobs

from deploy.jobs import Artifacts, all_job_settings
from deploy.model import digest
from deploy.wheel import Wheel
from stm.config import AlertRule, AnalyticsConfig, BudgetSpec, Config
from stm.specs import SharedTableSpec, TargetSpec


@dataclass(frozen=True)
class Location:
    catalog: str
    schema: str
    volume: str
    checkpoint_volume: str = "checkpoints"
    storage_root: str | None = None  # the catalog's managed location, when one is declared

    @property
    def root(self) -> str:
        """Our own folder in the artifacts volume: everything below it was put there by deploy."""
        return f"/Volumes/{self.catalog}/{self.schema}/{self.volume}/stm"

    def checkpoint_root(self, target: str) -> str:
        """The target's checkpoints: in a volume of their own, beside (not under) the artifacts that apply prunes."""
        return f"/Volumes/{self.catalog}/{self.schema}/{self.checkpoint_volume}/{target}"


@dataclass(frozen=True)
class ProviderDesired:
    target: str
    location: Location
    system_schemas: list[str]
    files: dict[str, bytes | Wheel]
    jobs: dict[str, jobs.JobSettings]
    share: str | None
    share_tables: dict[str, bool]  # full table name: shared WITH HISTORY
    recipient: str | None
    hub_sharing_identifier: str | None
    mask: bool = False  # the share's tables are shared as masked views, made on warehouse_id
    warehouse_id: str | None = None
    jobs_by_bundle: bool = False  # the target's jobs are the bundle's (deployed_by: bundle): apply makes none


@dataclass(frozen=True)
class HubSource:
    target: str
    account: str
    workspace: str
    catalog: str
    schema: str
    share: str
    global_metastore_id: str
    tables: list[str]


@dataclass(frozen=True)
class HubDesired:
    target: str
    catalog: str
    schema: str
    storage_root: str | None
    warehouse_id: str
    sources: list[HubSource]
    views: dict[str, SharedTableSpec]
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    budgets: dict[str, BudgetSpec] = field(default_factory=dict)
    alert_rules: dict[str, AlertRule] = field(default_factory=dict)
    notify: list[str] = field(default_factory=list)
    alert_destinations: list[str] = field(default_factory=list)
    by_bundle: bool = False  # the dashboard and alerts are the bundle's (deployed_by: bundle): apply makes none


def location(cfg: Config, target: TargetSpec) -> Location:
    catalog, schema = target.catalog or cfg.output.catalog, target.schema or cfg.output.schema
    return Location(catalog, schema, target.volume, target.checkpoint_volume, target.storage_root)


def config_overlay(loc: Location, target_name: str) -> bytes:
    """The ``--config`` overlay every task runs with: the Databricks engine, the target's output and checkpoints."""
    tree = {
        "engine": "databricks",
        "output": {"catalog": loc.catalog, "schema": loc.schema},
        "databricks": {"checkpoint_root": loc.checkpoint_root(target_name)},
    }
    return yaml.safe_dump(tree, sort_keys=True).encode()


def provider_desired(cfg: Config, target_name: str, wheel: Wheel | None) -> ProviderDesired:
    """Everything a provider should hold; without a wheel (destroy) there are no files or jobs to want."""
    target = cfg.targets[target_name]
    loc = location(cfg, target)
    overlay = config_overlay(loc, target_name)
    files: dict[str, bytes | Wheel] = {}
    settings: dict[str, jobs.JobSettings] = {}
    if wheel is not None:
        wheel_path = f"{loc.root}/wheels/{wheel.digest}/{wheel.filename}"
        config_path = f"{loc.root}/conf/{target_name}-{digest(overlay.decode())}.yml"
        files = {wheel_path: wheel, config_path: overlay}
        settings = all_job_settings(cfg, target_name, Artifacts(wheel=wheel_path, config=config_path))
    share = cfg.shares[target.share] if target.share else None
    return ProviderDesired(
        target=target_name,
        location=loc,
        system_schemas=sorted({spec.source_schema for spec in cfg.tables.values()}),
        files=files,
        jobs=settings,
        share=target.share,
        share_tables={f"{loc.catalog}.{loc.schema}.{t}": s.history for t, s in cfg.shared_tables(target.share).items()}
        if target.share
        else {},
        recipient=target.recipient,
        hub_sharing_identifier=target.hub_sharing_identifier,
        mask=bool(share and share.mask_personal_data),
        warehouse_id=target.warehouse_id,
        jobs_by_bundle=target.deployed_by == "bundle",
    )


def hub_desired(cfg: Config, target_name: str) -> HubDesired:
    target = cfg.targets[target_name]
    loc = location(cfg, target)
    sources: list[HubSource] = []
    views: dict[str, SharedTableSpec] = {}
    for name in target.sources:
        p = cfg.targets[name]
        assert p.share is not None and p.global_metastore_id is not None  # validated for hub sources
        share = cfg.shares[p.share]
        for table, spec in cfg.shared_tables(p.share).items():
            views.setdefault(table, spec)
        sources.append(
            HubSource(
                target=name,
                account=p.account,
                workspace=p.workspace,
                catalog=f"{target.source_catalog_prefix}_{name}",
                schema=location(cfg, p).schema,
                share=p.share,
                global_metastore_id=p.global_metastore_id,
                tables=list(share.tables),
            )
        )
    assert target.warehouse_id is not None  # validated for hubs
    return HubDesired(
        target_name,
        loc.catalog,
        loc.schema,
        loc.storage_root,
        target.warehouse_id,
        sources,
        views,
        cfg.analytics,
        cfg.budgets,
        cfg.alerts.rules,
        list(target.notify),
        list(target.alert_destinations),
        target.deployed_by == "bundle",
    )
