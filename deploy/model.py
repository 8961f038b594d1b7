"""The plan: one action per object (create / update / unchanged / delete / skip), rendered as a readable diff."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from databricks.sdk.service import sharing

PRODUCT = "system-tables-monitor"
MARKER = f"managed by {PRODUCT}"


class Change(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DELETE = "delete"
    SKIP = "skip"


_SYMBOL = {Change.CREATE: "+", Change.UPDATE: "~", Change.UNCHANGED: "=", Change.DELETE: "-", Change.SKIP: "!"}


@dataclass(frozen=True)
class Action:
    """One object and what apply would do to it; ``payload`` is what the executor needs to do it."""

    kind: str
    name: str
    change: Change
    detail: str = ""
    payload: object = field(default=None, compare=False, repr=False)
    privilege: str = ""
    # a failed soft action is reported but does not stop the ones after it
    soft: bool = False


P = TypeVar("P")


def payload_of(action: Action, kind: type[P]) -> P:
    """``action``'s payload, which must be a ``kind``: each action kind and change carries one payload type."""
    if not isinstance(action.payload, kind):
        got = type(action.payload).__name__
        raise TypeError(f"{action.change.value} {action.kind} {action.name}: payload {got}, expected {kind.__name__}")
    return action.payload


@dataclass(frozen=True)
class Plan:
    target: str
    role: str
    where: str
    actions: list[Action]

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.change in (Change.CREATE, Change.UPDATE, Change.DELETE)]

    def render(self) -> str:
        lines = [f"Plan for target {self.target} ({self.role}, {self.where}):"]
        kind_width = max((len(a.kind) for a in self.actions), default=4)
        for a in self.actions:
            detail = f"  ({a.detail})" if a.detail else ""
            lines.append(f"  {_SYMBOL[a.change]} {a.change.value:<9} {a.kind:<{kind_width}}  {a.name}{detail}")
        counts = Counter(a.change for a in self.actions)
        lines.append(
            f"{counts[Change.CREATE]} to create, {counts[Change.UPDATE]} to update, {counts[Change.DELETE]} to delete, "
            f"{counts[Change.UNCHANGED]} unchanged, {counts[Change.SKIP]} skipped"
        )
        return "\n".join(lines)


def history_status(with_history: bool) -> sharing.SharedDataObjectHistoryDataSharingStatus:
    """How a shared table's history is shared: WITH HISTORY allows version reads and the changes feed."""
    status = sharing.SharedDataObjectHistoryDataSharingStatus
    return status.ENABLED if with_history else status.DISABLED


def marker(target: str, digest: str | None = None) -> str:
    """The comment that marks an object as ours (and, for views, what it was built from)."""
    text = f"{MARKER} (target {target})"
    return f"{text} digest={digest}" if digest else text


def is_ours(comment: str | None) -> bool:
    return bool(comment) and MARKER in str(comment)


def is_ours_for(comment: str | None, target: str) -> bool:
    """Made by deploy for ``target`` (its marker, with or without a digest)."""
    return bool(comment) and marker(target) in str(comment)


def digest(value: Any) -> str:
    """A short stable digest of JSON-able data or text."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def is_subset(desired: Any, current: Any) -> bool:
    """True if every value we set is present in ``current`` (the server may add defaults of its own)."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(is_subset(v, current.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(desired) == len(current)
            and all(is_subset(d, c) for d, c in zip(desired, current, strict=True))
        )
    return bool(desired == current)
