"""EnCodec tokens, offline: the real transformers EnCodec model code with a seeded, randomly initialised
24 kHz checkpoint (no EnCodec weights install offline). The codes mean nothing, but their shapes,
rates, layouts and determinism are the real model's, and so is the Dagster path that writes them."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from audio_assets.checks import recorded_token_shape
from audio_assets.resources import AudioTokenizer
from audio_assets.speech.decoding import decode
from audio_assets.speech.encodec_tokens import WeightsNotAvailable, codes_from_token_array, write_random_checkpoint

from .job_runs import check_evaluations, latest_metadata, run, run_config_for

HOP = 320  # samples per frame at 24 kHz: 75 frames/s
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random EnCodec 24 kHz checkpoint, seeded: the same bytes in every process."""
    return write_random_checkpoint(tmp_path_factory.mktemp("encodec") / "random-24khz", seed=0)


@pytest.fixture(scope="module")
def clips(corpus):
    return [decode(u.path.read_bytes(), 24_000) for u in corpus]


def tokenizer(checkpoint, **settings) -> AudioTokenizer:
    return AudioTokenizer(backend="encodec", weights=str(checkpoint), device="cpu", **settings)


@pytest.mark.parametrize(("bandwidth", "codebooks"), [(1.5, 2), (6.0, 8), (24.0, 32)])
def test_each_bandwidth_gives_its_codebooks_at_75_frames_a_second(checkpoint, clips, bandwidth, codebooks):
    settings = tokenizer(checkpoint, bandwidth=bandwidth)
    shape = settings.shape()
    assert (shape.codebooks, shape.codebook_size, shape.tokens_per_second) == (codebooks, 1024, 75.0 * codebooks)
    for clip, ids in zip(clips, settings.encoder().encode(clips)):
        assert len(ids) == math.ceil(len(clip) / HOP) * codebooks and ids.dtype == np.int32
        assert len(np.unique(ids)) > 20  # speech through a random codec: many codes, not one


def test_interleaved_is_frame_by_frame_and_first_is_codebook_zero(checkpoint, clips):
    encoder = tokenizer(checkpoint, bandwidth=6.0).encoder()
    codes = encoder.codes(clips[:2])
    for c, ids in zip(codes, encoder.encode(clips[:2])):
        assert c.shape[0] == 8
        assert ids[:8].tolist() == c[:, 0].tolist()  # t0q0 … t0q7
        np.testing.assert_array_equal(codes_from_token_array(ids.tolist(), 8), c)
    first = tokenizer(checkpoint, bandwidth=24.0, layout="first")
    assert first.shape().tokens_per_second == 75.0
    # residual codebook 0 is the same at every bandwidth
    assert [ids.tolist() for ids in first.encoder().encode(clips[:2])] == [c[0].tolist() for c in codes]


def test_token_array_goes_back_to_codes_and_audio_as_the_readme_says(checkpoint, clips, tmp_path):
    [snippet] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    encoder = tokenizer(checkpoint, bandwidth=6.0).encoder()  # the README's 8 codebooks
    [ids] = encoder.encode(clips[:1])
    jsonl = tmp_path / "p225.jsonl"
    jsonl.write_text(json.dumps({"id": "p225/x.flac", "transcription": "", "token_array": ids.tolist()}) + "\n")
    snippet = snippet.replace('"results/p225.jsonl"', repr(str(jsonl))).replace(
        '"facebook/encodec_24khz"', repr(str(checkpoint))
    )
    names: dict = {}
    exec(snippet, names)  # as written, but for the two paths
    np.testing.assert_array_equal(names["codes"], encoder.codes(clips[:1])[0])
    assert len(names["audio"]) == names["codes"].shape[1] * HOP and len(names["audio"]) - len(clips[0]) < HOP


def test_a_clips_ids_do_not_depend_on_its_batch(checkpoint, clips):
    encoder = tokenizer(checkpoint, bandwidth=12.0).encoder()
    together = encoder.encode(clips)
    alone = [encoder.encode([clip])[0] for clip in reversed(clips)][::-1]
    assert [t.tolist() for t in together] == [a.tolist() for a in alone]


IDS_OF_FILE = """
import json, sys
import torch
from pathlib import Path
from audio_assets.checks import recorded_token_shape
from audio_assets.resources import AudioTokenizer
from audio_assets.speech.decoding import decode
torch.set_num_threads(int(sys.argv[3]))
encoder = AudioTokenizer(backend="encodec", weights=sys.argv[2], bandwidth=24.0, device="cpu").encoder()
[ids] = encoder.encode([decode(Path(sys.argv[1]).read_bytes(), 24000)])
print(json.dumps([encoder.settings_fingerprint, ids.tolist()]))
"""


