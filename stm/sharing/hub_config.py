"""The ``hub:`` section of the configuration: which providers the local hub reads and where it writes.

```yaml
hub:
  catalog: monitoring_hub          # consolidated tables go to <catalog>.<schema>.<table> under the hub's lake
  schema: consolidated
  providers:                       # read in this order; for account-wide tables without a row key the first
    acme_eu:                       # listed provider of an account is the one kept (DESIGN.md rule 4)
      profile: /secure/acme_eu.share   # a Delta Sharing profile file (from `stm share recipient add`)
      share: stm_monitoring        # a share declared in conf/shares.yml (its tables, scopes and dedup keys)
      account: acme                # source_account label
      workspace: eu-prod           # source_workspace label
      history: true                # the share is WITH HISTORY (the default, as deploy shares it): a changed
                                   # table is read from its changes feed; false: reloaded in full
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stm.errors import ConfigError, InvalidIdentifier
from stm.names import check_identifier

if TYPE_CHECKING:
    from stm.config import Config


@dataclass(frozen=True)
class HubProvider:
    """One provider workspace as the hub reads it: its profile file, share and labels."""

    profile: str
    share: str
    account: str
    workspace: str
    history: bool = True


@dataclass(frozen=True)
class HubConfig:
    catalog: str = "monitoring_hub"
    schema: str = "consolidated"
    providers: dict[str, HubProvider] = field(default_factory=dict)


def validate_hub(cfg: Config) -> None:
    """Raise ``ConfigError`` naming the field when the hub section is wrong."""
    from stm.specs import LABEL_RE

    hub = cfg.hub
    for path, value in (("hub.catalog", hub.catalog), ("hub.schema", hub.schema)):
        _ident(value, path)
    for name, p in hub.providers.items():
        base = f"hub.providers.{name}"
        _ident(name, base)
        if not p.profile.strip():
            raise ConfigError(f"{base}.profile", "is required: the path of a Delta Sharing profile file")
        if p.share not in cfg.shares:
            declared = ", ".join(sorted(cfg.shares)) or "none"
            raise ConfigError(
                f"{base}.share", f"no share {p.share!r} declared in conf/shares.yml; declared: {declared}"
            )
        for attr in ("account", "workspace"):
            if not LABEL_RE.match(getattr(p, attr)):
                raise ConfigError(f"{base}.{attr}", "use letters, digits, '_', '-' or '.' (at most 100 characters)")


def _ident(value: str, path: str) -> None:
    try:
        check_identifier(value)
    except InvalidIdentifier as exc:
        raise ConfigError(path, str(exc)) from None
