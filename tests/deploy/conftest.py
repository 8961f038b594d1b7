"""Fixtures for the deploy tests: the shipped configuration, one built wheel, an in-memory workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.wheel import Wheel, build_wheel
from stm.config import Config, load_config
from tests.deploy.fake_workspace import FakeWorkspace

PROVIDER, CATCH_UP_PROVIDER, HUB = "acme_prod_eu", "globex_dev_us", "central_hub"


@pytest.fixture(scope="session")
def cfg() -> Config:
    return load_config()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def fake() -> FakeWorkspace:
    return FakeWorkspace(system_schemas={"billing": "ENABLE_COMPLETED", "access": "AVAILABLE", "query": "AVAILABLE"})


@pytest.fixture
def no_sleep() -> list[float]:
    """Collects the delays the code asked to sleep, without sleeping."""
    return []


def write_overlay(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overlay.yml"
    path.write_text(text, encoding="utf-8")
    return path
