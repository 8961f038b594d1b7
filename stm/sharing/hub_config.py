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

from collections.abc import Collection
from dataclasses import dataclass, field

from stm.errors import ConfigError
from stm.names import config_identifier, config_label


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


def validate_hub(hub: HubConfig, shares: Collection[str]) -> None:
    """Raise ``ConfigError`` naming the field when the hub section is wrong; ``shares`` the declared ones."""
    for path, value in (("hub.catalog", hub.catalog), ("hub.schema", hub.schema)):
        config_identifier(value, path)
    for name, p in hub.providers.items():
        base = f"hub.providers.{name}"
        config_identifier(name, base)
        if not p.profile.strip():
            raise ConfigError(f"{base}.profile", "is required: the path of a Delta Sharing profile file")
        if p.share not in shares:
            declared = ", ".join(sorted(shares)) or "none"
            raise ConfigError(
                f"{base}.share", f"no share {p.share!r} declared in conf/shares.yml; declared: {declared}"
            )
        for attr in ("account", "workspace"):
            config_label(getattr(p, attr), f"{base}.{attr}")
