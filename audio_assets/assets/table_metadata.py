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


FILE_ID = ("string", "<speaker>/<path inside the speaker folder>")


def model_step_schema(result: str, **columns: tuple[str, str]) -> dg.TableSchema:
    """The table of a model step (transcriptions, tokens): the file, the content it was computed from,
    the step's own columns, the settings they were made with, and why a file has no ``result``."""
    return schema(
        id=FILE_ID,
        sha256=("string", "of the content computed from (the listing's)"),
        **columns,
        settings=("string", "fingerprint of the settings; rows are reused only with the same"),
        error=("string", f"why the file has no {result}; empty when it has"),
    )
