"""The product configuration: packaged YAML in ``conf/`` plus an optional user overlay, validated at load."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from stm.catalog import Kept, OutputSpec, ShareScope, TableSpec, validate_outputs, validate_tables
from stm.errors import ConfigError
from stm.names import config_identifier
from stm.sharing.hub_config import HubConfig, validate_hub
from stm.specs import Declared, JobSpec, ModelSpec, SharedTableSpec, ShareSpec, TargetSpec, validate_models
from stm.specs import validate as validate_specs
from stm.typed import deep_merge, load_dataclass

CONF_FILES = ("defaults.yml", "catalog.yml", "jobs.yml", "environments.yml", "shares.yml")
TRIGGER_RE = re.compile(r"^processingTime=(\d+) (second|seconds|minute|minutes|hour|hours)$")
TRIGGER_ALLOWED = "'availableNow' or 'processingTime=<N> seconds|minutes|hours', at most 24 hours"
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600}
SILVER_TABLE = "billing_summary"  # the silver billing table models read (stm.transforms.models.SILVER_BILLING)
OPTIONAL_SOURCES = ("account_prices",)  # system tables a model may read when the account can (optional inputs)
MAX_TRIGGER_SECONDS = 24 * 3600  # a longer interval is a typo: the stream would sit idle for days between batches


@dataclass(frozen=True)
class OutputConfig:
    catalog: str = "monitoring"
    schema: str = "workspace_usage"


@dataclass(frozen=True)
class StreamingConfig:
    trigger: str = "processingTime=5 minutes"
    skip_change_commits: bool = True
    max_files_per_trigger: int = 1000
    gold_writers: int = 4


@dataclass(frozen=True)
class LocalConfig:
    shuffle_partitions: int = 2
    driver_memory: str = "2g"


@dataclass(frozen=True)
class DatabricksConfig:
    checkpoint_root: str = "/Volumes/monitoring/workspace_usage/checkpoints"


@dataclass(frozen=True)
class Discount:
    """A negotiated discount on list price for one product or a SKU pattern (``fnmatch``, e.g. ``*_SQL_*``)."""

    percent: float
    product: str | None = None
    sku_pattern: str | None = None


@dataclass(frozen=True)
class PricingConfig:
    currency: str = "USD"
    discounts: list[Discount] = field(default_factory=list)


@dataclass(frozen=True)
class AnalyticsConfig:
    tag_keys: list[str] = field(default_factory=lambda: ["team", "env", "cost_center"])
    idle_cpu_percent: float = 10.0
    trend_threshold_percent: float = 25.0
    lookback_days: int = 30
    underused_percent: float = 30.0
    target_utilization_percent: float = 60.0
    warehouse_idle_share_percent: float = 25.0
    # cost anomalies (stm/anomalies.py): a day's robust z-score over its baseline, the least multiple and excess in
    # USD of its expected cost, and the spread's floor (a percentage change)
    anomaly_score: float = 3.5
    anomaly_min_ratio: float = 2.5
    anomaly_peak_ratio: float = 2.0
    anomaly_min_usd: float = 5.0
    anomaly_floor_percent: float = 5.0


@dataclass(frozen=True)
class BudgetSpec:
    """A monthly budget (stm/budgets.py): for all spend, or one account label, workspace id, product or tag."""

    amount: float
    currency: str = "USD"
    account: str | None = None
    workspace: str | None = None
    product: str | None = None
    tag: str | None = None  # key=value


@dataclass(frozen=True)
class AlertRule:
    """One alert rule (stm/alerts.py): its kind and the thresholds that kind reads."""

    kind: Literal["budget_over", "budget_at_risk", "anomaly", "job_failure_rate", "provider_stale", "unpriced_usage"]
    min_severity: Literal["low", "medium", "high"] = "high"  # anomaly
    max_percent: float = 50.0  # job_failure_rate: failures as a percentage of a week's finished runs
    min_runs: int = 3  # job_failure_rate
    max_days: int = 2  # provider_stale: days since the newest usage
    days: int = 2  # unpriced_usage: the newest days looked at


@dataclass(frozen=True)
class AlertsConfig:
    webhook_url: str | None = None  # also $STM_ALERT_WEBHOOK_URL (which wins)
    rules: dict[str, AlertRule] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    version: int
    engine: Literal["local", "databricks"] = "local"
    system_catalog: str = "system"
    output: OutputConfig = field(default_factory=OutputConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    local: LocalConfig = field(default_factory=LocalConfig)
    databricks: DatabricksConfig = field(default_factory=DatabricksConfig)
    pricing: PricingConfig = field(default_factory=PricingConfig)
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    budgets: dict[str, BudgetSpec] = field(default_factory=dict)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    tables: dict[str, TableSpec] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    jobs: dict[str, JobSpec] = field(default_factory=dict)
    targets: dict[str, TargetSpec] = field(default_factory=dict)
    shares: dict[str, ShareSpec] = field(default_factory=dict)
    hub: HubConfig = field(default_factory=HubConfig)

    def table(self, name: str) -> TableSpec:
        if name not in self.tables:
            raise ConfigError("tables", f"no table {name!r}; declared: {', '.join(sorted(self.tables))}")
        return self.tables[name]

    def output_name(self, table: str) -> str:
        return f"{self.output.catalog}.{self.output.schema}.{table}"

    def source_name(self, spec: TableSpec) -> str:
        return f"{self.system_catalog}.{spec.source}"

    def tables_in_mode(self, *modes: str) -> list[str]:
        return [name for name, spec in self.tables.items() if spec.mode in modes]

    def entry(self, name: str) -> Kept | None:
        """The catalog entry of ``name`` (a table, model or output), None when the catalog does not declare it."""
        return self.tables.get(name) or self.models.get(name) or self.outputs.get(name)

    def declared(self) -> list[str]:
        """Every table the catalog declares: source-fed tables, models, then the outputs of batch jobs."""
        return [*self.tables, *self.models, *self.outputs]

    def shared_tables(self, share: str) -> dict[str, SharedTableSpec]:
        """The tables of ``share``, each with how the hub consolidates it (its catalog entry's ``share``)."""
        spec = self.shares[share]
        resolved = {}
        for table in spec.tables:
            entry = self.entry(table)
            scope = entry.share if entry is not None else ShareScope()
            resolved[table] = SharedTableSpec(scope.scope, list(scope.dedup_by), table not in spec.without_history)
        return resolved


def parse_trigger(value: str, path: str = "streaming.trigger") -> dict[str, Any]:
    """Turn a trigger string into ``DataStreamWriter.trigger`` keyword arguments."""
    if value == "availableNow":
        return {"availableNow": True}
    m = TRIGGER_RE.match(value or "")
    if not m or not 0 < int(m.group(1)) * _UNIT_SECONDS[m.group(2).rstrip("s")] <= MAX_TRIGGER_SECONDS:
        raise ConfigError(path, f"got {value!r}, allowed: {TRIGGER_ALLOWED}")
    return {"processingTime": f"{int(m.group(1))} {m.group(2)}"}


def _validate(cfg: Config) -> None:
    for path, name in (
        ("system_catalog", cfg.system_catalog),
        ("output.catalog", cfg.output.catalog),
        ("output.schema", cfg.output.schema),
    ):
        config_identifier(name, path)
    parse_trigger(cfg.streaming.trigger)
    if cfg.streaming.max_files_per_trigger < 1:
        raise ConfigError("streaming.max_files_per_trigger", "must be a positive integer")
    if not 1 <= cfg.streaming.gold_writers <= 32:
        raise ConfigError("streaming.gold_writers", "must be an integer from 1 to 32")
    if cfg.local.shuffle_partitions < 1:
        raise ConfigError("local.shuffle_partitions", "must be a positive integer")
    validate_tables(cfg.tables)
    if cfg.pricing.currency != "USD":
        raise ConfigError("pricing.currency", f"got {cfg.pricing.currency!r}, allowed: 'USD' (list prices are USD)")
    for i, d in enumerate(cfg.pricing.discounts):
        base = f"pricing.discounts[{i}]"
        if not 0 <= d.percent < 100:
            raise ConfigError(f"{base}.percent", f"got {d.percent!r}, allowed: 0 <= percent < 100")
        if (d.product is None) == (d.sku_pattern is None):
            raise ConfigError(base, "set exactly one of 'product' or 'sku_pattern'")
    for i, key in enumerate(cfg.analytics.tag_keys):
        if not key or len(key) > 255:
            raise ConfigError(f"analytics.tag_keys[{i}]", "must be a non-empty tag key of at most 255 characters")
    if not 0 <= cfg.analytics.idle_cpu_percent <= 100:
        raise ConfigError("analytics.idle_cpu_percent", "allowed: 0 to 100")
    if cfg.analytics.trend_threshold_percent <= 0:
        raise ConfigError("analytics.trend_threshold_percent", "must be a positive number")
    if not 1 <= cfg.analytics.anomaly_score <= 100:
        raise ConfigError("analytics.anomaly_score", "allowed: 1 to 100 (a robust z-score)")
    if not 1 <= cfg.analytics.anomaly_min_ratio <= 1000:
        raise ConfigError("analytics.anomaly_min_ratio", "allowed: 1 to 1000 (a multiple of the expected cost)")
    if not 1 <= cfg.analytics.anomaly_peak_ratio <= 1000:
        raise ConfigError("analytics.anomaly_peak_ratio", "allowed: 1 to 1000 (a multiple of the usual high)")
    if cfg.analytics.anomaly_min_usd < 0:
        raise ConfigError("analytics.anomaly_min_usd", "must be zero or a positive amount in USD")
    if not 0 < cfg.analytics.anomaly_floor_percent <= 100:
        raise ConfigError("analytics.anomaly_floor_percent", "allowed: above 0 up to 100")
    for name, budget in cfg.budgets.items():
        _validate_budget(cfg, name, budget)
    _validate_alerts(cfg.alerts)
    if not 1 <= cfg.analytics.lookback_days <= 365:
        raise ConfigError("analytics.lookback_days", "allowed: a whole number of days from 1 to 365")
    for name in ("underused_percent", "warehouse_idle_share_percent"):
        if not 0 <= getattr(cfg.analytics, name) <= 100:
            raise ConfigError(f"analytics.{name}", "allowed: 0 to 100")
    if not 0 < cfg.analytics.target_utilization_percent <= 100:
        raise ConfigError("analytics.target_utilization_percent", "allowed: more than 0, at most 100")
    validate_models(cfg.models, [*cfg.tables, SILVER_TABLE, *OPTIONAL_SOURCES])
    validate_outputs(cfg.outputs, cfg.tables, cfg.models)
    validate_specs(Declared(cfg.jobs, cfg.shares, cfg.targets, cfg.streaming.trigger))
    _validate_shared(cfg)
    validate_hub(cfg.hub, set(cfg.shares))


def _validate_shared(cfg: Config) -> None:
    """Every shared table is a table of the catalog (where its scope is declared)."""
    for name, share in cfg.shares.items():
        for i, table in enumerate(share.tables):
            if cfg.entry(table) is None:
                raise ConfigError(
                    f"shares.{name}.tables[{i}]",
                    f"no catalog table {table!r}: declare it in conf/catalog.yml (tables, models or outputs)",
                )


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error, not "the last one wins"."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (line {key_node.start_mark.line + 1}): give each key once",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(origin, f"not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(origin, "the top level must be a mapping")
    return data


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "--config", f"file {str(path)!r} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError("--config", f"file {str(path)!r} cannot be read: {exc.strerror}") from None


def packaged_tree() -> dict[str, Any]:
    """The merged YAML tree of the packaged ``conf/`` files."""
    tree: dict[str, Any] = {}
    root = resources.files("stm.conf")
    for name in CONF_FILES:
        tree = deep_merge(tree, _read_yaml(root.joinpath(name).read_text(encoding="utf-8"), name))
    return tree


def load_config(overlay: str | os.PathLike[str] | None = None, extra: dict[str, Any] | None = None) -> Config:
    """Load packaged defaults, merge the overlay file (``--config``) and ``extra``, validate, return."""
    tree = packaged_tree()
    if overlay is not None:
        path = Path(overlay)
        if not path.is_file():
            raise ConfigError("--config", f"file {str(path)!r} does not exist")
        tree = deep_merge(tree, _read_yaml(_read_text(path), str(path)))
    if extra:
        tree = deep_merge(tree, extra)
    cfg = load_dataclass(Config, tree, "")
    if cfg.version != 1:
        raise ConfigError("version", f"got {cfg.version!r}, allowed: 1")
    _validate(cfg)
    return cfg


def _validate_budget(cfg: Config, name: str, budget: BudgetSpec) -> None:
    base = f"budgets.{name}"
    if not budget.amount > 0:
        raise ConfigError(f"{base}.amount", f"got {budget.amount!r}, expected a positive amount")
    if budget.currency != cfg.pricing.currency:
        raise ConfigError(
            f"{base}.currency", f"got {budget.currency!r}: costs are in {cfg.pricing.currency} (pricing.currency)"
        )
    scopes = [s for s in ("account", "workspace", "product", "tag") if getattr(budget, s) is not None]
    if len(scopes) > 1:
        raise ConfigError(base, f"set at most one of account, workspace, product or tag (got {', '.join(scopes)})")
    for scope in scopes:
        value = getattr(budget, scope)
        if not value or len(value) > 255:
            raise ConfigError(f"{base}.{scope}", "must be a non-empty string of at most 255 characters")
    if budget.tag is not None and ("=" not in budget.tag or budget.tag.startswith("=")):
        raise ConfigError(f"{base}.tag", f"got {budget.tag!r}, expected key=value")


WEBHOOK_SCHEMES = ("https://", "http://")


def check_webhook(url: str, where: str) -> str:
    """``url`` if it is an http(s) URL; the error names ``where`` it came from, never the URL (it may hold a token)."""
    if not url.startswith(WEBHOOK_SCHEMES) or any(c.isspace() for c in url):
        raise ConfigError(where, "must be an http:// or https:// URL without spaces")
    return url


def _validate_alerts(alerts: AlertsConfig) -> None:
    if alerts.webhook_url is not None:
        check_webhook(alerts.webhook_url, "alerts.webhook_url")
    for name, rule in alerts.rules.items():
        base = f"alerts.rules.{name}"
        if not name.replace("_", "").isalnum():
            raise ConfigError(base, "a rule name is letters, digits and underscores")
        if not 0 < rule.max_percent <= 100:
            raise ConfigError(f"{base}.max_percent", "allowed: above 0 up to 100")
        for attr, high in (("min_runs", 10_000), ("max_days", 366), ("days", 366)):
            if not 1 <= getattr(rule, attr) <= high:
                raise ConfigError(f"{base}.{attr}", f"allowed: a whole number from 1 to {high}")
