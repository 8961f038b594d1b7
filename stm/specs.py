"""Declarations of models, jobs, deploy targets and shares (``conf/catalog.yml``, ``jobs.yml``, ``environments.yml``,
``shares.yml``).

Pure data: read by the batch runner, the deploy script and the sharing endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from stm.catalog import MIN_VACUUM_HOURS, OptimizeSpec, ShareScope, validate_kept
from stm.errors import ConfigError
from stm.names import config_identifier, config_label

TRIGGER_PLACEHOLDER = "{trigger}"
SHARING_ID_RE = re.compile(r"^[a-z0-9-]+:[a-z0-9-]+:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SHARING_ID_FORM = "<cloud>:<region>:<metastore uuid>, e.g. aws:us-west-2:19a85dee-54bc-43a2-87ab-023d0ec16013"
STORAGE_URL_RE = re.compile(r"^(s3|abfss|gs|r2)://[^\s/]+(/\S*)?$")
STORAGE_URL_FORM = "a cloud storage URL s3://, abfss://, gs:// or r2://<bucket or container>/<path>"
BUILD_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CRON_FIELD = re.compile(r"^[0-9A-Z*?/,#LW-]+$")


@dataclass(frozen=True)
class TaskSpec:
    """One ``python_wheel_task``: the ``stm`` arguments it runs and its place in the job's graph."""

    command: list[str]
    depends_on: list[str] = field(default_factory=list)
    max_retries: int = 0
    min_retry_interval_seconds: int = 0
    timeout_seconds: int = 0


@dataclass(frozen=True)
class JobSpec:
    """A job: a cron schedule or continuous (the streaming job), and its tasks in dependency order."""

    description: str
    tasks: dict[str, TaskSpec]
    schedule: str | None = None
    timezone: str = "UTC"
    continuous: bool = False
    timeout_seconds: int = 0
    max_concurrent_runs: int = 1


@dataclass(frozen=True)
class ClusterSpec:
    """The job cluster used when a target's compute is ``job_cluster``."""

    spark_version: str
    node_type_id: str
    num_workers: int = 1
    data_security_mode: Literal["SINGLE_USER", "USER_ISOLATION"] = "SINGLE_USER"


@dataclass(frozen=True)
class TargetSpec:
    """A workspace to deploy to: how to reach it, its role, and what lands there."""

    role: Literal["provider", "hub"]
    account: str
    workspace: str
    description: str = ""
    host: str | None = None
    profile: str | None = None
    catalog: str | None = None
    # the catalog's managed location, needed where the metastore has no root storage (a cloud URL, e.g. s3://b/p)
    storage_root: str | None = None
    schema: str | None = None
    volume: str = "artifacts"
    # the volume holding this target's streaming checkpoints, beside the artifacts volume (whose files destroy prunes)
    checkpoint_volume: str = "checkpoints"
    compute: Literal["serverless", "job_cluster"] = "serverless"
    cluster: ClusterSpec | None = None
    notify: list[str] = field(default_factory=list)
    catch_up_every_minutes: int | None = None
    share: str | None = None
    recipient: str | None = None
    hub_sharing_identifier: str | None = None
    open_sharing: bool = False
    global_metastore_id: str | None = None
    warehouse_id: str | None = None
    # hub: notification destination ids its SQL alerts notify, beside the notify emails
    alert_destinations: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    source_catalog_prefix: str = "stm_src"
    # who deploys a provider's jobs, or a hub's dashboard and alerts: ``stm deploy apply``, or the Asset Bundle
    # ``stm deploy bundle`` writes (``databricks bundle deploy``); one of them, never both
    deployed_by: Literal["apply", "bundle"] = "apply"


@dataclass(frozen=True)
class SharedTableSpec:
    """A curated table in a share, resolved: its catalog entry's scope (``account`` tables hold the whole account in
    every provider) and whether the share holds its history."""

    scope: Literal["workspace", "account"] = "workspace"
    dedup_by: list[str] = field(default_factory=list)
    history: bool = True  # shared WITH HISTORY: readable at a version and through the changes feed


