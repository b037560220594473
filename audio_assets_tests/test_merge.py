"""merge_speaker: every listed file lands in exactly one of the JSONL or the error records, with its reason."""

import pandas as pd
import pytest

from audio_assets.assets.merged import merge_speaker

pytestmark = pytest.mark.fast


def test_each_listed_file_is_a_line_or_an_error_with_every_reason():
    listing = pd.DataFrame(
        {
            "id": ["s/e.flac", "s/a.flac", "s/b.flac", "s/c.flac", "s/d.flac"],
            "sha256": ["he", "ha", "hb", "hc", "hd"],
            "error": [None, None, "unreadable audio: x", None, None],
        }
    )
    transcripts = pd.DataFrame(
        {
            "id": ["s/a.flac", "s/c.flac", "s/d.flac", "s/e.flac"],
            "sha256": ["ha", "hc", "old", "he"],
            "text": ["hello", None, "stale", "fine"],
            "error": [None, "RuntimeError: boom", None, None],
        }
    )
    tokens = pd.DataFrame(
        {
            "id": ["s/a.flac", "s/c.flac", "s/d.flac"],
            "sha256": ["ha", "hc", "hd"],
            "token_ids": [[1, 2], [3], [4]],
            "error": [None, None, None],
        }
    )
    records, errors = merge_speaker(listing, transcripts, tokens)
    assert records == [{"id": "s/a.flac", "transcription": "hello", "token_array": [1, 2]}]
    assert errors == [
        {"id": "s/b.flac", "error": "unreadable audio: x"},
        {"id": "s/c.flac", "error": "transcriptions: RuntimeError: boom"},
        {"id": "s/d.flac", "error": "transcriptions: computed from another version of the file; rematerialise"},
        {"id": "s/e.flac", "error": "tokens: no row for this file"},
    ]


def test_a_table_with_two_rows_for_one_file_is_refused():
    listing = pd.DataFrame({"id": ["s/a.flac"], "sha256": ["ha"], "error": [None]})
    rows = pd.DataFrame({"id": ["s/a.flac"] * 2, "sha256": ["ha"] * 2, "text": ["x", "y"], "error": [None, None]})
    tokens = pd.DataFrame({"id": ["s/a.flac"], "sha256": ["ha"], "token_ids": [[1]], "error": [None]})
    with pytest.raises(ValueError, match="transcriptions: more than one row"):
        merge_speaker(listing, rows, tokens)
