"""The one job that materialises a speaker end to end; sensors and the CLI launch it."""

import dagster as dg

process_speakers = dg.define_asset_job(
    "process_speakers",
    selection=dg.AssetSelection.groups("speech_dataset"),
    description="List, transcribe ∥ tokenise, and merge the selected speaker folders.",
)
