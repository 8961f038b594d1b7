"""Masked copies of data files, served by shares with ``mask_personal_data: true``.

Personal data is replaced with a keyed hash before a file leaves the provider. A string value is personal when

- its column or struct field is named as personal: the name contains ``email`` or ``ip_address``, or is one of
  ``stm.sharing.personal.PERSONAL_COLUMNS``, or it sits in a ``user_identity`` struct (``user_identity.email``);
- it is the value of a map entry whose key is named so (``request_params['user_email']``), or an element of an
  array named so;
- or the value itself is an email or IP address, wherever it is: top level, struct field, map value or array
  element (``custom_tags['owner'] = 'ann@example.com'``, ``request_params['sourceIp'] = '10.0.0.1'``).

Map keys and every other value are left as they are. The key is the lake's own (``DIR/_sharing/mask.key``, 0600),
so a value masks the same way in every table, column and sync (joins still work) while a recipient cannot reverse
it by hashing guesses. The rule and the hash live in ``stm.sharing.personal``; a Databricks provider applies the
same rule in the masked views it shares (``deploy.masked_sql``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stm.sharing.files import lake_key
from stm.sharing.personal import PERSONAL_VALUE, is_personal, mask_value

# part of a masked copy's name: copies made under older rules are not served after the rules change
MASK_RULES_VERSION = "2"


class Masker:
    """Writes masked copies of data files under ``DIR/_sharing/masked`` and returns their paths."""

    def __init__(self, sharing_dir: Path) -> None:
        self.dir = sharing_dir / "masked"
        self._key_file = sharing_dir / "mask.key"
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            self._key = lake_key(self._key_file)
        return self._key

    def mask_value(self, value: str) -> str:
        return mask_value(self.key(), value)

    def _mask_strings(self, arr: pa.Array, forced: pa.Array | bool) -> pa.Array:
        """``arr`` (strings) with the values that are personal, or ``forced``, replaced by their masks."""
        arr = arr.cast(pa.string())
        wanted = pc.fill_null(pc.or_(pc.match_substring_regex(arr, PERSONAL_VALUE), forced), False)
        if not pc.any(wanted).as_py():
            return arr
        values = arr.to_pylist()
        for i, want in enumerate(wanted.to_pylist()):
            if want:
                values[i] = self.mask_value(values[i])
        return pa.array(values, type=pa.string())

    def _mask_array(self, arr: pa.Array, name: str, parent: str, forced: pa.Array | None = None) -> pa.Array:
        """``arr`` with personal strings masked at any depth; ``forced``: entries personal by their map key."""
        t = arr.type
        if pa.types.is_struct(t):
            children = [self._mask_array(arr.field(i), t.field(i).name, name) for i in range(t.num_fields)]
            fields = [pa.field(f.name, c.type, f.nullable, f.metadata) for f, c in zip(t, children, strict=True)]
            return pa.StructArray.from_arrays(children, fields=fields, mask=pc.is_null(arr))
        if pa.types.is_map(t):
            keys = arr.keys
            named = [k for k in pc.unique(keys).to_pylist() if k is not None and is_personal(str(k))]
            by_key = pc.is_in(keys, value_set=pa.array(named, keys.type))
            items = self._mask_array(arr.items, name, parent, by_key)
            item = pa.field(t.item_field.name, items.type, t.item_field.nullable)
            map_type = pa.map_(t.key_field, item, t.keys_sorted)
            return pa.MapArray.from_arrays(arr.offsets, keys, items, type=map_type, mask=pc.is_null(arr))
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            values = self._mask_array(arr.values, name, parent)
            element = pa.field(t.value_field.name, values.type, t.value_field.nullable)
            list_type = pa.large_list(element) if pa.types.is_large_list(t) else pa.list_(element)
            return type(arr).from_arrays(arr.offsets, values, type=list_type, mask=pc.is_null(arr))
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            by_name = is_personal(name, parent)
            return self._mask_strings(arr, by_name if forced is None else pc.or_(forced, by_name))
        return arr

    def mask_table(self, table: pa.Table) -> pa.Table:
        arrays = [self._mask_array(table.column(i).combine_chunks(), f.name, "") for i, f in enumerate(table.schema)]
        fields = [pa.field(f.name, a.type, f.nullable, f.metadata) for f, a in zip(table.schema, arrays, strict=True)]
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def masked_file(self, source: Path) -> Path:
        """The masked copy of ``source`` (made once; data files are immutable)."""
        digest = hashlib.sha256(f"{MASK_RULES_VERSION}:{source}".encode()).hexdigest()[:40]
        target = self.dir / f"{digest}.parquet"
        if not target.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            table = pq.read_table(source, use_threads=False)
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
            pq.write_table(self.mask_table(table), tmp)
            os.replace(tmp, target)
        return target
