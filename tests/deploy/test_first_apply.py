"""Every example target against empty emulated workspaces: the first apply completes, the second changes nothing.

The providers' workspaces and the hub's are separate fakes; the hub sees a provider's share once that provider's
apply granted it to the hub's recipient, holding the tables that provider shared (Databricks-to-Databricks sharing).
"""

from __future__ import annotations

import pytest

from deploy.command import deploy
from deploy.wheel import Wheel
from stm.config import Config
from tests.deploy.conftest import HUB, HUB_DERIVED, run_jobs
from tests.deploy.fake_workspace import FakeWorkspace


def _providers(cfg: Config) -> list[str]:
    return [name for name, t in cfg.targets.items() if t.role == "provider"]


def _apply(
    cfg: Config, fake: FakeWorkspace, target: str, wheel: Wheel | None, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    code = deploy(cfg, target, "apply", fake.client(), wheel)
    return code, capsys.readouterr().out


def _hub_sees(cfg: Config, hub: FakeWorkspace, providers: dict[str, FakeWorkspace]) -> None:
    """What Delta Sharing shows the hub: each provider's shares granted to its recipient, with their tables."""
    for name, fake in providers.items():
        t = cfg.targets[name]
        assert t.global_metastore_id is not None
        granted = [s for s in fake.shares if t.recipient in fake.grants.get(s, set())]
        hub.providers[name] = (t.global_metastore_id, granted)
        for share in granted:
            objects = fake.shares[share].objects or []
            hub.provider_tables[(name, share)] = [o.shared_as for o in objects if o.shared_as]


def _apply_all_twice(
    cfg: Config,
    providers: dict[str, FakeWorkspace],
    hub: FakeWorkspace,
    wheel: Wheel,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each provider, then the hub: a first apply with no failed action, then a second one with nothing to do."""
    for name, fake in [*providers.items(), (HUB, hub)]:
        if name == HUB:
            _hub_sees(cfg, hub, providers)
        code, out = _apply(cfg, fake, name, wheel if name != HUB else None, capsys)
        assert code == 0 and "FAILED" not in out, out
        again, out = _apply(cfg, fake, name, wheel if name != HUB else None, capsys)
        assert again == 0 and "nothing to do" in out and "0 to create, 0 to update, 0 to delete" in out, out


def test_every_example_target_first_apply_completes_and_second_apply_is_a_no_op(
    cfg: Config, wheel: Wheel, capsys: pytest.CaptureFixture[str]
):
    states = {"billing": "MANAGED", "access": "AVAILABLE", "compute": "ENABLE_COMPLETED"}
    providers = {name: FakeWorkspace(system_schemas=dict(states)) for name in _providers(cfg)}
    hub = FakeWorkspace()

    _apply_all_twice(cfg, providers, hub, wheel, capsys)

    assert set(hub.catalogs) == {"monitoring_hub", *(f"stm_src_{p}" for p in providers)} and hub.views == {}
    for name, fake in providers.items():
        assert fake.recipients and fake.grants and fake.shares["stm_monitoring"].objects == []
        run_jobs(cfg, fake, name)
    _apply_all_twice(cfg, providers, hub, wheel, capsys)

    shared = cfg.shares["stm_monitoring"].tables
    assert all(len(f.shares["stm_monitoring"].objects or []) == len(shared) for f in providers.values())
    assert {v.split(".")[-1] for v in hub.views} == {f"all_{t}" for t in shared} | HUB_DERIVED


def test_every_example_target_destroy_removes_only_what_deploy_made(
    cfg: Config, wheel: Wheel, capsys: pytest.CaptureFixture[str]
):
    providers = {name: FakeWorkspace() for name in _providers(cfg)}
    hub = FakeWorkspace()
    _apply_all_twice(cfg, providers, hub, wheel, capsys)
    for name, fake in providers.items():
        run_jobs(cfg, fake, name)
    _apply_all_twice(cfg, providers, hub, wheel, capsys)
    data = {name: dict(fake.tables) for name, fake in providers.items()}

    for name, fake in [(HUB, hub), *providers.items()]:
        assert deploy(cfg, name, "destroy", fake.client(), None) == 0, capsys.readouterr().out

    assert hub.views == {} and set(hub.catalogs) == {"monitoring_hub"}
    for name, fake in providers.items():
        assert fake.jobs == {} and fake.shares == {} and fake.recipients == {} and fake.files == {}
        assert fake.tables == data[name] and set(fake.volumes) >= {"monitoring.workspace_usage.checkpoints"}
