"""One provider's share through the official ``delta-sharing`` client: tables, versions, metadata, rows, changes."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# Spark-free: Delta's schema string as Arrow, for the rows the client returns as pandas
from deltalake import Schema

from stm.sharing.hub_changes import CHANGE_TYPE


@dataclass(frozen=True)
class TableMeta:
    """A shared table's latest version, Delta schema string and size in bytes (when the provider says)."""

    version: int
    schema_string: str
    size: int | None


class ProviderReader:
    """The official client's REST client and reader for one provider profile (few retries: fail fast)."""

    def __init__(self, profile: str, retries: int) -> None:
        from delta_sharing.protocol import DeltaSharingProfile
        from delta_sharing.rest_client import DataSharingRestClient

        self.client = DataSharingRestClient(DeltaSharingProfile.read_from_file(profile), num_retries=retries)

    def tables(self, share: str) -> list[str]:
        from delta_sharing.protocol import Share

        names: list[str] = []
        token: str | None = None
        while True:
            resp = self.client.list_all_tables(Share(share), page_token=token)
            names += [t.name for t in resp.tables]
            token = resp.next_page_token
            if not token:
                return names

    def version(self, share: str, schema: str, table: str) -> int:
        from delta_sharing.protocol import Table

        return int(self.client.query_table_version(Table(table, share, schema)).delta_table_version)

    def metadata(self, share: str, schema: str, table: str) -> TableMeta:
        from delta_sharing.protocol import Table

        resp = self.client.query_table_metadata(Table(table, share, schema))
        size = resp.metadata.size
        return TableMeta(int(resp.delta_table_version), str(resp.metadata.schema_string), size)

    def change_bytes(self, share: str, schema: str, table: str, start: int, end: int) -> int:
        """The size of the files the changes feed of versions ``start`` to ``end`` lists (none is read)."""
        from delta_sharing.protocol import CdfOptions, Table

        options = CdfOptions(starting_version=start, ending_version=end)
        return sum(a.size for a in self.client.list_table_changes(Table(table, share, schema), options).actions)

    def load(self, share: str, schema: str, table: str, version: int, schema_string: str) -> pa.Table:
        from delta_sharing.protocol import Table
        from delta_sharing.reader import DeltaSharingReader

        t = Table(table, share, schema)
        pdf = DeltaSharingReader(t, self.client, version=version, use_delta_format=False).to_pandas()
        return pa.Table.from_pandas(pdf, schema=arrow_schema(schema_string), preserve_index=False)

    def changes(self, share: str, schema: str, table: str, start: int, end: int, schema_string: str) -> pa.Table:
        """Rows changed by versions ``start`` to ``end``: the table's columns and ``_change_type``."""
        from delta_sharing.protocol import CdfOptions, Table
        from delta_sharing.reader import DeltaSharingReader

        reader = DeltaSharingReader(Table(table, share, schema), self.client, use_delta_format=False)
        pdf = reader.table_changes_to_pandas(CdfOptions(starting_version=start, ending_version=end))
        with_type = arrow_schema(schema_string).append(pa.field(CHANGE_TYPE, pa.string()))
        return pa.Table.from_pandas(pdf[with_type.names], schema=with_type, preserve_index=False)

    def close(self) -> None:
        self.client.close()


def arrow_schema(schema_string: str) -> pa.Schema:
    return pa.schema(Schema.from_json(schema_string).to_arrow())
