"""Per-partition Parquet storage for the speaker-partitioned tables (no pickles).

Assets hand over and receive ``{partition_key: DataFrame}``, whether a run covers one speaker or
many, so asset code has one shape. Each partition is one file,
``<base_dir>/<asset key>/<speaker>.parquet``, written atomically.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from audio_assets.files import atomic_write, safe_file_stem


class SpeakerParquetIOManager(dg.ConfigurableIOManager):
    base_dir: str = Field(description="Folder for the intermediate Parquet tables.")

    def _path(self, asset_key: dg.AssetKey, partition_key: str) -> Path:
        folder = Path(self.base_dir).expanduser().resolve().joinpath(*(safe_file_stem(p) for p in asset_key.path))
        return folder / f"{safe_file_stem(partition_key)}.parquet"

    def handle_output(self, context: dg.OutputContext, obj: dict[str, pd.DataFrame]) -> None:
        expected = set(context.asset_partition_keys)
        if not isinstance(obj, dict) or set(obj) != expected:
            got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise TypeError(
                f"{context.asset_key.to_user_string()} must return {{partition_key: DataFrame}} "
                f"for partitions {sorted(expected)}; got {got}"
            )
        for key, frame in obj.items():
            path = self._path(context.asset_key, key)
            atomic_write(path, lambda f, frame=frame: frame.to_parquet(f, index=False))
        if len(obj) == 1:
            context.add_output_metadata({"parquet": dg.MetadataValue.path(str(path))})

    def previous(self, asset_key: dg.AssetKey, partition_key: str) -> pd.DataFrame | None:
        """The last table stored for a partition, if any: what incremental re-runs reuse."""
        path = self._path(asset_key, partition_key)
        return pd.read_parquet(path) if path.is_file() else None

    def load_input(self, context: dg.InputContext) -> dict[str, pd.DataFrame]:
        frames = {}
        for key in context.asset_partition_keys:
            path = self._path(context.asset_key, key)
            if not path.is_file():
                raise FileNotFoundError(
                    f"{context.asset_key.to_user_string()} partition {key!r} has not been materialised "
                    f"(no {path}); materialise it first"
                )
            frames[key] = pd.read_parquet(path)
        return frames
