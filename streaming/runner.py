"""Run streaming apps in one Spark session: start, watch, stop cleanly on a signal, summarize."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from stm.config import Config
from stm.spark import is_connect
from stm.store.base import StreamOptions
from stm.store.delta import TableStore
from stm.store.sources import source_exists
from streaming.apps import App, AppStats, BatchLog, BronzeApp, BronzeSink, DerivedApp, DerivedSink, Sink
from streaming.checkpoints import Checkpoints
from streaming.progress import TriggerTimes, add_batches

log = logging.getLogger(__name__)
GRACE_SECONDS = 120.0
INIT_SECONDS = 120.0
RETRY_WAITING_SECONDS = 30.0  # long-lived runs: how often apps waiting for their source try to start
POLL_SECONDS = 1
PROGRESS_TABLE = "stream_progress"
PROGRESS_SECONDS = 10.0  # how often the progress of running apps is read (Spark keeps the last 100 reports)


# Delta's streaming source stops at a commit that rewrote rows unless told to skip such commits
CHANGE_COMMIT_ERRORS = ("DELTA_SOURCE_TABLE_IGNORE_CHANGES", "DELTA_SOURCE_IGNORE_DELETE")
_VERSION = re.compile(r"at version (\d+)")
# what a Spark Connect server says when the Python worker of a foreachBatch function did not connect back in time
WORKER_LATE = "Timed out while waiting for the Python worker to connect back"


def error_line(exc: BaseException) -> str:
    message = str(exc)
    for error_class in CHANGE_COMMIT_ERRORS:
        if error_class in message:
            found = _VERSION.search(message)
            where = f" at version {found[1]}" if found else ""
            return (
                f"the source has a commit{where} that updated or deleted rows ({error_class}); set "
                "streaming.skip_change_commits: true to skip such commits, as every system-table stream should"
            )
    text = message.strip().splitlines()
    for line in text:
        if "Error" in line or "error" in line:
            return line.strip()[:400]
    return (text[0] if text else type(exc).__name__)[:400]


def stop_gracefully(query: StreamingQuery, grace_seconds: float = GRACE_SECONDS) -> None:
    """Let the running micro-batch finish (up to ``grace_seconds``), then stop the query."""
    deadline = time.monotonic() + grace_seconds
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.2)
    query.stop()


def trigger_seconds(trigger: dict[str, Any]) -> float:
    """The interval of a processingTime trigger in seconds (0 for availableNow)."""
    if "processingTime" not in trigger:
        return 0.0
    count, unit = str(trigger["processingTime"]).split()
    return float(count) * {"second": 1, "minute": 60, "hour": 3600}[unit.rstrip("s")]


def wait_until_initialized(query: StreamingQuery, timeout_seconds: float = INIT_SECONDS) -> None:
    """Wait until the query's sources are initialized, so apps start one after another.

    Each local source starts a Python worker that must connect back to the JVM within Spark's fixed timeout;
    starting many at once on a small, busy machine can miss it.
    """
    deadline = time.monotonic() + timeout_seconds
    while query.isActive and query.status.get("message") == "Initializing sources" and time.monotonic() < deadline:
        time.sleep(0.1)


def source_trigger(
    cfg: Config, app: App, trigger: dict[str, Any], options: StreamOptions
) -> tuple[dict[str, Any], StreamOptions]:
    """The trigger and source options a stream on ``app``'s source really gets.

    Databricks serves the system tables through Delta Sharing, whose streaming source does not support AvailableNow
    (it runs as Trigger.Once: everything up to now in one micro-batch) and ignores maxFilesPerTrigger ("Considerations
    for streaming system tables", https://docs.databricks.com/aws/en/admin/system-tables/). The local system catalog
    behaves the same way, so a run sees locally what a workspace does to it."""
    if not app.source.startswith(f"{cfg.system_catalog}."):
        return trigger, options
    if options.max_files_per_trigger:
        log.info("app %s: maxFilesPerTrigger is ignored on system tables (served through Delta Sharing)", app.name)
        options = dataclasses.replace(options, max_files_per_trigger=None)
    return ({"once": True} if trigger.get("availableNow") else trigger), options


def start_query(app: str, start: Callable[[], StreamingQuery]) -> StreamingQuery:
    """Start a query; a Connect server whose foreachBatch worker process missed the server's fixed wait for it to
    connect back (a busy machine) is asked again, a few times."""
    from stm.retry import Backoff, retry

    def late_worker(exc: BaseException) -> bool:
        return WORKER_LATE in str(exc)

    return retry(f"app {app}: foreachBatch worker late", start, late_worker, Backoff(attempts=3, first_seconds=5.0))


class StreamRunner:
    """Starts each app's query with its checkpoint and lock, waits, and records per-app statistics."""

    def __init__(
        self,
        cfg: Config,
        spark: SparkSession,
        store: TableStore,
        checkpoints: Checkpoints,
        base_options: StreamOptions,
        trigger: dict[str, Any],
    ) -> None:
        self.cfg = cfg
        self.spark = spark
        self.store = store
        self.checkpoints = checkpoints
        self.base_options = base_options
        self.trigger = trigger
        self.stats: dict[str, AppStats] = {}
        self.triggers: dict[str, TriggerTimes] = {}
        self.batches = self._new_run()
        self.stop_event = threading.Event()

    def _start(self, app: App, stack: contextlib.ExitStack) -> StreamingQuery | None:
        stats = self.stats[app.name]
        if not source_exists(self.store, app.source):  # a refused grant raises SourceUnreadable (exit 1)
            long_lived = not self.trigger.get("availableNow")
            if stats.status != "waiting":
                log.warning("app %s %s: %s", app.name, "waiting" if long_lived else "skipped", app.missing_hint())
            stats.status = "waiting" if long_lived else "skipped"
            stats.detail = app.missing_hint()
            return None
        stack.enter_context(self.checkpoints.running(app.name))
        location = self.checkpoints.location(app.name)
        fresh = not (location / "offsets").exists()
        options = self.checkpoints.start_options(app.name, self.base_options) if fresh else self.base_options
        trigger, options = source_trigger(self.cfg, app, self.trigger, options)
        sink: Sink = self.sink(app)
        self.triggers[app.name] = TriggerTimes()
        writer = (
            self.store.read_stream(app.source, options)
            .writeStream.queryName(app.name)
            .foreachBatch(sink)
            .option("checkpointLocation", str(location))
            .trigger(**trigger)
        )
        query = start_query(app.name, writer.start)
        stats.status = "running"
        stats.detail = ""
        wait_until_initialized(query)
        log.info("app %s started (checkpoint %s%s)", app.name, location, ", new" if fresh else "")
        return query

    def _new_run(self) -> BatchLog:
        """Every micro-batch of a run appends its row to stream_progress under the run's own id."""
        return BatchLog(self.cfg.output_name(PROGRESS_TABLE), uuid.uuid4().hex)

    def sink(self, app: App) -> Sink:
        """The app's ``foreachBatch`` function: declarations only, so it pickles for a Connect session's worker."""
        if isinstance(app, BronzeApp):
            return BronzeSink(app, self.store, self.batches)
        return DerivedSink(app, self.store, self.batches, self.cfg)

    def run(self, apps: list[App]) -> dict[str, AppStats]:
        """Run ``apps``: with availableNow, bronze apps first and then the derived apps that read them."""
        self.stats = {app.name: AppStats() for app in apps}
        self.batches = self._new_run()
        phases: list[list[App]] = [apps]
        if self.trigger.get("availableNow"):
            phases = [[a for a in apps if isinstance(a, BronzeApp)], [a for a in apps if isinstance(a, DerivedApp)]]
            if is_connect(self.spark):
                # a local Connect server started the foreachBatch worker of a fourth query running at once too late
                # for its fixed connect-back wait (measured on two cores): catch-up runs there take apps one by one
                phases = [[app] for phase in phases for app in phase]
        for phase in phases:
            if phase and not self.stop_event.is_set():
                self._run_phase(phase)
        add_batches(self.store, self.batches.table, self.batches.run_id, self.stats)
        return self.stats

    def _run_phase(self, apps: list[App]) -> None:
        queries: dict[str, StreamingQuery] = {}
        with contextlib.ExitStack() as stack:
            try:
                self._start_all(apps, queries, stack)
                self._wait(apps, queries, stack)
            finally:
                for name, query in queries.items():
                    if query.isActive:
                        stop_gracefully(query)
                    self._finish(name, query)

    def _start_all(self, apps: list[App], queries: dict[str, StreamingQuery], stack: contextlib.ExitStack) -> None:
        """Start every app not running yet whose source exists."""
        for app in apps:
            if app.name not in queries and not self.stop_event.is_set():
                query = self._start(app, stack)
                if query is not None:
                    queries[app.name] = query

    def _wait(self, apps: list[App], queries: dict[str, StreamingQuery], stack: contextlib.ExitStack) -> None:
        available_now = bool(self.trigger.get("availableNow"))
        retry_every = min(RETRY_WAITING_SECONDS, trigger_seconds(self.trigger))
        next_retry = time.monotonic() + retry_every
        next_progress = time.monotonic() + PROGRESS_SECONDS
        while not self.stop_event.is_set():
            if time.monotonic() >= next_progress:
                for name, query in queries.items():
                    self.triggers[name].collect(query, self.stats[name])
                next_progress = time.monotonic() + PROGRESS_SECONDS
            if not available_now and time.monotonic() >= next_retry:
                self._start_all([a for a in apps if self.stats[a.name].status == "waiting"], queries, stack)
                next_retry = time.monotonic() + retry_every
            active = [q for q in queries.values() if q.isActive]
            failed = [q for q in queries.values() if not q.isActive and q.exception() is not None]
            if failed and not available_now:
                log.error("app %s failed; stopping the others so the job can restart them", failed[0].name)
                return
            if not active and (available_now or not any(st.status == "waiting" for st in self.stats.values())):
                return
            if not active:
                self.stop_event.wait(POLL_SECONDS)
                continue
            with contextlib.suppress(StreamingQueryException):
                active[0].awaitTermination(POLL_SECONDS)  # returns as soon as that query ends
        log.info("stop requested: letting running micro-batches finish")

    def _finish(self, name: str, query: StreamingQuery) -> None:
        stats = self.stats[name]
        self.triggers[name].collect(query, stats)
        error: StreamingQueryException | None = query.exception()
        if error is not None:
            stats.status = "failed"
            stats.detail = error_line(error)
            log.error("app %s failed: %s", name, stats.detail)
        elif stats.status == "running":
            stats.status = "ok" if not self.stop_event.is_set() else "stopped"


def summary_table(stats: dict[str, AppStats]) -> str:
    """A plain-text table of each app's outcome."""
    from stm.console import text_table

    rows = [
        (name, s.status, str(s.batches), str(s.rows_in), str(s.rows_written), f"{s.seconds:.1f}", s.detail)
        for name, s in stats.items()
    ]
    return text_table(("app", "status", "batches", "rows_in", "rows_out", "seconds", "detail"), rows)
