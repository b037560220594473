"""The per-partition Parquet IO manager: tables and listings round-trip, a listing's folder error with it."""

import dagster as dg
import pandas as pd
import pytest

from audio_assets.resources import SpeakerListing, SpeakerParquetIOManager

pytestmark = pytest.mark.fast


def roundtrip(tmp_path, asset: str, obj: dict):
    manager = SpeakerParquetIOManager(base_dir=str(tmp_path))
    partitions = dg.DynamicPartitionsDefinition(name="speakers")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("speakers", sorted(obj))
    keys = dg.PartitionKeyRange(min(obj), max(obj))
    out = dg.build_output_context(
        asset_key=dg.AssetKey(asset), partition_key=None, asset_partitions_def=partitions,
        asset_partition_key_range=keys, instance=instance,
    )  # fmt: skip
    manager.handle_output(out, obj)
    into = dg.build_input_context(
        asset_key=dg.AssetKey(asset), asset_partitions_def=partitions, asset_partition_key_range=keys,
        instance=instance,
    )  # fmt: skip
    return manager.load_input(into)


def test_a_listing_keeps_its_folder_error_and_a_table_stays_a_table(tmp_path):
    files = pd.DataFrame({"id": ["a/1.flac"], "size_bytes": pd.array([10], dtype="Int64"), "error": [None]})
    listings = {"a": SpeakerListing(files), "b": SpeakerListing(files.iloc[:0], folder_error="gone")}
    back = roundtrip(tmp_path, "audio_files", listings)
    assert back["a"].folder_error is None and back["b"].folder_error == "gone"
    pd.testing.assert_frame_equal(back["a"].files, files)
    assert back["b"].files.empty and list(back["b"].files.columns) == list(files.columns)

    table = pd.DataFrame({"id": ["a/1.flac"], "text": ["hello"]})
    assert roundtrip(tmp_path, "transcriptions", {"a": table})["a"].equals(table)


def test_a_checkpoint_adds_its_rows_to_the_previous_table_until_the_table_is_stored(tmp_path):
    manager = SpeakerParquetIOManager(base_dir=str(tmp_path), checkpoint_seconds=5)
    key = dg.AssetKey("transcriptions")

    def previous(speaker, asset_key=key):
        return manager.saved_rows(asset_key, [speaker]).previous[speaker]

    stored = pd.DataFrame({"id": ["a/1.flac"], "sha256": ["s1"], "text": ["old"], "settings": ["v1"], "error": [None]})
    roundtrip(tmp_path, "transcriptions", {"a": stored})
    saved = pd.DataFrame({"id": ["a/2.flac"], "sha256": ["s2"], "text": ["new"], "settings": ["v1"], "error": [None]})
    checkpoint = manager.saved_rows(key, ["a"]).checkpoint
    assert checkpoint.every_seconds == 5
    checkpoint.save("a", saved)
    assert manager.checkpoint_path(key, "a") == tmp_path / "transcriptions" / "checkpoints" / "a.parquet"
    assert list(previous("a")["text"]) == ["old", "new"]
    assert previous("a", dg.AssetKey("tokens")) is None  # per asset
    assert previous("c") is None

    roundtrip(tmp_path, "transcriptions", {"a": pd.concat([stored, saved], ignore_index=True)})
    assert not manager.checkpoint_path(key, "a").exists()  # its rows are in the stored table now
    assert list(previous("a")["text"]) == ["old", "new"]

    roundtrip(tmp_path, "transcriptions", {"b": stored.drop(columns="text")})  # made by a version without it
    checkpoint.save("b", saved)
    assert "text" not in previous("b").columns  # so none of its rows passes for one with a text