@dataclass(frozen=True)
class ShareSpec:
    """A Delta share of curated output tables of the catalog, each shared WITH HISTORY unless listed in
    ``without_history``. How the hub consolidates each is its catalog entry's ``share`` (``Config.shared_tables``).

    ``mask_personal_data``: the local sharing endpoint serves personal data (emails, IP addresses, user names)
    as keyed hashes (see ``stm/sharing/files.py``).
    """

    description: str = ""
    tables: list[str] = field(default_factory=list)
    without_history: list[str] = field(default_factory=list)
    mask_personal_data: bool = False


@dataclass(frozen=True)
class DatedSpec:
    """An input of a model whose new rows dirty dates: ``column`` is a DATE, or a TIMESTAMP whose date is taken."""

    input: str
    column: str
    timestamp: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """A silver/gold table (``models:`` of ``conf/catalog.yml``): its inputs, the transform that builds it, its key
    and how its dates are found."""

    inputs: list[str]
    build: str  # module.function of a pure transform
    keys: list[str]
    driver: DatedSpec
    date_column: str | None = None
    also_dated: list[DatedSpec] = field(default_factory=list)
    optional_inputs: list[str] = field(default_factory=list)
    why: str = ""
    share: ShareScope = field(default_factory=ShareScope)
    optimize: OptimizeSpec = field(default_factory=OptimizeSpec)
    vacuum_retain_hours: int = MIN_VACUUM_HOURS


def validate_models(models: Mapping[str, ModelSpec], tables: Collection[str]) -> None:
    """Each model reads tables that exist (``tables``, or a model declared before it), names a transform by
    ``module.function`` and has a key; its driver and other dated inputs are among its inputs."""
    known = set(tables)
    for name, m in models.items():
        base = f"models.{name}"
        config_identifier(name, base)
        if name in tables:
            raise ConfigError(base, "is also a table of the catalog: give the model another name")
        for i, table in enumerate(m.inputs):
            if table not in known:
                raise ConfigError(f"{base}.inputs[{i}]", f"no table or earlier model {table!r}")
        if not BUILD_RE.match(m.build):
            raise ConfigError(f"{base}.build", f"got {m.build!r}, expected module.function, e.g. stm.transforms.gold.x")
        if not m.keys:
            raise ConfigError(f"{base}.keys", "list the columns of its MERGE key")
        for i, key in enumerate(m.keys):
            config_identifier(key, f"{base}.keys[{i}]")
        if m.date_column is not None:
            config_identifier(m.date_column, f"{base}.date_column")
        for path, dated in (
            (f"{base}.driver", m.driver),
            *((f"{base}.also_dated[{i}]", d) for i, d in enumerate(m.also_dated)),
        ):
            if dated.input not in m.inputs:
                raise ConfigError(f"{path}.input", f"{dated.input!r} is not one of its inputs {m.inputs}")
            config_identifier(dated.column, f"{path}.column")
        validate_kept(base, m)
        known.add(name)


def stream_trigger(default: str, target: TargetSpec) -> str:
    """The trigger of a target's streams: availableNow on a catch-up schedule, else ``default``
    (``streaming.trigger``)."""
    return "availableNow" if target.catch_up_every_minutes else default


def catch_up_cron(minutes: int) -> str:
    """Quartz cron for an availableNow catch-up every ``minutes``."""
    if minutes < 60:
        return f"0 0/{minutes} * * * ?"
    return f"0 0 0/{minutes // 60} * * ?"


@dataclass(frozen=True)
class Declared:
    """What the cross-field checks read: the declarations, and the streams' default trigger."""

    jobs: Mapping[str, JobSpec]
    shares: Mapping[str, ShareSpec]
    targets: Mapping[str, TargetSpec]
    trigger: str


def validate(cfg: Declared) -> None:
    """Cross-field checks of the job, target and share declarations (raise ``ConfigError``)."""
    for name, job in cfg.jobs.items():
        _validate_job(name, job)
    for name, share in cfg.shares.items():
        _validate_share(name, share)
    for name, target in cfg.targets.items():
        _validate_target(cfg, name, target)


