"""Every foreachBatch sink pickles and works on its micro-batch's own session only.

On serverless and standard access mode the foreachBatch function is pickled (cloudpickle) and run in a process of its
own, without the driver's session. Here each app's sink is pickled and unpickled as Spark Connect does it, its store
arrives without a session, and it is called with a batch of the app's source read through another session
(``spark.newSession()``); and a sink whose store holds a tripwire session shows that no code path reaches for the
driver's session (a read, a temp view, a conf, a cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from stm.config import Config
from stm.store.local import LocalTableStore
from streaming.apps import App, BatchLog, BronzeApp, BronzeSink, DerivedSink, Sink, resolve_apps

RUN = "sink-sessions"

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class DriverSession:
    """Stands in for the driver's session: touching it is the failure this test looks for."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a sink used the driver's session (.{name})")


def _sink(app: App, store: LocalTableStore, cfg: Config) -> Sink:
    batches = BatchLog(cfg.output_name("stream_progress"), RUN)
    if isinstance(app, BronzeApp):
        return BronzeSink(app, store, batches)
    return DerivedSink(app, store, batches, cfg)


def _recorded(store: LocalTableStore, cfg: Config, app: App) -> int:
    """Micro-batches of ``app`` in this test's run that stream_progress holds."""
    table = cfg.output_name("stream_progress")
    return store.read(table).where(f"run_id = '{RUN}' AND app = '{app.name}'").count() if store.exists(table) else 0


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Path:
    from stm.simulate.simulator import simulate

    root = tmp_path_factory.mktemp("sessions")
    simulate(root, accounts=1, workspaces=1, days=2, seed=11, billing_rows_per_day=20, audit_events_per_day=5)
    return root


def test_every_sink_uses_only_its_batch_session(spark, cfg, lake):
    tripwire = LocalTableStore(cast("SparkSession", DriverSession()), lake)
    batch_session = spark.newSession()
    reader = LocalTableStore(batch_session, lake)
    apps = resolve_apps(cfg, [], True)  # bronze apps first, then the apps that read their tables
    ran = []
    for app in apps:
        if not reader.exists(app.source):
            continue
        _sink(app, tripwire, cfg)(reader.read(app.source), 0)
        assert _recorded(reader, cfg, app) == 1, app.name  # the batch ran to its end and reported itself
        ran.append(app.name)
    assert {"billing_usage_bronze", "audit_logs_bronze", "billing_summary", "gold_audit_logs"} <= set(ran)
    store = LocalTableStore(spark, lake)
    assert store.read(cfg.output_name("billing_summary")).count() > 0
    assert store.read(cfg.output_name("cost_by_product")).count() > 0


def test_every_sink_pickles_without_a_session_and_runs_on_the_batch_session(spark, cfg, tmp_path):
    """What a Spark Connect server does with a foreachBatch function: cloudpickle it, load it in a worker, call it
    with a batch of the worker's own session."""
    from pyspark import cloudpickle

    from stm.simulate.simulator import simulate

    simulate(tmp_path, accounts=1, workspaces=1, days=1, seed=3, billing_rows_per_day=10, audit_events_per_day=3)
    driver = LocalTableStore(spark, tmp_path)
    worker_session = spark.newSession()
    reader = LocalTableStore(worker_session, tmp_path)
    for app in resolve_apps(cfg, ["billing_usage_bronze", "billing_summary"], False):
        shipped = cloudpickle.loads(cloudpickle.dumps(_sink(app, driver, cfg)))
        assert shipped.store.spark is None and driver.spark is spark  # the driver's session stayed behind
        shipped(reader.read(app.source), 0)
        assert _recorded(reader, cfg, app) == 1, app.name
    billing = reader.read(cfg.output_name("billing_summary"))
    assert billing.count() == reader.read(cfg.output_name("billing_usage_bronze")).count() > 0
