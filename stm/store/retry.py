"""Retrying a write whose commit lost to a concurrent one (OPTIMIZE while a stream MERGEs, two writers).

Safe because every write here is idempotent: keyed MERGEs, replaced date ranges, transaction ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from stm.errors import JobFailed

log = logging.getLogger(__name__)

T = TypeVar("T")
# Delta raises the Concurrent*/*ChangedException family (error classes DELTA_CONCURRENT_*, DELTA_METADATA_CHANGED,
# DELTA_PROTOCOL_CHANGED); through PySpark they arrive as captured errors whose text names them.
CONFLICT_TYPES = frozenset(
    {
        "ConcurrentModificationException",
        "ConcurrentAppendException",
        "ConcurrentDeleteReadException",
        "ConcurrentDeleteDeleteException",
        "ConcurrentTransactionException",
        "ConcurrentWriteException",
        "MetadataChangedException",
        "ProtocolChangedException",
    }
)
CONFLICT_ERROR_CLASSES = ("DELTA_CONCURRENT_", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED")


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


DEFAULT_BACKOFF = Backoff()


def is_commit_conflict(exc: BaseException) -> bool:
    """True for a commit refused because a concurrent transaction won: rerunning the operation is safe."""
    if {cls.__name__ for cls in type(exc).__mro__} & CONFLICT_TYPES:
        return True
    return any(marker in str(exc) for marker in CONFLICT_ERROR_CLASSES)


def retry_on_conflict(what: str, fn: Callable[[], T], backoff: Backoff = DEFAULT_BACKOFF) -> T:
    """Run ``fn``; while its commit conflicts with a concurrent one, log, wait and run it again (bounded)."""
    delays = backoff.delays()
    for attempt in range(1, backoff.attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_commit_conflict(exc):
                raise
            reason = str(exc).splitlines()[0][:200]
            if attempt > len(delays):
                raise JobFailed(f"{what}: commit still conflicting after {attempt} attempts: {reason}") from exc
            delay = delays[attempt - 1]
            log.warning("%s: commit conflicted with a concurrent one (attempt %d of %d), retrying in %.1f s: %s",
                        what, attempt, backoff.attempts, delay, reason)  # fmt: skip
            backoff.sleep(delay)
    raise JobFailed(f"{what}: no attempt made (backoff.attempts = {backoff.attempts})")
