"""Rematerialising recomputes only new or changed files, and the result equals a full recompute."""

import json
import shutil

import dagster as dg
import pytest
import soundfile
import soxr

from audio_assets.cli.corpus import HARVARD_SENTENCES, synthesize
from audio_assets.speech.wer import word_error_rate

from .job_runs import latest_metadata, run, run_config_for

SPEAKER = "p900"


def add_clip(folder, name, text):
    samples, sr = synthesize(text)
    soundfile.write(folder / name, soxr.resample(samples, sr, 48000), 48000)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, corpus, corpus_dir):
    work = tmp_path_factory.mktemp("incremental")
    shutil.copytree(corpus_dir / "wav48_silence_trimmed" / SPEAKER, work / "audio" / SPEAKER)
    (work / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(work / "home")) as instance:
        instance.add_dynamic_partitions("speakers", [SPEAKER])
        yield work, instance


def test_adding_one_file_computes_one_file_and_matches_a_full_recompute(workspace, model_cache):
    work, instance = workspace
    config = run_config_for(work / "audio", work, model_cache)
    assert run(instance, config, SPEAKER, SPEAKER).success
    assert latest_metadata(instance, "transcriptions", SPEAKER)["computed"] == 3

    add_clip(work / "audio" / SPEAKER, "p900_004_mic2.flac", HARVARD_SENTENCES[40])
    assert run(instance, config, SPEAKER, SPEAKER).success
    for asset in ("transcriptions", "tokens"):
        meta = latest_metadata(instance, asset, SPEAKER)
        assert (meta["computed"], meta["reused"], meta["files"]) == (1, 3, 4), asset
    incremental = (work / "results" / f"{SPEAKER}.jsonl").read_bytes()

    fresh = work / "fresh"
    assert run(instance, run_config_for(work / "audio", fresh, model_cache), SPEAKER, SPEAKER).success
    assert latest_metadata(instance, "transcriptions", SPEAKER)["computed"] == 4  # nothing to reuse in a fresh store
    assert (fresh / "results" / f"{SPEAKER}.jsonl").read_bytes() == incremental


def test_a_changed_file_is_recomputed(workspace, model_cache):
    work, instance = workspace
    config = run_config_for(work / "audio", work, model_cache)
    add_clip(work / "audio" / SPEAKER, "p900_004_mic2.flac", HARVARD_SENTENCES[41])  # same name, new words
    assert run(instance, config, SPEAKER, SPEAKER).success
    meta = latest_metadata(instance, "transcriptions", SPEAKER)
    assert (meta["computed"], meta["reused"]) == (1, 3)
    last = json.loads((work / "results" / f"{SPEAKER}.jsonl").read_text().splitlines()[-1])
    assert word_error_rate([HARVARD_SENTENCES[41]], [last["transcription"]]) <= 0.3, last["transcription"]


def test_changing_the_model_settings_recomputes_everything(workspace, model_cache):
    work, instance = workspace
    config = run_config_for(work / "audio", work, model_cache)
    # "en" is what tiny.en uses anyway, but other settings (a precision may be what "auto" picks here)
    config["resources"]["whisper"]["config"]["language"] = "en"
    assert run(instance, config, SPEAKER, SPEAKER).success
    transcriptions, tokens = (
        latest_metadata(instance, "transcriptions", SPEAKER),
        latest_metadata(instance, "tokens", SPEAKER),
    )
    assert (transcriptions["computed"], transcriptions["reused"]) == (4, 0)
    assert (tokens["computed"], tokens["reused"]) == (0, 4)  # the tokeniser's settings did not change
    config["resources"]["tokenizer"] = {"config": {"seed": 1}}
    assert run(instance, config, SPEAKER, SPEAKER).success
    assert latest_metadata(instance, "tokens", SPEAKER)["computed"] == 4
    assert latest_metadata(instance, "transcriptions", SPEAKER)["reused"] == 4
