"""The one retry loop: run an idempotent operation again, after a bounded exponential backoff, while it fails in a
way the caller says is passing (a Delta commit that lost to a concurrent one, a transient workspace API error)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential backoff; ``sleep`` is injectable so tests never wait."""

    attempts: int = 6
    first_seconds: float = 1.0
    max_seconds: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def delays(self) -> list[float]:
        """The waits between attempts: ``first, 2*first, 4*first, ...`` capped at ``max_seconds``."""
        return [min(self.max_seconds, self.first_seconds * 2**i) for i in range(self.attempts - 1)]


def retry(
    what: str,
    fn: Callable[[], T],
    passing: Callable[[BaseException], bool],
    backoff: Backoff,
    give_up: Callable[[BaseException, int], BaseException] | None = None,
) -> T:
    """Run ``fn``; while it raises an error ``passing`` accepts, log, wait and run it again, at most
    ``backoff.attempts`` times in all. The last such error is raised as is, or as ``give_up(error, attempts)``."""
    delays = backoff.delays()
    for attempt in range(1, backoff.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not passing(exc):
                raise
            if attempt > len(delays):
                if give_up is None:
                    raise
                raise give_up(exc, attempt) from exc
            delay = delays[attempt - 1]
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            log.warning("%s (attempt %d of %d), retrying in %.1f s: %s", what, attempt, backoff.attempts, delay, reason)
            backoff.sleep(delay)
    raise ValueError(f"{what}: no attempt made (backoff.attempts = {backoff.attempts})")
