"""Dagster's table metadata for a speaker's table, so the UI shows its columns and plots its rows."""

import dagster as dg


def table_metadata(rows: int, schema: dg.TableSchema) -> dict[str, dg.MetadataValue]:
    # Each partition is a file of its own (results/{speaker}.jsonl, <asset>/{speaker}.parquet), so the
    # partition's rows are the whole table's.
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/partition_row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
    }


def schema(**columns: tuple[str, str]) -> dg.TableSchema:
    """A schema from ``name=(type, description)``."""
    return dg.TableSchema(columns=[dg.TableColumn(name, t, description=d) for name, (t, d) in columns.items()])
