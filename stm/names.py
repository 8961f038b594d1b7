"""Validation and quoting of every name that reaches SQL or a file path."""

from __future__ import annotations

import re

from stm.errors import ConfigError, InvalidIdentifier

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
ALLOWED = "letters, digits and underscores, starting with a letter or underscore, at most 255 characters"
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # account and workspace labels of targets and providers


def check_identifier(name: object, what: str = "name") -> str:
    """Return ``name`` if it is a plain identifier, else raise ``InvalidIdentifier`` naming ``what``."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise InvalidIdentifier(f"invalid {what} {name!r}: use {ALLOWED}")
    return name


def config_identifier(value: str, path: str) -> None:
    """A configured name that reaches SQL: a plain identifier, else ``ConfigError`` at ``path``."""
    try:
        check_identifier(value)
    except InvalidIdentifier as exc:
        raise ConfigError(path, str(exc)) from None


def config_label(value: str, path: str) -> None:
    """An account or workspace label: letters, digits, '_', '-' or '.', else ``ConfigError`` at ``path``."""
    if not LABEL_RE.match(value):
        raise ConfigError(path, "use letters, digits, '_', '-' or '.' (at most 100 characters)")


def quote(name: str) -> str:
    """Quote one validated identifier for Databricks SQL."""
    return "`" + check_identifier(name).replace("`", "``") + "`"


def split_table_name(full_name: object, what: str = "table name") -> tuple[str, str, str]:
    """Split and validate ``catalog.schema.table``."""
    if not isinstance(full_name, str):
        raise InvalidIdentifier(f"invalid {what} {full_name!r}: expected catalog.schema.table")
    parts = full_name.split(".")
    if len(parts) != 3:
        raise InvalidIdentifier(f"invalid {what} {full_name!r}: expected catalog.schema.table")
    catalog, schema, table = (check_identifier(p, what) for p in parts)
    return catalog, schema, table


def quote_table(full_name: str) -> str:
    """Quote ``catalog.schema.table`` part by part."""
    return ".".join(quote(p) for p in split_table_name(full_name))


def sql_string(value: str) -> str:
    """A SQL string literal that reads the same in Spark SQL and Databricks SQL (backslash escapes are on in both)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_literal(value: object) -> str:
    """A Spark SQL literal for a value read back from a table: NULL, a boolean, a number, a date, a timestamp or a
    string. PySpark returns a timestamp as a naive datetime in this process's time zone, which ``timestamp()``
    reads the same way, so the literal names the same instant whatever the session's time zone."""
    import datetime
    from decimal import Decimal

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"no SQL literal for {value!r}")
        return f"CAST({sql_string(str(value))} AS {'DOUBLE' if isinstance(value, float) else 'DECIMAL(38,18)'})"
    if isinstance(value, datetime.datetime):
        micros = int(value.replace(microsecond=0).timestamp()) * 1_000_000 + value.microsecond
        return f"timestamp_micros({micros})"
    if isinstance(value, datetime.date):
        return f"DATE {sql_string(value.isoformat())}"
    if isinstance(value, str):
        return sql_string(value)
    raise ValueError(f"no SQL literal for a {type(value).__name__}")