def test_same_audio_same_ids_in_two_processes_whatever_their_threads(checkpoint, corpus):
    outputs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", IDS_OF_FILE, str(corpus[1].path), str(checkpoint), str(threads)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        for threads in (1, 2)
    ]
    assert outputs[0] == outputs[1]
    fingerprint, ids = outputs[0]
    assert fingerprint.startswith("encodec1-") and fingerprint.endswith("-q32-interleaved-cpu")
    assert len(ids) % 32 == 0 and len(ids) > 32 * 75  # over a second of speech, all 32 codebooks


def test_settings_that_cannot_work_say_why_before_any_model_loads(checkpoint, tmp_path):
    with pytest.raises(ValueError, match=r"bandwidth 5.0 kbps is not one of this model's: \[1.5, 3.0, 6.0, 12.0, 24"):
        tokenizer(checkpoint, bandwidth=5.0).preflight()
    (tmp_path / "config.json").write_text((checkpoint / "config.json").read_text())
    with pytest.raises(
        WeightsNotAvailable, match="lack model.safetensors: a folder written by EncodecModel.save_pretrained holds both"
    ):
        tokenizer(tmp_path).preflight()
    stereo = json.loads((checkpoint / "config.json").read_text()) | {"audio_channels": 2, "use_causal_conv": False}
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "config.json").write_text(json.dumps(stereo))
    with pytest.raises(WeightsNotAvailable, match="is not a causal mono EnCodec model without input scaling"):
        tokenizer(tmp_path).preflight()
    with pytest.raises(WeightsNotAvailable, match="no such folder, and not a Hugging Face model id"):
        tokenizer(tmp_path / "missing").preflight()


def test_missing_weights_offline_are_one_clear_error(tmp_path):
    """The default weights are a Hugging Face id; with an empty cache and no hub, the listing step's
    preflight fails once, with what to do."""
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    script = (
        "from audio_assets.resources import AudioTokenizer\n"
        "try:\n    AudioTokenizer(backend='encodec').preflight()\n"
        "except RuntimeError as e:\n    print(type(e).__name__, e)\n"
        "import sys; print('torch imported:', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True).stdout
    assert out.startswith(
        "WeightsNotAvailable EnCodec weights 'facebook/encodec_24khz' are not in the Hugging Face cache and "
        "could not be downloaded"
    )
    assert "`hf download facebook/encodec_24khz`" in out and "set the tokenizer's `weights` to that folder" in out
    assert out.endswith("torch imported: False\n")


def test_a_dagster_run_switches_to_encodec_by_configuration_alone(
    tmp_path, corpus, corpus_dir, model_cache, checkpoint
):
    """The job with ``tokenizer.backend: encodec``: JSONL rows with interleaved codes at the codec's rate,
    the checks on its rate and codebook, the layout in the metadata; back on BEST-RQ, the tokens are
    recomputed, not reused."""
    speakers = ["p900", "p901"]
    config = run_config_for(corpus_dir / "wav48_silence_trimmed", tmp_path, model_cache)
    encodec = {"backend": "encodec", "weights": str(checkpoint), "bandwidth": 1.5}
    config["resources"]["tokenizer"] = {"config": encodec}
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("speakers", speakers)
        result = run(instance, config, speakers[0], speakers[-1])
        assert result.success
        evaluations = check_evaluations(instance, result.run_id)
        assert all(evaluations[check, s].passed for check in ("token_rate", "token_ids_in_range") for s in speakers)
        assert evaluations["token_rate", "p900"].metadata["expected_tokens_per_second"].value == 150.0
        seconds = {u.id: u.path for u in corpus}
        for speaker in speakers:
            rows = [json.loads(line) for line in (tmp_path / "results" / f"{speaker}.jsonl").read_text().splitlines()]
            assert len(rows) == 3
            for row in rows:
                samples = len(decode(seconds[row["id"]].read_bytes(), 24_000))
                assert len(row["token_array"]) == 2 * math.ceil(samples / HOP)
            metadata = latest_metadata(instance, "tokens", speaker)
            assert (metadata["backend"], metadata["layout"], metadata["codebooks"]) == ("encodec", "interleaved", 2)
            assert metadata["codebook_size"] == 1024 and metadata["expected_tokens_per_second"] == 150.0
            assert metadata["settings"].endswith("-q2-interleaved-cpu") and metadata["computed"] == 3
        assert recorded_token_shape(instance, "p900") == AudioTokenizer(**encodec).shape()
        first = (tmp_path / "results" / "p900.jsonl").read_bytes()

        assert run(instance, config, speakers[0], speakers[-1]).success  # the same settings again
        assert latest_metadata(instance, "tokens", "p900")["reused"] == 3
        assert (tmp_path / "results" / "p900.jsonl").read_bytes() == first

        del config["resources"]["tokenizer"]  # the default again: BEST-RQ
        assert run(instance, config, speakers[0], speakers[-1]).success
        metadata = latest_metadata(instance, "tokens", "p900")
        assert (metadata["backend"], metadata["computed"], metadata["reused"]) == ("bestrq", 3, 0)
        assert latest_metadata(instance, "transcriptions", "p900")["reused"] == 3  # only the tokens changed
