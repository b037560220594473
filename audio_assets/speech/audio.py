"""Decode any audio file soundfile reads into what the models expect: 16 kHz mono float32."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AudioInfo:
    sha256: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def probe(data: bytes) -> AudioInfo:
    """Header facts and content hash of an encoded file; raises ``soundfile.LibsndfileError`` if unreadable."""
    with soundfile.SoundFile(io.BytesIO(data)) as f:
        return AudioInfo(
            sha256=hashlib.sha256(data).hexdigest(),
            sample_rate=f.samplerate,
            channels=f.channels,
            frames=f.frames,
            format=f.format,
            subtype=f.subtype,
        )


def decode(data: bytes) -> np.ndarray:
    """Encoded bytes → 16 kHz mono float32, channels averaged, resampled with soxr (no ffmpeg)."""
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1, dtype=np.float32)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)
