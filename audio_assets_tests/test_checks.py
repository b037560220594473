"""The data-quality checks on what merged_jsonl wrote, on small hand-made outputs: one verdict per check
and speaker, failures named file by file, figures as numbers."""

import json

import dagster as dg
import pandas as pd
import pytest

from audio_assets.checks import CHECK_SPECS, DatasetQuality, SpeakerOutput, check_evaluation, evaluate_speaker
from audio_assets.resources import AudioTokenizer, TokenShape

pytestmark = pytest.mark.fast

BESTRQ = AudioTokenizer().shape()  # 25 ids/s from 8,192 codes
ENCODEC_6KBPS = TokenShape("encodec", 600.0, 8, 1024, "interleaved")  # 75 frames/s × 8 codebooks


def output(
    tmp_path, rows: list[tuple[str, str, float]], with_loudness: bool = True, extra_listed=(), tokens=(1,) * 50
) -> SpeakerOutput:
    """One speaker whose files (id, transcription, rms_dbfs) are all 2 s long and were all written, each
    with ``tokens`` as its token_array."""
    ids = [i for i, _, _ in rows] + list(extra_listed)
    listing = pd.DataFrame({"id": ids, "duration_s": 2.0, "reference_text": None, "error": None})
    transcripts = pd.DataFrame({"id": [i for i, _, _ in rows], "text": [t for _, t, _ in rows]})
    if with_loudness:
        transcripts["rms_dbfs"] = [db for _, _, db in rows]
    jsonl, errors = tmp_path / "s.jsonl", tmp_path / "s.errors.jsonl"
    lines = [{"id": i, "transcription": t, "token_array": list(tokens)} for i, t, _ in rows]
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines))
    errors.write_text("")
    return SpeakerOutput("s", listing, transcripts, jsonl, errors)


def verdicts(out: SpeakerOutput):
    return evaluate_speaker(out, DatasetQuality(), BESTRQ)


def test_silence_may_have_an_empty_transcript(tmp_path):
    check = verdicts(output(tmp_path, [("s/a.flac", "hello there", -20.0), ("s/quiet.flac", "", -70.0)]))
    assert check["speech_has_transcript"].passed
    assert check["speech_has_transcript"].figures == {"non_silent": 1, "empty_transcripts": 0}


def test_a_loud_file_without_words_fails_and_is_named(tmp_path):
    check = verdicts(output(tmp_path, [("s/a.flac", "hello there", -20.0), ("s/loud.flac", " ", -30.0)]))
    assert check["speech_has_transcript"].failures == [("s/loud.flac", "empty transcription at -30.0 dBFS")]


@pytest.mark.parametrize("text", ["hello", ""])
def test_transcriptions_from_before_loudness_fail_the_check_with_the_remedy(tmp_path, text):
    check = verdicts(output(tmp_path, [("s/a.flac", text, -20.0)], with_loudness=False))
    [(_, why)] = check["speech_has_transcript"].failures
    assert "rematerialise it" in why


def test_a_listed_file_missing_from_the_output_is_not_conserved(tmp_path):
    check = verdicts(output(tmp_path, [("s/a.flac", "hi", -20.0)], extra_listed=["s/lost.flac"]))
    conserved = check["files_conserved"]
    assert conserved.failures == [("s/lost.flac", "listed, but neither a JSONL row nor an error record")]
    assert conserved.figures == {"listed": 2, "rows": 1, "errors": 0}


def test_an_unavailable_folder_fails_every_check(tmp_path):
    listing = pd.DataFrame(columns=["id", "duration_s", "reference_text", "error"])
    why = "speaker folder 'gone' does not exist in AUDIO_ROOT '/a'"
    check = verdicts(SpeakerOutput("gone", listing, None, None, None, folder_error=why))
    assert set(check) == {spec.name for spec in CHECK_SPECS}
    assert not any(v.passed for v in check.values())
    assert check["speaker_folder_available"].summary.startswith("unavailable: speaker folder 'gone' does not exist")


def test_an_evaluation_is_on_its_speaker_with_a_table_of_failures(tmp_path):
    check = verdicts(output(tmp_path, [("s/a.flac", "hi", -20.0)], extra_listed=["s/lost.flac"]))
    evaluation = check_evaluation("s", "files_conserved", check["files_conserved"])
    assert (evaluation.partition, evaluation.passed, evaluation.blocking) == ("s", False, True)
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["failing_files"].value == 1 and evaluation.metadata["listed"].value == 2
    table = evaluation.metadata["failures"]
    assert [c.name for c in table.schema.columns] == ["speaker", "file", "reason"]
    assert [r.data for r in table.records] == [
        {"speaker": "s", "file": "s/lost.flac", "reason": "listed, but neither a JSONL row nor an error record"}
    ]
    wer = check_evaluation("s", "reference_wer", check["reference_wer"])
    assert wer.passed and wer.severity == dg.AssetCheckSeverity.WARN and "wer" not in wer.metadata  # no references


def test_reference_wer_normalises_each_file_for_its_own_language(tmp_path):
    out = output(tmp_path, [("s/en.flac", "press 1", -20.0), ("s/fr.flac", "desole, vous avez des problemes", -20.0)])
    out.listing["reference_text"] = ["Press one.", "Désolé, vous avez des problèmes"]
    out.transcripts["language"] = ["en", "fr"]
    verdict = verdicts(out)["reference_wer"]
    assert verdict.passed and verdict.figures == {"wer": 0.0, "files_with_reference": 2}
    out.transcripts["language"] = ["fr", "fr"]  # only the English normaliser reads "one" as "1"
    assert verdicts(out)["reference_wer"].figures["wer"] > 0


def test_the_token_rate_is_the_backends(tmp_path):
    out = output(tmp_path, [("s/a.flac", "hi", -20.0)])  # 50 ids in 2 s: BEST-RQ's 25/s
    assert verdicts(out)["token_rate"].passed
    encodec = evaluate_speaker(out, DatasetQuality(), ENCODEC_6KBPS)["token_rate"]
    assert encodec.failures == [("s/a.flac", "50 tokens for 2.00 s (expected 1200)")]
    assert encodec.figures == {"tokens_per_second": 25.0, "expected_tokens_per_second": 600.0}


@pytest.mark.parametrize(("n_tokens", "passed"), [(1200 + 8, True), (1200 + 8 + 24, True), (1200 + 8 + 25, False)])
def test_encodec_may_be_one_frame_of_codebooks_plus_the_tolerance_off(tmp_path, n_tokens, passed):
    out = output(tmp_path, [("s/a.flac", "hi", -20.0)], tokens=[5] * n_tokens)
    assert evaluate_speaker(out, DatasetQuality(), ENCODEC_6KBPS)["token_rate"].passed is passed


def test_token_ids_must_be_codes_of_the_backends_codebook(tmp_path):
    out = output(tmp_path, [("s/a.flac", "hi", -20.0), ("s/b.flac", "ho", -20.0)], tokens=[0, 1023, 1024, 8191] * 300)
    assert verdicts(out)["token_ids_in_range"].passed  # BEST-RQ: 8,192 codes
    verdict = evaluate_speaker(out, DatasetQuality(), ENCODEC_6KBPS)["token_ids_in_range"]
    assert verdict.failures == [(f"s/{n}.flac", "600 ids outside [0, 1024), e.g. 1024") for n in "ab"]
    assert verdict.figures == {"codebook_size": 1024}
    negative = output(tmp_path, [("s/a.flac", "hi", -20.0)], tokens=[-1] * 50)
    assert verdicts(negative)["token_ids_in_range"].failures == [("s/a.flac", "50 ids outside [0, 8192), e.g. -1")]
