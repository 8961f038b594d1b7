"""``stm deploy plan|apply|destroy|bundle --target NAME``: the only place a WorkspaceClient is made."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config as SdkConfig
from databricks.sdk.errors import PermissionDenied, Unauthenticated

from deploy.bundle import bundle_files
from deploy.desired import hub_desired, provider_desired
from deploy.diff import provider_actions
from deploy.diff_hub import hub_actions
from deploy.execute import execute
from deploy.model import Plan
from deploy.observe import HubObserved, ProviderObserved, observe_hub, observe_provider
from deploy.wheel import Wheel, build_wheel, describe
from stm.config import Config, load_config
from stm.errors import UsageError

RETRY_TIMEOUT_SECONDS = 60  # also bounds the SDK's host discovery probe when a host is unreachable
HELP = """Deploy to Databricks workspaces declared in conf/environments.yml (targets), with the jobs of
conf/jobs.yml and the shares of conf/shares.yml. Authentication is databricks-sdk's: the target's `profile`
(~/.databrickscfg), else DATABRICKS_HOST/DATABRICKS_TOKEN or other standard variables.
  plan     show what apply would change (create / update / unchanged / delete / skip); --offline plans against
           an empty workspace without any network call (everything is "create")
  apply    make the changes, then report what was done and what was not
  destroy  remove what deploy made for this target (catalogs, schemas and volumes only with --purge-data)
  bundle   write databricks.yml (Asset Bundle): a provider's jobs, or a hub's dashboard and alerts"""


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "deploy",
        parents=[parent],
        help="plan, apply or destroy a deploy target; write a bundle",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["plan", "apply", "destroy", "bundle"])
    p.add_argument("--target", required=True, help="a target of conf/environments.yml")
    p.add_argument("--offline", action="store_true", help="plan only: no network, plan against an empty workspace")
    p.add_argument("--wheel", type=Path, default=None, help="deploy this wheel instead of building one from source")
    p.add_argument("--purge-data", action="store_true", help="destroy also removes our catalog, schema and volume")
    p.add_argument("--output", type=Path, default=Path("."), help="bundle: directory to write databricks.yml into")
    p.set_defaults(func=run)


def make_client(cfg: Config, target_name: str) -> WorkspaceClient:
    """A client for the target from its profile or host plus the standard environment variables."""
    target = cfg.targets[target_name]
    try:
        sdk_config = SdkConfig(host=target.host, profile=target.profile, retry_timeout_seconds=RETRY_TIMEOUT_SECONDS)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise UsageError(
            f"target {target_name}: no Databricks authentication ({first}); set the target's profile or "
            "DATABRICKS_TOKEN (or another databricks-sdk auth method)"
        ) from None
    return WorkspaceClient(config=sdk_config)


def _target(cfg: Config, name: str) -> str:
    if name not in cfg.targets:
        raise UsageError(f"unknown target {name!r}; targets: {', '.join(sorted(cfg.targets)) or 'none declared'}")
    return name


def make_plan(
    cfg: Config,
    name: str,
    w: WorkspaceClient | None,
    wheel: Wheel | None,
    *,
    destroy: bool = False,
    purge: bool = False,
) -> Plan:
    """Desired state from config, observed state from ``w`` (or an empty workspace when None), and their diff."""
    target = cfg.targets[name]
    where = target.host or f"profile {target.profile}"
    try:
        if target.role == "provider":
            pd = provider_desired(cfg, name, None if destroy else wheel)
            po = observe_provider(w, pd) if w is not None else ProviderObserved()
            return Plan(name, target.role, where, provider_actions(pd, po, destroy, purge))
        hd = hub_desired(cfg, name)
        ho = observe_hub(w, hd) if w is not None else HubObserved(offline=True)
        return Plan(name, target.role, where, hub_actions(hd, ho, destroy, purge))
    except Unauthenticated as exc:
        raise UsageError(f"target {name}: authentication failed at {where}: {str(exc).splitlines()[0]}") from None
    except PermissionDenied as exc:
        raise UsageError(f"target {name}: cannot read the workspace state: {str(exc).splitlines()[0]}") from None
    except requests.exceptions.ConnectionError:
        raise UsageError(f"target {name}: cannot reach {where} (plan --offline works without it)") from None


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    name = _target(cfg, args.target)
    if args.action == "bundle":
        if cfg.targets[name].deployed_by != "bundle":
            what = "jobs" if cfg.targets[name].role == "provider" else "dashboard and alerts"
            raise UsageError(
                f"target {name}: its {what} are deployed by stm deploy apply (deployed_by: apply); "
                f"set targets.{name}.deployed_by: bundle to deploy them with the bundle instead, never both"
            )
        for rel, text in bundle_files(cfg, name).items():
            path = args.output / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        return 0
    if args.offline and args.action != "plan":
        raise UsageError("--offline is only for plan")
    w = None if args.offline else make_client(cfg, name)
    needs_wheel = cfg.targets[name].role == "provider" and args.action != "destroy"
    with tempfile.TemporaryDirectory(prefix="stm-deploy-") as tmp:
        wheel = None
        if needs_wheel:
            wheel = describe(args.wheel) if args.wheel else build_wheel(Path(tmp))
        return deploy(cfg, name, args.action, w, wheel, purge=args.purge_data)


def deploy(
    cfg: Config, name: str, action: str, w: WorkspaceClient | None, wheel: Wheel | None, *, purge: bool = False
) -> int:
    """Print the plan for ``action`` (plan, apply or destroy), carry it out; exit code 1 if an action failed."""
    plan = make_plan(cfg, name, w, wheel, destroy=action == "destroy", purge=purge)
    print(plan.render())
    if action == "plan" or w is None:
        return 0
    if not plan.changes:
        print("nothing to do")
        return 0
    report = execute(w, plan)
    print(report.render())
    return 0 if report.ok else 1
