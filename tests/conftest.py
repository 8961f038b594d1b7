"""Shared fixtures: one local Spark session for the whole run, small Delta tables written with delta-rs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stm.config import Config, load_config


@pytest.fixture(scope="session")
def cfg() -> Config:
    return load_config()


@pytest.fixture(scope="session")
def spark(cfg: Config) -> Iterator[object]:
    from stm.spark import local_session

    session = local_session(cfg, "stm-tests")
    yield session
    session.stop()
