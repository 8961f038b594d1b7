"""The checkpoint run lock and reset on a file layer that refuses what a Unity Catalog volume refuses: a lease
file written once and renamed, never updated in place; a lease of another node honoured while it is renewed; a
reset that copies, then deletes, and is finished by the next one if it died."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.jobs import Artifacts, all_job_settings
from stm.errors import AppRunning, UsageError
from streaming.checkpoints import BACKUP_COMPLETE, Checkpoints
from streaming.run_lock import HOST, Lease, RunLock
from tests.volume_files import volume_like

APP = "billing_usage_bronze"


class Clock:
    """A clock that moves only when the code under test sleeps; ``on_sleep`` runs what another node does then."""

    def __init__(self, on_sleep: Callable[[], object] | None = None) -> None:
        self.now, self.on_sleep = 1_000_000.0, on_sleep
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep()


def other_node(path: Path, expires_at: float, token: str = "t-other") -> Lease:
    lease = Lease("other-node", 4242, token, expires_at)
    path.write_text(lease.text(), encoding="utf-8")
    return lease


def test_volume_like_layer_refuses_what_the_flock_lock_did(tmp_path):
    with volume_like(tmp_path / "v") as root:
        (root / "x.lock").write_text("1")
        with pytest.raises(OSError, match="read-write open"):
            os.open(root / "x.lock", os.O_RDWR | os.O_CREAT)
        with pytest.raises(OSError, match="append"), open(root / "x.lock", "a"):
            pass


def test_run_lock_on_a_volume_holds_refuses_a_second_run_and_is_gone_after(tmp_path):
    with volume_like(tmp_path / "v") as root:
        checkpoints = Checkpoints(root)
        with checkpoints.running(APP):
            lease = Lease.parse((root / f"{APP}.lock").read_text())
            assert lease is not None and (lease.host, lease.pid) == (HOST, os.getpid())
            with pytest.raises(AppRunning, match=f"app {APP} is running"):
                checkpoints.reset(APP, None, None)
        assert sorted(p.name for p in root.iterdir()) == []


def test_lease_of_another_node_renewed_while_waiting_refuses_the_run(tmp_path):
    with volume_like(tmp_path / "v") as root:
        path = root / f"{APP}.lock"
        clock = Clock()
        other_node(path, clock.now + 90)
        clock.on_sleep = lambda: other_node(path, clock.now + 120)  # the other run renews: it is alive
        with pytest.raises(AppRunning, match="held by other-node pid 4242"):
            RunLock(path, APP, clock=clock, sleep=clock.sleep).acquire()
        assert clock.slept == [91.0]


def test_lease_of_another_node_not_renewed_is_taken_over_once_expired(tmp_path):
    with volume_like(tmp_path / "v") as root:
        path = root / f"{APP}.lock"
        clock = Clock()
        other_node(path, clock.now + 30)
        lock = RunLock(path, APP, seconds=120, clock=clock, sleep=clock.sleep)
        lock.acquire()
        assert clock.slept == [31.0]
        taken = json.loads(path.read_text())
        assert (taken["host"], taken["token"], taken["expires_at"]) == (HOST, lock.token, clock.now + 120)
        assert lock.renew() and json.loads(path.read_text())["expires_at"] == clock.now + 120
        lock.release()
        assert not path.exists()


def test_lease_of_a_dead_process_of_this_host_is_taken_over_at_once(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with volume_like(tmp_path / "v") as root:
        path = root / f"{APP}.lock"
        clock = Clock()
        path.write_text(Lease(HOST, int(dead.stdout), "t-dead", clock.now + 100).text())
        RunLock(path, APP, clock=clock, sleep=clock.sleep).acquire()
        assert clock.slept == []
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_reset_on_a_volume_copies_then_deletes_and_a_reset_that_died_is_finished_by_the_next(tmp_path):
    with volume_like(tmp_path / "v") as root:
        checkpoints = Checkpoints(root)
        (checkpoints.location(APP) / "offsets").mkdir(parents=True)
        (checkpoints.location(APP) / "offsets" / "0").write_text("v1")
        backup = checkpoints.reset(APP, 3, None)
        assert backup is not None and (backup / "offsets" / "0").read_text() == "v1"
        assert (backup / BACKUP_COMPLETE).exists() and not checkpoints.location(APP).exists()
        assert sorted(p.name for p in root.iterdir()) == ["_backup", f"{APP}.start.json"]
        # a reset that died after its copy: the checkpoint is still there and the marker names the backup
        (checkpoints.location(APP) / "offsets").mkdir(parents=True)
        (checkpoints.location(APP) / "offsets" / "1").write_text("v2")
        died = root / "_backup" / "died"
        (died / "offsets").mkdir(parents=True)
        (died / "offsets" / "1").write_text("v2")
        (died / BACKUP_COMPLETE).write_text("")
        (root / f"{APP}.resetting").write_text(str(died))
        with pytest.raises(UsageError, match=f"a checkpoint reset of {APP} did not finish"), checkpoints.running(APP):
            pass
        assert checkpoints.reset(APP, None, None) == died
        assert not checkpoints.location(APP).exists() and not (root / f"{APP}.resetting").exists()


def test_stream_job_runs_one_at_a_time(cfg):
    """The Jobs API's single-run guarantee the lease backs up: every deployed job allows one run at a time."""
    settings = all_job_settings(cfg, "acme_prod_eu", Artifacts(wheel="/Volumes/c/s/v/w.whl", config="/c.yml"))
    assert {key: s.max_concurrent_runs for key, s in settings.items()} == {"stream": 1, "daily": 1, "maintenance": 1}
