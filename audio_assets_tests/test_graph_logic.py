"""The whole asset graph and its checks in one process, with a scripted Whisper: the listing, reuse,
the merge, the JSONL lines and the checks, without a speech model (the fast tier).

The scripted Whisper gives each clip a transcript made from its length, so every line is known
exactly; the BEST-RQ tokeniser is the real one (it has no weights to load).
"""

import json
from collections.abc import Sequence

import dagster as dg
import numpy as np
import pytest

from audio_assets.assets import audio_files, merged_jsonl, tokens, transcriptions
from audio_assets.checks import DatasetQuality, merged_jsonl_quality
from audio_assets.resources import (
    AudioLibrary,
    AudioTokenizer,
    ResultsFolder,
    SpeakerParquetIOManager,
    WhisperResource,
)
from audio_assets.speech.whisper_engines import Transcript

pytestmark = pytest.mark.fast


class ScriptedEngine:
    description = {"backend": "scripted", "model": "scripted", "device": "cpu", "compute_type": "none"}

    def __init__(self):
        self.clips = 0

    def transcribe(self, audios: Sequence[np.ndarray]) -> list[Transcript]:
        self.clips += len(audios)
        return [Transcript(f"a tone of {len(a) / 16_000:.2f} seconds", "en", None, -0.1, 0.0, 1.0) for a in audios]


ENGINE = ScriptedEngine()


class ScriptedWhisper(WhisperResource):
    """The Whisper resource with its model replaced by ``ScriptedEngine``."""

    def fingerprint(self) -> str:
        return f"scripted-{self.language}"

    def engine(self) -> ScriptedEngine:  # type: ignore[override]
        return ENGINE

    def preflight(self) -> None:
        pass  # nothing to check: no weights


def materialize(tone_root, work, speaker="p900", whisper_resource=None, **whisper):
    resources = {
        "audio_library": AudioLibrary(root=str(tone_root)),
        "whisper": whisper_resource or ScriptedWhisper(**whisper),
        "tokenizer": AudioTokenizer(),
        "quality": DatasetQuality(),
        "results_folder": ResultsFolder(path=str(work / "results")),
        "parquet_io_manager": SpeakerParquetIOManager(base_dir=str(work / "parquet")),
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("speakers", [speaker])
    return dg.materialize(
        [audio_files, transcriptions, tokens, merged_jsonl, merged_jsonl_quality],
        partition_key=speaker,
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )


def test_lines_checks_and_reuse(tone_root, tmp_path):
    before = ENGINE.clips
    result = materialize(tone_root, tmp_path)
    assert result.success
    jsonl = tmp_path / "results" / "p900.jsonl"
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["transcription"]) for r in rows] == [
        ("p900/p900_001_mic2.flac", "a tone of 1.20 seconds"),
        ("p900/p900_002_mic2.flac", "a tone of 1.40 seconds"),
        ("p900/p900_003_mic2.flac", "a tone of 1.60 seconds"),
    ]
    assert [len(r["token_array"]) for r in rows] == [30, 35, 40]  # 25 per second
    assert all(list(r) == ["id", "transcription", "token_array"] for r in rows)
    assert (tmp_path / "results" / "p900.errors.jsonl").read_text() == ""
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name: e.passed for e in evaluations} == {
        "files_conserved": True,
        "speaker_folder_available": True,
        "speech_has_transcript": True,
        "token_rate": True,
        "token_ids_in_range": True,
        "reference_wer": True,
    }
    assert ENGINE.clips - before == 3

    first = jsonl.read_bytes()
    again = materialize(tone_root, tmp_path)
    assert again.success and jsonl.read_bytes() == first
    assert ENGINE.clips - before == 3  # same content, same settings: every transcript reused
    metadata = again.asset_materializations_for_node("transcriptions")[0].metadata
    assert (metadata["computed"].value, metadata["reused"].value) == (0, 3)

    other = materialize(tone_root, tmp_path, language="en")
    assert other.success and ENGINE.clips - before == 6  # new settings: transcribed again
    metadata = other.asset_materializations_for_node("transcriptions")[0].metadata
    assert metadata["language_detection"].value == "off: language set to en"
    assert metadata["languages"].value == {"en": 3}


def test_a_configuration_that_cannot_run_fails_the_listing_with_one_message(tone_root, tmp_path):
    """Checked before any file is read: float16 with openai-whisper needs CUDA (this loads no model)."""
    result = materialize(tone_root, tmp_path, whisper_resource=WhisperResource(device="cpu", compute_type="float16"))
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "audio_files"
    assert "openai-whisper computes in float16 only on CUDA" in failure.step_failure_data.error.message
    assert not (tmp_path / "results").exists() and not (tmp_path / "parquet").exists()
