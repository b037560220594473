"""Speech engines with no Dagster in them: audio decoding, Whisper backends, the BEST-RQ tokeniser.

The Dagster resources wrap these; the benchmark uses them directly as "the raw engine".
"""
