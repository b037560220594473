"""Real recordings with their transcripts: the Asterisk prompts (Debian's asterisk-core-sounds-*, one
speaker each in English and French, 8 kHz telephone prompts), through tiny.en and the multilingual base.

Subsets keep the suite in its time budget: every k-th prompt of 2–12 words (English) or 4–12 words
(French; shorter ones are single words, where language detection is a guess). ``make bench-quality``
measures the whole English set.
"""

import json
import shutil
import subprocess

import dagster as dg
import pandas as pd
import pytest

from audio_assets.cli.corpus import asterisk_prompts
from audio_assets.definitions import process_speakers_job
from audio_assets.partitions import range_tags
from audio_assets.resources import WhisperResource
from audio_assets.speech.decoding import decode
from audio_assets.speech.wer import word_error_rate

from .job_runs import run_config_for


def subset(language: str, count: int, min_words: int) -> list:
    prompts = [p for p in asterisk_prompts(language, min_words=min_words) if len(p.text.split()) <= 12]
    if not prompts:
        pytest.skip(f"asterisk-core-sounds-{language}-wav and -{language} are not installed (make system-deps)")
    return prompts[:: max(1, len(prompts) // count)][:count]


@pytest.fixture(scope="module")
def english():
    return subset("en", 30, min_words=2)


@pytest.fixture(scope="module")
def french():
    return subset("fr", 16, min_words=4)


# float32 on every CPU: "auto" means bf16 where the CPU has it, which moves a few words, and the bounds
# hold with margin on the transcripts of one precision (measured: the README's Quality by model)
EXACT = {"compute_type": "float32"}


def transcribe(resource: WhisperResource, prompts) -> list:
    return resource.engine().transcribe([decode(p.path.read_bytes()) for p in prompts])


def test_tiny_en_on_real_english_prompts(english, model_cache):
    results = transcribe(WhisperResource(cache_dir=model_cache, **EXACT), english)
    wer = word_error_rate([p.text for p in english], [r.text for r in results])
    assert wer <= 0.10, [(p.text, r.text) for p, r in zip(english, results)]
    # English-only: nothing is detected
    assert {(r.language, r.language_probability) for r in results} == {("en", None)}


def test_base_on_real_english_prompts_detects_english(english, model_cache):
    results = transcribe(WhisperResource(model="base", cache_dir=model_cache, **EXACT), english)
    wer = word_error_rate([p.text for p in english], [r.text for r in results])
    assert wer <= 0.06, [(p.text, r.text) for p, r in zip(english, results)]
    assert [r.language for r in results] == ["en"] * len(english)
    assert all(0.5 < r.language_probability <= 1.0 for r in results)


def test_base_on_real_french_prompts_detects_french(french, model_cache):
    """faster-whisper int8, each clip's language detected; the bounds are defended in the README
    (*Quality by model*): about twice the measured WER, and detection allowed to miss 2 of 16."""
    results = transcribe(WhisperResource(model="base", backend="faster-whisper", cache_dir=model_cache), french)
    detected = [r.language for r in results]
    assert detected.count("fr") >= len(french) - 2, detected
    wer = word_error_rate([p.text for p in french], [r.text for r in results], "fr")
    assert wer <= 0.30, [(p.text, r.text) for p, r in zip(french, results)]


def test_a_set_language_is_honoured(french, model_cache):
    results = transcribe(WhisperResource(model="base", language="fr", cache_dir=model_cache, **EXACT), french[:4])
    assert {(r.language, r.language_probability) for r in results} == {("fr", None)}
    assert word_error_rate([p.text for p in french[:4]], [r.text for r in results], "fr") <= 0.35


@pytest.mark.parametrize("model", ["tiny.en", "base"])
def test_silence_clips_give_empty_transcripts(model, model_cache):
    silence = asterisk_prompts("en", folder="silence")
    if not silence:
        pytest.skip("asterisk-core-sounds-en-wav is not installed (make system-deps)")
    results = transcribe(WhisperResource(model=model, cache_dir=model_cache, **EXACT), silence)
    assert [r.text for r in results] == [""] * len(silence)


def test_mixed_folder_through_dagster_with_base(tmp_path, english, french, model_cache):
    """One speaker folder of English and French WAV prompts and an MP3 (a prompt encoded by lame), with
    ``model: base`` and ``extensions: [.wav, .mp3]``: each clip comes out in its own language."""
    lame = shutil.which("lame")
    if lame is None:
        pytest.skip("lame is not installed (make system-deps)")
    folder = tmp_path / "audio" / "caller"
    folder.mkdir(parents=True)
    expected = {}
    for language, prompts in (("en", english[1:4]), ("fr", french[1:4])):
        for i, prompt in enumerate(prompts):
            name = f"{language}_{i}.wav"
            shutil.copyfile(prompt.path, folder / name)
            expected[f"caller/{name}"] = (prompt.text, language)
    subprocess.run([lame, "--quiet", "-b", "32", str(english[5].path), str(folder / "en_mp3.mp3")], check=True)
    expected["caller/en_mp3.mp3"] = (english[5].text, "en")

    run_config = run_config_for(tmp_path / "audio", tmp_path, model_cache)
    run_config["resources"]["whisper"]["config"].update(model="base", **EXACT)
    run_config["resources"]["audio_library"]["config"]["extensions"] = [".wav", ".mp3"]
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("speakers", ["caller"])
        result = dg.execute_job(
            dg.reconstructable(process_speakers_job),
            instance=instance,
            run_config=run_config,
            tags=range_tags("caller", "caller"),
        )
        assert result.success
        lines = (tmp_path / "results" / "caller.jsonl").read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines]
        assert [r["id"] for r in rows] == sorted(expected)
        assert all(list(r) == ["id", "transcription", "token_array"] for r in rows)
        for r in rows:
            text, language = expected[r["id"]]
            assert word_error_rate([text], [r["transcription"]], language) <= 0.35, (r["id"], r["transcription"])

        table = pd.read_parquet(tmp_path / "parquet" / "transcriptions" / "caller.parquet")
        assert dict(zip(table["id"], table["language"])) == {k: lang for k, (_, lang) in expected.items()}
        assert (table["language_probability"] > 0.5).all()
        event = instance.get_latest_materialization_event(dg.AssetKey("transcriptions"))
        metadata = event.asset_materialization.metadata
        assert metadata["languages"].value == {"en": 4, "fr": 3}
        assert metadata["language_detection"].value == "per file"
        assert metadata["model"].value == "base"
