"""Checkpoint locations, the per-app run lock, reset with backup, and the start point after a reset."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from stm.console import iso_timestamp
from stm.errors import AppRunning, UsageError
from stm.names import check_identifier
from stm.store.base import StreamOptions

BACKUP_DIR = "_backup"


class Checkpoints:
    """Checkpoints of every app under one root: ``<root>/<app>``, ``<root>/<app>.lock``, ``<root>/<app>.start.json``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def location(self, app: str) -> Path:
        return self.root / check_identifier(app, "app name")

    def _start_file(self, app: str) -> Path:
        return self.root / f"{check_identifier(app, 'app name')}.start.json"

    @contextmanager
    def running(self, app: str) -> Iterator[None]:
        """Hold the app's run lock (refuses when another process runs the app)."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = self._lock(app)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            os.close(handle)

    def _lock(self, app: str) -> int:
        path = self.root / f"{check_identifier(app, 'app name')}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AppRunning(f"app {app} is running (lock {path} is held); stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return fd

    def start_options(self, app: str, base: StreamOptions) -> StreamOptions:
        """The source options for a fresh checkpoint: where a reset said to resume, if it said so."""
        path = self._start_file(app)
        if not path.exists():
            return base
        data = json.loads(path.read_text(encoding="utf-8"))
        return StreamOptions(
            skip_change_commits=base.skip_change_commits,
            starting_version=data.get("starting_version"),
            starting_timestamp=data.get("starting_timestamp"),
            max_files_per_trigger=base.max_files_per_trigger,
        )

    def reset(self, app: str, starting_version: int | None, starting_timestamp: str | None) -> Path | None:
        """Back up and remove the app's checkpoint; record where the next start resumes. Returns the backup."""
        if starting_version is not None and starting_timestamp is not None:
            raise UsageError("give --starting-version or --starting-timestamp, not both")
        if starting_version is not None and starting_version < 0:
            raise UsageError(f"--starting-version {starting_version}: must be a Delta version (0 or more)")
        if starting_timestamp is not None:
            try:
                iso_timestamp(starting_timestamp, "--starting-timestamp")
            except ValueError as bad:
                raise UsageError(f"{bad}; got {starting_timestamp!r}") from None
        self.root.mkdir(parents=True, exist_ok=True)
        handle = self._lock(app)
        try:
            backup: Path | None = None
            location = self.location(app)
            if location.exists():
                stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
                backup = self.root / BACKUP_DIR / f"{app}-{stamp}"
                backup.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(location), str(backup))
            start = self._start_file(app)
            if starting_version is None and starting_timestamp is None:
                start.unlink(missing_ok=True)
            else:
                payload = {"starting_version": starting_version, "starting_timestamp": starting_timestamp}
                tmp = start.with_suffix(".tmp")
                tmp.write_text(json.dumps(payload), encoding="utf-8")
                tmp.replace(start)
            return backup
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            os.close(handle)
