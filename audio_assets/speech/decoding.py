"""Decode any audio file soundfile reads into what the models expect: mono float32, 16 kHz for Whisper
and BEST-RQ, 24 kHz for EnCodec.

A clip (up to ~87 s of 48 kHz mono) is decoded in one read and resampled in one call; a longer file is
decoded block by block through a streaming soxr resampler, so memory never holds more than one block
of the native-rate multi-channel signal. Both give the same samples. Anything that cannot become
usable audio raises ``BadAudio`` with a reason a person can act on.

``inspect`` reads a file's header and decodes only its last frames: the listing catches a file cut
short without decoding all of it, which the two model steps do anyway (a file corrupt in the middle
fails there).
"""

import hashlib
import io
import math
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

SAMPLE_RATE = 16_000
MIN_DURATION_S = 0.1  # shorter clips give Whisper nothing to decode and the tokeniser no token
SILENCE_FLOOR_DBFS = -120.0
BLOCK_SAMPLES = 1 << 22  # per decoded block, all channels together: 16 MB of float32
TAIL_FRAMES = 4096  # what inspect decodes: a few FLAC frames at the end of the file


class BadAudio(ValueError):
    """A file that is not usable audio; the message says why."""


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


def _open(data: bytes) -> soundfile.SoundFile:
    if not data:
        raise BadAudio("empty file (0 bytes)")
    try:
        return soundfile.SoundFile(io.BytesIO(data))
    except soundfile.LibsndfileError as error:
        detail = str(error).split(": ", 1)[-1].rstrip(".")
        raise BadAudio(f"not an audio file this decoder reads ({detail})") from None


def _mono_blocks(f: soundfile.SoundFile):
    """Decoded blocks averaged to mono; raises BadAudio if the stream ends early or is corrupt."""
    per_block = max(1, BLOCK_SAMPLES // f.channels)
    decoded = 0
    try:
        while decoded < f.frames:
            block = f.read(min(per_block, f.frames - decoded), dtype="float32", always_2d=True)
            if not len(block):
                break
            decoded += len(block)
            yield block.reshape(-1) if f.channels == 1 else block.mean(axis=1, dtype=np.float32)
    except soundfile.LibsndfileError as error:
        raise BadAudio(
            f"truncated or corrupt audio ({str(error).split(': ', 1)[-1]}) after {decoded} of {f.frames} frames"
        ) from None
    if decoded < f.frames:
        raise BadAudio(f"truncated audio: decoded {decoded} of {f.frames} frames")


def inspect(data: bytes) -> AudioInfo:
    """Header facts and content hash; decodes the last frames, so a truncated file is caught here."""
    with _open(data) as f:
        if f.frames / f.samplerate < MIN_DURATION_S:
            raise BadAudio(
                f"too short: {f.frames} frames = {f.frames / f.samplerate:.4f} s (minimum {MIN_DURATION_S} s)"
            )
        _check_tail(f)
        return AudioInfo(
            sha256=hashlib.sha256(data).hexdigest(),
            sample_rate=f.samplerate,
            channels=f.channels,
            frames=f.frames,
            format=f.format,
            subtype=f.subtype,
        )


def _check_tail(f: soundfile.SoundFile) -> None:
    """Decode the last frames the header promises (the bytes are in memory, so every format seeks)."""
    tail = min(f.frames, TAIL_FRAMES)
    try:
        f.seek(f.frames - tail)
        decoded = len(f.read(tail, dtype="float32", always_2d=True))
    except (soundfile.LibsndfileError, RuntimeError):
        decoded = -1
    if decoded != tail:
        raise BadAudio(f"truncated or corrupt audio: the last {tail} of its {f.frames} frames cannot be decoded")


def loudness_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS (a float64 sum, no float64 copy); SILENCE_FLOOR_DBFS for digital silence."""
    if not len(samples):
        return SILENCE_FLOOR_DBFS
    mean_square = float(np.einsum("i,i->", samples, samples, dtype=np.float64)) / len(samples)
    return max(10 * math.log10(mean_square), SILENCE_FLOOR_DBFS) if mean_square > 0 else SILENCE_FLOOR_DBFS


def decode(data: bytes, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Encoded bytes → mono float32 at ``sample_rate`` (16 kHz for Whisper; channels averaged, soxr HQ
    resampling from the file's own rate, no ffmpeg)."""
    with _open(data) as f:
        if f.samplerate == sample_rate:
            parts = list(_mono_blocks(f))
        elif f.frames * f.channels <= BLOCK_SAMPLES:  # one block: resampled in one call, which is faster
            parts = [soxr.resample(block, f.samplerate, sample_rate, quality="HQ") for block in _mono_blocks(f)]
        else:
            stream = soxr.ResampleStream(f.samplerate, sample_rate, 1, dtype="float32", quality="HQ")
            parts = [stream.resample_chunk(block) for block in _mono_blocks(f)]
            parts.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0, np.float32), dtype=np.float32)
