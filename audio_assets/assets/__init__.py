from audio_assets.assets.audio_files import audio_files
from audio_assets.assets.merged import merged_jsonl
from audio_assets.assets.tokens import tokens
from audio_assets.assets.transcriptions import transcriptions

__all__ = ["audio_files", "merged_jsonl", "tokens", "transcriptions"]