def check_cron(expr: str, path: str) -> None:
    """Quartz cron sanity: 6 or 7 fields, one of day-of-month / day-of-week is '?'."""
    fields = expr.split()
    if len(fields) not in (6, 7) or not all(_CRON_FIELD.match(f) for f in fields):
        raise ConfigError(path, f"got {expr!r}, expected a Quartz cron 'sec min hour day-of-month month day-of-week'")
    if "?" not in (fields[3], fields[5]):
        raise ConfigError(path, f"got {expr!r}: day-of-month or day-of-week must be '?' in Quartz cron")


def _validate_job(name: str, job: JobSpec) -> None:
    base = f"jobs.{name}"
    config_identifier(name, base)
    if not job.tasks:
        raise ConfigError(f"{base}.tasks", "at least one task is required")
    if job.continuous == (job.schedule is not None):
        raise ConfigError(base, "set exactly one of 'schedule' (Quartz cron) or 'continuous: true'")
    if job.schedule is not None:
        check_cron(job.schedule, f"{base}.schedule")
    if job.timezone != "UTC":
        raise ConfigError(f"{base}.timezone", f"got {job.timezone!r}, allowed: 'UTC'")
    if job.max_concurrent_runs < 1:
        raise ConfigError(f"{base}.max_concurrent_runs", "must be at least 1")
    if job.timeout_seconds < 0:
        raise ConfigError(f"{base}.timeout_seconds", "must be 0 (none) or positive")
    seen: set[str] = set()
    for key, task in job.tasks.items():
        tbase = f"{base}.tasks.{key}"
        config_identifier(key, tbase)
        if not task.command:
            raise ConfigError(f"{tbase}.command", "is required: the stm arguments, e.g. [batch, optimize]")
        if TRIGGER_PLACEHOLDER in task.command and not job.continuous:
            raise ConfigError(f"{tbase}.command", f"{TRIGGER_PLACEHOLDER} is only allowed in a continuous job")
        for i, dep in enumerate(task.depends_on):
            if dep not in job.tasks:
                allowed = ", ".join(k for k in job.tasks if k != key)
                raise ConfigError(f"{tbase}.depends_on[{i}]", f"no task {dep!r}; tasks of this job: {allowed}")
            if dep not in seen:
                raise ConfigError(f"{tbase}.depends_on[{i}]", f"{dep!r} must be declared before {key!r}")
        if task.max_retries < -1:
            raise ConfigError(f"{tbase}.max_retries", "must be -1 (forever), 0 or positive")
        seen.add(key)


def _validate_share(name: str, share: ShareSpec) -> None:
    config_identifier(name, f"shares.{name}")
    if not share.tables:
        raise ConfigError(f"shares.{name}.tables", "at least one table is required")
    for i, table in enumerate(share.tables):
        config_identifier(table, f"shares.{name}.tables[{i}]")
        if table in share.tables[:i]:
            raise ConfigError(f"shares.{name}.tables[{i}]", f"{table!r} is listed twice: list each table once")
    for i, table in enumerate(share.without_history):
        if table not in share.tables:
            raise ConfigError(f"shares.{name}.without_history[{i}]", f"{table!r} is not one of the share's tables")


