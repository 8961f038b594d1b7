"""Every foreachBatch sink works on its micro-batch's own session only.

On serverless and standard access mode the foreachBatch function runs in a process of its own, without the
driver's session. Here each app's sink gets a store whose session is a tripwire, and is called with a batch of
the app's source read through another session (``spark.newSession()``): any use of the driver's session (a read,
a temp view, a conf, a cache) fails the test.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from stm.config import Config
from stm.store.local import LocalTableStore
from streaming.apps import App, BronzeApp, BronzeSink, CheckpointedSink, DerivedSink, resolve_apps

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class DriverSession:
    """Stands in for the driver's session: touching it is the failure this test looks for."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a sink used the driver's session (.{name})")


def _sink(app: App, store: LocalTableStore, checkpoint: Path, cfg: Config) -> CheckpointedSink:
    checkpoint.mkdir(parents=True)
    (checkpoint / "metadata").write_text(json.dumps({"id": str(uuid.uuid4())}))
    if isinstance(app, BronzeApp):
        return BronzeSink(app, store, checkpoint)
    return DerivedSink(app, store, checkpoint, cfg=cfg)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Path:
    from stm.simulate.simulator import simulate

    root = tmp_path_factory.mktemp("sessions")
    simulate(root, accounts=1, workspaces=1, days=2, seed=11, billing_rows_per_day=20, audit_events_per_day=5)
    return root


def test_every_sink_uses_only_its_batch_session(spark, cfg, lake, tmp_path):
    tripwire = LocalTableStore(cast("SparkSession", DriverSession()), lake)
    batch_session = spark.newSession()
    reader = LocalTableStore(batch_session, lake)
    apps = resolve_apps(cfg, [], True)  # bronze apps first, then the apps that read their tables
    ran = []
    for app in apps:
        if not reader.exists(app.source):
            continue
        sink = _sink(app, tripwire, tmp_path / app.name, cfg)
        sink(reader.read(app.source), 0)
        assert sink.stats.batches == 1, app.name
        ran.append(app.name)
    assert {"billing_usage_bronze", "audit_logs_bronze", "billing_summary", "gold_audit_logs"} <= set(ran)
    store = LocalTableStore(spark, lake)
    assert store.read(cfg.output_name("billing_summary")).count() > 0
    assert store.read(cfg.output_name("cost_by_product")).count() > 0
