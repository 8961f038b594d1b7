"""Keeping a session-wide idempotency marker invisible to every other write on that session.

Delta's MERGE takes its ``txnAppId``/``txnVersion`` from the session's SQL conf (DataFrame writes take them as
writer options, and fall back to the session conf when they have none). While a MERGE's marker is set, no other
write may run on that session, or it would commit under the MERGE's marker, and a later replay of that marker
would skip it. A store bound to a session holds one ``WriteGuard``: writes take it shared, a MERGE with a marker
takes it alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class WriteGuard:
    """A readers-writer lock: many ``shared`` holders at once, or one ``exclusive`` holder."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