def _validate_target(cfg: Declared, name: str, t: TargetSpec) -> None:
    base = f"targets.{name}"
    config_identifier(name, base)
    for attr in ("account", "workspace"):
        config_label(getattr(t, attr), f"{base}.{attr}")
    if t.host is None and t.profile is None:
        raise ConfigError(base, "set 'host' or 'profile' (a ~/.databrickscfg profile)")
    if t.host is not None and not t.host.startswith(("https://", "http://")):
        raise ConfigError(f"{base}.host", f"got {t.host!r}, expected https://<workspace host>")
    for attr in ("catalog", "schema", "volume", "checkpoint_volume", "recipient", "source_catalog_prefix"):
        if getattr(t, attr) is not None:
            config_identifier(getattr(t, attr), f"{base}.{attr}")
    if t.storage_root is not None and not STORAGE_URL_RE.match(t.storage_root):
        raise ConfigError(f"{base}.storage_root", f"got {t.storage_root!r}, allowed: {STORAGE_URL_FORM}")
    if t.checkpoint_volume == t.volume:
        raise ConfigError(
            f"{base}.checkpoint_volume",
            f"got {t.volume!r}, the artifacts volume: checkpoints need a volume of their own",
        )
    for i, email in enumerate(t.notify):
        if not EMAIL_RE.match(email):
            raise ConfigError(f"{base}.notify[{i}]", f"got {email!r}, expected an email address")
    if (t.compute == "job_cluster") != (t.cluster is not None):
        raise ConfigError(f"{base}.cluster", "required when compute is 'job_cluster', not allowed with 'serverless'")
    if t.cluster is not None and t.cluster.num_workers < 0:
        raise ConfigError(f"{base}.cluster.num_workers", "must be 0 (single node) or positive")
    m = t.catch_up_every_minutes
    if m is not None and not (5 <= m < 60 and 60 % m == 0) and not (m >= 60 and m % 60 == 0 and 24 % (m // 60) == 0):
        raise ConfigError(
            f"{base}.catch_up_every_minutes", f"got {m}, allowed: 5, 6, 10, 12, 15, 20, 30 or whole hours dividing 24"
        )
    for attr in ("hub_sharing_identifier", "global_metastore_id"):
        value = getattr(t, attr)
        if value is not None and not SHARING_ID_RE.match(value):
            raise ConfigError(f"{base}.{attr}", f"got {value!r}, expected {SHARING_ID_FORM}")
    if t.role == "provider":
        _validate_provider(cfg, base, t)
    else:
        _validate_hub(cfg, base, t)


def _validate_provider(cfg: Declared, base: str, t: TargetSpec) -> None:
    if t.share is not None and t.share not in cfg.shares:
        raise ConfigError(f"{base}.share", f"no share {t.share!r}; declared: {', '.join(sorted(cfg.shares)) or 'none'}")
    if t.share is not None and t.recipient is None:
        raise ConfigError(f"{base}.recipient", "is required when 'share' is set")
    if t.share is not None and (t.hub_sharing_identifier is not None) == t.open_sharing:
        raise ConfigError(
            base, "set exactly one of 'hub_sharing_identifier' (Databricks-to-Databricks) or 'open_sharing'"
        )
    for attr in ("sources", "alert_destinations"):
        if getattr(t, attr):
            raise ConfigError(f"{base}.{attr}", "only allowed for role 'hub'")
    masked = t.share is not None and cfg.shares[t.share].mask_personal_data
    if masked and not t.warehouse_id:
        raise ConfigError(
            f"{base}.warehouse_id",
            f"is required: share {t.share} masks personal data, and the SQL warehouse creates its masked views",
        )
    trigger = stream_trigger(cfg.trigger, t)
    if t.compute == "serverless" and trigger != "availableNow" and any(j.continuous for j in cfg.jobs.values()):
        # https://docs.databricks.com/aws/en/compute/serverless/limitations: serverless streams take only the
        # availableNow (or once) trigger, no time-based trigger intervals
        raise ConfigError(
            f"{base}.compute",
            f"serverless streams allow only availableNow, not {trigger!r}; allowed modes: serverless with "
            "catch_up_every_minutes (a scheduled availableNow catch-up) or compute 'job_cluster' (continuous)",
        )


def _validate_hub(cfg: Declared, base: str, t: TargetSpec) -> None:
    if not t.warehouse_id:
        raise ConfigError(f"{base}.warehouse_id", "is required for role 'hub' (the SQL warehouse that creates views)")
    if not t.sources:
        raise ConfigError(f"{base}.sources", "list the provider targets whose shares this hub reads")
    for attr in ("share", "recipient", "hub_sharing_identifier", "catch_up_every_minutes"):
        if getattr(t, attr) is not None:
            raise ConfigError(f"{base}.{attr}", "only allowed for role 'provider'")
    providers = sorted(n for n, s in cfg.targets.items() if s.role == "provider")
    for i, src in enumerate(t.sources):
        p = cfg.targets.get(src)
        if p is None or p.role != "provider":
            raise ConfigError(f"{base}.sources[{i}]", f"no provider target {src!r}; providers: {', '.join(providers)}")
        if p.share is None or p.global_metastore_id is None or p.open_sharing:
            raise ConfigError(
                f"{base}.sources[{i}]",
                f"provider {src!r} needs 'share', 'global_metastore_id' and Databricks-to-Databricks sharing",
            )
