"""audio_assets: folders of speech recordings → Whisper transcriptions + discrete audio tokens, as Dagster assets."""
