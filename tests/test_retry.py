"""The one retry loop (stm.retry) shared by the store's commit conflicts and the deploy's transient API errors."""

from __future__ import annotations

import pytest

from stm.retry import Backoff, retry


class Passing(Exception):
    pass


def _failing(times: int, error: Exception):
    calls = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return fn, calls


def test_a_passing_error_is_retried_after_growing_capped_waits_then_the_result_returns():
    waits: list[float] = []
    fn, calls = _failing(3, Passing("busy"))
    backoff = Backoff(attempts=5, first_seconds=1, max_seconds=3, sleep=waits.append)
    assert retry("op", fn, lambda e: isinstance(e, Passing), backoff) == "done"
    assert waits == [1, 2, 3] and len(calls) == 4


def test_other_errors_are_raised_at_once_and_the_last_passing_one_as_is_or_as_given_up():
    waits: list[float] = []
    fn, calls = _failing(9, ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        retry("op", fn, lambda e: isinstance(e, Passing), Backoff(sleep=waits.append))
    assert len(calls) == 1 and waits == []
    fn, calls = _failing(9, Passing("busy"))
    with pytest.raises(Passing):
        retry("op", fn, lambda e: isinstance(e, Passing), Backoff(attempts=3, sleep=waits.append))
    assert len(calls) == 3
    with pytest.raises(RuntimeError, match="gave up after 2") as err:
        retry(
            "op",
            fn,
            lambda e: True,
            Backoff(attempts=2, sleep=waits.append),
            lambda e, n: RuntimeError(f"gave up after {n}"),
        )
    assert isinstance(err.value.__cause__, Passing)
