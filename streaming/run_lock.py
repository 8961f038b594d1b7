"""The per-app run lock as a lease file that works where Databricks keeps checkpoints: a Unity Catalog volume.

A volume is object storage seen through FUSE: "direct-append or non-sequential (random) writes" are not supported
(https://docs.databricks.com/aws/en/volumes/volume-files, limitations), and an ``flock`` taken there guards one node
only. So the lease is a small file created exclusively and written once, whole; renewing it writes a new file and
renames it over the old one; nothing is ever opened for update. The first guarantee that one run at a time
writes a checkpoint is the Jobs API's ``max_concurrent_runs: 1`` on every job (deploy sets it from
``conf/jobs.yml``; https://docs.databricks.com/api/workspace/jobs/create, ``max_concurrent_runs``); the lease
keeps a manual ``stm stream`` or ``stm checkpoint reset`` from running beside the job.

A lease that is not renewed expires: a run that died (a lost cluster, a killed process) is taken over once its
lease has run out, or at once when its owner is a process of this host that no longer exists.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from stm.errors import AppRunning

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0  # a holder renews every third of it
HOST = socket.gethostname()


@dataclass(frozen=True)
class Lease:
    host: str
    pid: int
    token: str
    expires_at: float

    def text(self) -> str:
        return json.dumps({"host": self.host, "pid": self.pid, "token": self.token, "expires_at": self.expires_at})

    @staticmethod
    def parse(text: str) -> Lease | None:
        try:
            d = json.loads(text)
            return Lease(str(d["host"]), int(d["pid"]), str(d["token"]), float(d["expires_at"]))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        until = datetime.fromtimestamp(self.expires_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"held by {self.host} pid {self.pid} until {until}"


def _gone(lease: Lease) -> bool:
    """The owner is a process of this host that no longer exists."""
    if lease.host != HOST:
        return False
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, owned by another user
        return False
    return False


class RunLock:
    """The lease of ``path``; ``what`` names the app in messages."""

    def __init__(
        self,
        path: Path,
        what: str,
        seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path, self.what, self.seconds, self.clock, self.sleep = path, what, seconds, clock, sleep
        self.token = uuid.uuid4().hex

    def _lease(self) -> Lease:
        return Lease(HOST, os.getpid(), self.token, self.clock() + self.seconds)

    def _create(self, path: Path, lease: Lease) -> bool:
        """Write ``lease`` to a new file at ``path``: False when one is there already."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(lease.text())
        return True

    def _read(self) -> Lease | None:
        try:
            return Lease.parse(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def acquire(self) -> None:
        """Take the lease, or raise ``AppRunning`` while another run holds a live one."""
        if self._create(self.path, self._lease()):
            return
        held = self._read()
        if held is not None and not _gone(held):
            if held.host == HOST:  # a live process of this host: it renews, so it runs
                raise self._running(held)
            self.sleep(max(0.0, held.expires_at - self.clock()) + 1.0)  # another node's: expired unless renewed
            now = self._read()
            if now is not None and now != held:
                raise self._running(now)
        aside = self.path.with_name(f"{self.path.name}.stale-{self.token}")
        try:  # only one taker moves the stale lease aside: a rename of one file, never a rewrite
            os.rename(self.path, aside)
            aside.unlink()
        except FileNotFoundError:
            pass
        if not self._create(self.path, self._lease()):
            raise self._running(self._read())
        if held is not None:
            log.warning("%s: took over a run lock that was not renewed (%s)", self.what, held.describe())

    def _running(self, held: Lease | None) -> AppRunning:
        how = held.describe() if held else "held"
        return AppRunning(f"app {self.what} is running (lock {self.path} {how}); stop it first")

    def renew(self) -> bool:
        """Extend the lease with a new file renamed over it; False when it is no longer ours."""
        current = self._read()
        if current is None or current.token != self.token:
            return False
        fresh = self.path.with_name(f"{self.path.name}.{self.token}.new")
        fresh.unlink(missing_ok=True)
        self._create(fresh, self._lease())
        os.replace(fresh, self.path)
        return True

    def release(self) -> None:
        current = self._read()
        if current is not None and current.token == self.token:
            self.path.unlink(missing_ok=True)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lease, renewed in the background, for the duration of the block."""
        self.acquire()
        stop = threading.Event()

        def keep() -> None:
            while not stop.wait(self.seconds / 3):
                if not self.renew():
                    log.error("%s: lost its run lock %s to another run", self.what, self.path)
                    return

        renewer = threading.Thread(target=keep, name=f"lease-{self.what}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            self.release()
