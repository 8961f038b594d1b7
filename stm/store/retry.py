"""Retrying a write whose commit lost to a concurrent one (OPTIMIZE while a stream MERGEs, two writers).

``Backoff`` is ``stm.retry``'s, re-exported for the store's callers.

Safe because every write here is idempotent: keyed MERGEs, replaced date ranges, transaction ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from stm.errors import JobFailed
from stm.retry import Backoff as Backoff
from stm.retry import retry

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


DEFAULT_BACKOFF = Backoff()


def is_commit_conflict(exc: BaseException) -> bool:
    """True for a commit refused because a concurrent transaction won: rerunning the operation is safe. A conflict
    already retried to its bound (``JobFailed``) is final: an enclosing retry does not multiply the attempts."""
    if isinstance(exc, JobFailed):
        return False
    if {cls.__name__ for cls in type(exc).__mro__} & CONFLICT_TYPES:
        return True
    return any(marker in str(exc) for marker in CONFLICT_ERROR_CLASSES)


def retry_on_conflict(what: str, fn: Callable[[], T], backoff: Backoff = DEFAULT_BACKOFF) -> T:
    """Run ``fn``; while its commit conflicts with a concurrent one, log, wait and run it again (bounded)."""

    def give_up(exc: BaseException, attempts: int) -> JobFailed:
        reason = str(exc).splitlines()[0][:200]
        return JobFailed(f"{what}: commit still conflicting after {attempts} attempts: {reason}")

    return retry(f"{what}: commit conflicted with a concurrent one", fn, is_commit_conflict, backoff, give_up)
