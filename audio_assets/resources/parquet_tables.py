"""Per-partition Parquet storage for the speaker-partitioned tables (no pickles).

Assets hand over and receive ``{partition_key: DataFrame}`` (``SpeakerListing`` for the listing),
whether a run covers one speaker or many, so asset code has one shape. Each partition is one file,
``<base_dir>/<asset key>/<speaker>.parquet``, written atomically; a listing's folder error is a
field of the Parquet file's own key-value metadata.

While a model step works, it saves each speaker's rows so far as a checkpoint,
``<base_dir>/<asset key>/checkpoints/<speaker>.parquet``. A step that dies before its outputs are
stored (OOM, node loss, kill -9) leaves them behind, and its retry reuses them like the rows of the
last stored table; storing the partition's table removes its checkpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from audio_assets.files import atomic_write, safe_file_stem
from audio_assets.resources.audio_library import SpeakerListing

LISTING_KEY = b"audio_assets.listing"  # present (with the folder error, or empty) on SpeakerListing files
CHECKPOINTS = "checkpoints"  # a folder: partition files are named <stem>.parquet, so no key can clash with it


@dataclass(frozen=True)
class Checkpoint:
    """How a model step saves a speaker's rows so far: ``save(speaker, table)``, at most every
    ``every_seconds`` (0: after every batch)."""

    save: Callable[[str, pd.DataFrame], None]
    every_seconds: float


@dataclass(frozen=True)
class SavedRows:
    """What a model step starts from: per speaker the rows it may reuse (``previous``: the stored table's,
    then a checkpoint's), and the ``checkpoint`` it saves its own rows to on the way (None: no saving)."""

    previous: dict[str, pd.DataFrame | None]
    checkpoint: Checkpoint | None = None


def _write(table: pd.DataFrame | SpeakerListing, f) -> None:
    if isinstance(table, SpeakerListing):
        arrow = pa.Table.from_pandas(table.files, preserve_index=False)
        marker = {LISTING_KEY: (table.folder_error or "").encode("utf-8")}
        pq.write_table(arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **marker}), f)
    else:
        table.to_parquet(f, index=False)


def _read(path: Path) -> pd.DataFrame | SpeakerListing:
    frame = pd.read_parquet(path)
    metadata = pq.read_schema(path).metadata or {}
    if LISTING_KEY in metadata:
        return SpeakerListing(frame, metadata[LISTING_KEY].decode("utf-8") or None)
    return frame


class SpeakerParquetIOManager(dg.ConfigurableIOManager):
    base_dir: str = Field(description="Folder for the intermediate Parquet tables.")
    checkpoint_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How often a model step saves the rows it has computed so far, so that a step that "
        "dies (OOM, node loss, kill -9) does not compute them again when it is retried. 0: after every batch.",
    )

    def _path(self, asset_key: dg.AssetKey, partition_key: str) -> Path:
        folder = Path(self.base_dir).expanduser().resolve().joinpath(*(safe_file_stem(p) for p in asset_key.path))
        return folder / f"{safe_file_stem(partition_key)}.parquet"

    def checkpoint_path(self, asset_key: dg.AssetKey, partition_key: str) -> Path:
        path = self._path(asset_key, partition_key)
        return path.parent / CHECKPOINTS / path.name

    def _save_checkpoint(self, asset_key: dg.AssetKey, partition_key: str, table: pd.DataFrame) -> None:
        atomic_write(self.checkpoint_path(asset_key, partition_key), lambda f: table.to_parquet(f, index=False))

    def handle_output(self, context: dg.OutputContext, obj: dict[str, pd.DataFrame | SpeakerListing]) -> None:
        expected = set(context.asset_partition_keys)
        if not isinstance(obj, dict) or set(obj) != expected:
            got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise TypeError(
                f"{context.asset_key.to_user_string()} must return {{partition_key: DataFrame}} "
                f"for partitions {sorted(expected)}; got {got}"
            )
        for key, frame in obj.items():
            path = self._path(context.asset_key, key)
            atomic_write(path, lambda f, frame=frame: _write(frame, f))
            self.checkpoint_path(context.asset_key, key).unlink(missing_ok=True)  # its rows are in the table now
        if len(obj) == 1:
            context.add_output_metadata({"parquet": dg.MetadataValue.path(str(path))})

    def _previous(self, asset_key: dg.AssetKey, partition_key: str) -> pd.DataFrame | None:
        """The rows a model step can reuse for a partition, if any: the last stored table's, then those of
        a checkpoint that a step which did not finish left behind."""
        paths = (self._path(asset_key, partition_key), self.checkpoint_path(asset_key, partition_key))
        frames = [pd.read_parquet(path) for path in paths if path.is_file()]
        # only the columns both have: a table from a version without a column must not pass for one with it
        return pd.concat(frames, ignore_index=True, join="inner") if frames else None

    def saved_rows(self, asset_key: dg.AssetKey, partition_keys: Iterable[str]) -> SavedRows:
        """What a model step of ``asset_key`` over these partitions can reuse, and where and how often it
        saves its rows so far."""
        return SavedRows(
            {key: self._previous(asset_key, key) for key in partition_keys},
            Checkpoint(functools.partial(self._save_checkpoint, asset_key), self.checkpoint_seconds),
        )

    def load_input(self, context: dg.InputContext) -> dict[str, pd.DataFrame | SpeakerListing]:
        frames = {}
        for key in context.asset_partition_keys:
            path = self._path(context.asset_key, key)
            if not path.is_file():
                raise FileNotFoundError(
                    f"{context.asset_key.to_user_string()} partition {key!r} has not been materialised "
                    f"(no {path}); materialise it first"
                )
            frames[key] = _read(path)
        return frames
