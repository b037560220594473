"""The data-quality checks on what merged_jsonl wrote, on small hand-made outputs."""

import json

import pandas as pd
import pytest

from audio_assets.checks import DatasetQuality, SpeakerOutput, evaluate

TOKENS_PER_SECOND = 25.0


def output(tmp_path, rows: list[tuple[str, str, float]], with_loudness: bool = True) -> SpeakerOutput:
    """One speaker whose files (id, transcription, rms_dbfs) are all 2 s long and were all written."""
    listing = pd.DataFrame({"id": [i for i, _, _ in rows], "duration_s": 2.0, "reference_text": None, "error": None})
    transcripts = pd.DataFrame({"id": [i for i, _, _ in rows], "text": [t for _, t, _ in rows]})
    if with_loudness:
        transcripts["rms_dbfs"] = [db for _, _, db in rows]
    jsonl, errors = tmp_path / "s.jsonl", tmp_path / "s.errors.jsonl"
    lines = [{"id": i, "transcription": t, "token_array": [1] * 50} for i, t, _ in rows]
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines))
    errors.write_text("")
    return SpeakerOutput("s", listing, transcripts, jsonl, errors)


def speech_check(tmp_path, rows, **kwargs):
    results = evaluate([output(tmp_path, rows, **kwargs)], DatasetQuality(), TOKENS_PER_SECOND)
    return next(r for r in results if r.check_name == "speech_has_transcript")


def test_silence_may_have_an_empty_transcript(tmp_path):
    check = speech_check(tmp_path, [("s/a.flac", "hello there", -20.0), ("s/quiet.flac", "", -70.0)])
    assert check.passed
    assert check.metadata["speakers"].value == {"s": {"non_silent": 1, "empty_transcripts": 0}}


def test_a_loud_file_without_words_fails(tmp_path):
    check = speech_check(tmp_path, [("s/a.flac", "hello there", -20.0), ("s/loud.flac", " ", -30.0)])
    assert not check.passed
    assert check.metadata["failures"].value == "s: s/loud.flac"


@pytest.mark.parametrize("text", ["hello", ""])
def test_transcriptions_from_before_loudness_fail_the_check_with_the_remedy(tmp_path, text):
    check = speech_check(tmp_path, [("s/a.flac", text, -20.0)], with_loudness=False)
    assert not check.passed
    assert "rematerialise it" in check.metadata["failures"].value
