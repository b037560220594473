from audio_assets.io.parquet import SpeakerParquetIOManager

__all__ = ["SpeakerParquetIOManager"]
