from audio_assets.resources.audio_library import AudioFile, AudioLibrary, SpeakerListing
from audio_assets.resources.parquet_tables import Checkpoint, SavedRows, SpeakerParquetIOManager
from audio_assets.resources.results import ResultsFolder
from audio_assets.resources.tokenizer import AudioTokenizer, TokenShape
from audio_assets.resources.whisper import WhisperResource

__all__ = [
    "AudioFile",
    "AudioLibrary",
    "AudioTokenizer",
    "Checkpoint",
    "ResultsFolder",
    "SavedRows",
    "SpeakerListing",
    "SpeakerParquetIOManager",
    "TokenShape",
    "WhisperResource",
]
