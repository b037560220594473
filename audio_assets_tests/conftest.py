"""Shared fixtures: real speech with known text (espeak-ng), the shared real recordings, a real model."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from audio_assets.cli.corpus import Utterance, make_corpus
from audio_assets.speech import decoding

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
JFK_TEXT = (
    "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
)


def pytest_collection_modifyitems(config, items):
    # The fast tier (make test-fast) needs no speech; everything else refuses to run without it
    # rather than skip, so that a machine without espeak-ng cannot pass the suite by skipping it.
    needs_speech = any(item.get_closest_marker("fast") is None for item in items)
    if needs_speech and shutil.which("espeak-ng") is None:
        raise pytest.UsageError(
            "the tests need espeak-ng (Debian/Ubuntu: apt-get install espeak-ng); .ci/run installs it"
        )


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="session")
def corpus(corpus_dir) -> list[Utterance]:
    """2 speakers × 3 clips of synthesised speech in VCTK layout; AUDIO_ROOT is corpus_dir/wav48_silence_trimmed."""
    return make_corpus(corpus_dir, speakers=2, clips=3)


@pytest.fixture(scope="session")
def tone_root(tmp_path_factory) -> Path:
    """2 speakers × 3 FLACs of tones (1.2–2.2 s, 48 kHz), for the fast tier: audio without speech."""
    root = tmp_path_factory.mktemp("tones")
    for s, speaker in enumerate(["p900", "p901"]):
        for c in range(3):
            seconds = 1.2 + 0.2 * (s * 3 + c)
            t = np.arange(int(48_000 * seconds)) / 48_000
            path = root / speaker / f"{speaker}_{c + 1:03d}_mic2.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, 0.3 * np.sin(2 * np.pi * (220 + 40 * c) * t), 48_000, subtype="PCM_16")
    return root


@pytest.fixture(scope="session")
def jfk_path() -> Path:
    path = FIXTURES / "jfk.flac"
    if not path.is_file():
        pytest.skip(f"shared fixture {path} is absent (fresh clone without ../shared); CI has it")
    return path


@pytest.fixture(scope="session")
def jfk_audio(jfk_path):
    return decoding.decode(jfk_path.read_bytes())


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> str:
    """A private cache for derived checkpoints, so the tests also prove the derivation works from scratch."""
    return str(tmp_path_factory.mktemp("model-cache"))
