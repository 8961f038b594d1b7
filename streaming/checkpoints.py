"""Checkpoint locations, the per-app run lock, reset with backup, and the start point after a reset."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from stm.console import iso_timestamp
from stm.errors import UsageError
from stm.names import check_identifier
from stm.store.base import StreamOptions
from streaming.run_lock import RunLock

BACKUP_DIR = "_backup"
BACKUP_COMPLETE = "_BACKUP_COMPLETE"  # written last into a backup: the copy is whole


class Checkpoints:
    """Checkpoints of every app under one root: ``<root>/<app>``, ``<root>/<app>.lock``, ``<root>/<app>.start.json``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def location(self, app: str) -> Path:
        return self.root / check_identifier(app, "app name")

    def _start_file(self, app: str) -> Path:
        return self.root / f"{check_identifier(app, 'app name')}.start.json"

    def _lock(self, app: str) -> RunLock:
        return RunLock(self.root / f"{check_identifier(app, 'app name')}.lock", app)

    @contextmanager
    def running(self, app: str) -> Iterator[None]:
        """Hold the app's run lock (refuses when another run holds it); a reset left unfinished must end first."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock(app).held():
            if self._resetting(app).exists():
                raise UsageError(f"a checkpoint reset of {app} did not finish: run stm checkpoint reset {app} again")
            yield

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
        lock = self._lock(app)
        lock.acquire()
        try:
            backup = self._back_up(app)
            start = self._start_file(app)
            if starting_version is None and starting_timestamp is None:
                start.unlink(missing_ok=True)
            else:
                payload = {"starting_version": starting_version, "starting_timestamp": starting_timestamp}
                tmp = start.with_suffix(".tmp")
                tmp.write_text(json.dumps(payload), encoding="utf-8")
                tmp.replace(start)
            self._resetting(app).unlink()
            return backup
        finally:
            lock.release()

    def _resetting(self, app: str) -> Path:
        """Present while a reset runs: names its backup, so a reset that died is finished by the next one."""
        return self.root / f"{check_identifier(app, 'app name')}.resetting"

    def _back_up(self, app: str) -> Path | None:
        """Copy the checkpoint to a new backup folder, mark the copy complete, then delete the checkpoint.

        Copy then delete, not a move: on a volume (object storage) renaming a folder is no single step, and a move
        that dies half way leaves a checkpoint with files missing; a copy that dies is redone by the next reset."""
        marker, location = self._resetting(app), self.location(app)
        if marker.exists():
            backup = Path(marker.read_text(encoding="utf-8"))
        else:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            backup = self.root / BACKUP_DIR / f"{app}-{stamp}"
            marker.write_text(str(backup), encoding="utf-8")
        if location.exists():
            if not (backup / BACKUP_COMPLETE).exists():
                shutil.rmtree(backup, ignore_errors=True)
                shutil.copytree(location, backup)
                (backup / BACKUP_COMPLETE).write_text("", encoding="utf-8")
            shutil.rmtree(location)
        return backup if (backup / BACKUP_COMPLETE).exists() else None
