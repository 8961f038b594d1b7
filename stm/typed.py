"""Strict YAML-to-dataclass loading: unknown keys, wrong types and bad enum values name the field path."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from stm.errors import ConfigError

T = TypeVar("T")

_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if tp in _TYPE_WORDS:
        return _TYPE_WORDS[tp]
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin is list:
        return f"a list of {_describe(get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


def load(tp: Any, value: Any, path: str) -> Any:
    """Convert ``value`` (parsed YAML) to ``tp``, raising ``ConfigError`` that names ``path``."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(args) == 1:
            return load(args[0], value, path)
        raise TypeError(f"unsupported union at {path}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(path, f"got {value!r}, allowed: {', '.join(repr(a) for a in get_args(tp))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(path, f"got {value!r}, expected {_describe(tp)}")
        (item,) = get_args(tp)
        return [load(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, f"got {value!r}, expected a mapping")
        key_tp, val_tp = get_args(tp)
        return {load(key_tp, k, path): load(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return load_dataclass(typing.cast(type, tp), value, path)
    if tp is typing.Any:
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"got {value!r}, expected {_describe(tp)}")
        return float(value)
    if tp in (str, int, bool):
        if type(value) is not tp:
            raise ConfigError(path, f"got {value!r}, expected {_describe(tp)}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {path}")


def load_dataclass(cls: type[T], value: Any, path: str) -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and filling defaults."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(path or "<root>", f"got {value!r}, expected a mapping")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - set(fields))
    if unknown:
        where = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise ConfigError(where, f"unknown key; allowed keys: {', '.join(sorted(fields))}")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        sub = f"{path}.{name}" if path else name
        if name in value:
            kwargs[name] = load(hints[name], value[name], sub)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(sub, "is required")
    return cls(**kwargs)


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``overlay`` merged in: mappings merge key by key, everything else replaces."""
    out = dict(base)
    for key, val in overlay.items():
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], val)
        else:
            out[key] = val
    return out
