"""The masked views a provider shares when its share has ``mask_personal_data: true`` (pure: text in, text out).

The same rule as the local sharing endpoint (``stm.sharing.personal``, applied over Arrow by
``stm.sharing.masking``): a string is replaced by ``masked:`` and the first 24 hex digits of its HMAC-SHA256 when its
column, struct field or map key is named as personal, or when the value itself is an email or IP address, at any
depth of structs, maps and arrays. Map keys and other types are left as they are.

Databricks SQL has ``sha2`` but no HMAC, so the view computes ``sha2(opad || unhex(sha2(ipad || value)))`` with the
key's inner and outer pads (RFC 2104) read from a one-row key table in the provider's schema. The key never appears
in a view's text, a plan or a log: deploy draws it once and sends it as statement parameters; the key table is not
shared, and a view over an empty key table returns no rows.
"""

from __future__ import annotations

from typing import Any

from deploy.hub_sql import literal
from stm.errors import InvalidIdentifier
from stm.names import quote
from stm.sharing.personal import (
    MASK_HEX_CHARS,
    MASK_PREFIX,
    NAME_PARTS,
    PERSONAL_COLUMNS,
    PERSONAL_VALUE,
    is_personal,
)

KEY_TABLE = "stm_mask_key"
VIEW_PREFIX = "stm_masked_"
KEY = "_stm_mask_key"  # the key table's alias inside a view


def view_name(table: str) -> str:
    return VIEW_PREFIX + table


def _mask(expr: str) -> str:
    inner = f"sha2(concat({KEY}.ipad, encode({expr}, 'UTF-8')), 256)"
    return f"concat({literal(MASK_PREFIX)}, substr(sha2(concat({KEY}.opad, unhex({inner})), 256), 1, {MASK_HEX_CHARS}))"


def _personal_name(expr: str) -> str:
    """SQL: the string ``expr`` (a map key) is named as personal (``stm.sharing.personal.is_personal``)."""
    lowered = f"lower({expr})"
    parts = " OR ".join(f"{lowered} LIKE {literal('%' + p + '%')}" for p in NAME_PARTS)
    names = ", ".join(literal(n) for n in sorted(PERSONAL_COLUMNS))
    return f"({parts} OR {lowered} IN ({names}))"


def _is_string(t: Any) -> bool:
    return isinstance(t, str) and (t == "string" or t.startswith(("varchar(", "char(")))


def _masked(expr: str, t: Any, name: str, parent: str, forced: str | None, depth: int) -> str | None:
    """``expr`` (of Spark JSON type ``t``) with its personal strings masked; None when nothing in it can be."""
    if _is_string(t):
        if is_personal(name, parent):
            return _mask(expr)
        cond = f"{expr} RLIKE {literal(PERSONAL_VALUE)}"
        if forced:
            cond = f"{forced} OR {cond}"
        return f"CASE WHEN {cond} THEN {_mask(expr)} ELSE {expr} END"
    if not isinstance(t, dict):
        return None
    kind = t.get("type")
    if kind == "struct":
        fields = [(f["name"], f["type"]) for f in t.get("fields", [])]
        children = [(n, _masked(f"{expr}.{quote(n)}", ft, n, name, None, depth)) for n, ft in fields]
        if all(c is None for _, c in children):
            return None
        items = ", ".join(f"{literal(n)}, {c if c is not None else f'{expr}.{quote(n)}'}" for n, c in children)
        return f"CASE WHEN {expr} IS NULL THEN NULL ELSE named_struct({items}) END"
    if kind == "map":
        k, v = f"_stm_k{depth}", f"_stm_v{depth}"
        key = k if _is_string(t.get("keyType")) else f"CAST({k} AS STRING)"
        value = _masked(v, t.get("valueType"), name, parent, _personal_name(key), depth + 1)
        return None if value is None else f"transform_values({expr}, ({k}, {v}) -> {value})"
    if kind == "array":
        x = f"_stm_x{depth}"
        element = _masked(x, t.get("elementType"), name, parent, None, depth + 1)
        return None if element is None else f"transform({expr}, {x} -> {element})"
    return None


def masked_select(catalog: str, schema: str, table: str, fields: list[dict[str, Any]]) -> str:
    """The masked view's SELECT over ``table``; ``fields``: its columns as Spark JSON struct fields, in order."""
    if not fields:
        raise InvalidIdentifier(f"table {catalog}.{schema}.{table} has no columns to share")
    items = []
    for f in fields:
        name = f.get("name")
        column = quote(name if isinstance(name, str) else "")
        masked = _masked(f"t.{column}", f.get("type"), str(name), "", None, 0)
        items.append(column if masked is None else f"{masked} AS {column}")
    ns = f"{quote(catalog)}.{quote(schema)}"
    select = ",\n  ".join(items)
    return f"SELECT\n  {select}\nFROM {ns}.{quote(table)} AS t\nCROSS JOIN {ns}.{quote(KEY_TABLE)} AS {KEY}"


def key_table_sql(catalog: str, schema: str, comment: str) -> tuple[str, str]:
    """``(CREATE TABLE, INSERT)``: the one-row key table; the INSERT takes ``:ipad`` and ``:opad`` (hex) as
    parameters and adds nothing when a key is there (the key is drawn once: a new one would change every mask)."""
    name = f"{quote(catalog)}.{quote(schema)}.{quote(KEY_TABLE)}"
    columns = "(ipad BINARY NOT NULL, opad BINARY NOT NULL)"
    create = f"CREATE TABLE IF NOT EXISTS {name} {columns}\nUSING DELTA\nCOMMENT {literal(comment)}"
    insert = f"INSERT INTO {name}\nSELECT unhex(:ipad), unhex(:opad)\nWHERE NOT EXISTS (SELECT 1 FROM {name})"
    return create, insert
