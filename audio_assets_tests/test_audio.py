"""Decoding: any rate and channel count → 16 kHz mono float32, without ffmpeg."""

import io

import numpy as np
import pytest
import soundfile

from audio_assets.speech import decoding


def _flac(samples: np.ndarray, rate: int, subtype: str = "PCM_24") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="FLAC", subtype=subtype)
    return buffer.getvalue()


def test_jfk_fixture_decodes_to_16k_mono(jfk_path):
    data = jfk_path.read_bytes()
    info = decoding.inspect(data)
    assert (info.sample_rate, info.channels, info.subtype) == (44100, 2, "PCM_24")
    assert abs(info.duration_s - 11.0) < 0.05
    decoded = decoding.decode(data)
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    assert abs(len(decoded) / decoding.SAMPLE_RATE - info.duration_s) < 0.01
    assert 0.01 < np.abs(decoded).max() <= 1.0


def test_resampling_keeps_pitch_and_averages_channels():
    rate, seconds = 44100, 2.0
    t = np.arange(int(rate * seconds)) / rate
    left = 0.5 * np.sin(2 * np.pi * 1000 * t)
    stereo = np.stack([left, left], axis=1).astype(np.float32)
    decoded = decoding.decode(_flac(stereo, rate))
    assert len(decoded) == int(seconds * decoding.SAMPLE_RATE)
    spectrum = np.abs(np.fft.rfft(decoded))
    peak_hz = np.argmax(spectrum) * decoding.SAMPLE_RATE / len(decoded)
    assert abs(peak_hz - 1000) < 2
    assert abs(np.abs(decoded[1000:-1000]).max() - 0.5) < 0.01  # amplitude kept, channels averaged

    opposite = np.stack([left, -left], axis=1).astype(np.float32)
    assert np.abs(decoding.decode(_flac(opposite, rate))).max() < 1e-3  # mean of L and -L is silence


def test_inspect_hash_is_of_the_content(jfk_path):
    import hashlib

    data = jfk_path.read_bytes()
    assert decoding.inspect(data).sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("seconds", [3.7, 50.0])  # one block, resampled in one call / several blocks, streamed
def test_decoding_gives_the_samples_of_one_read_and_one_resampling_call(seconds):
    """A clip is decoded in one read and one soxr call; past BLOCK_SAMPLES a file streams block by block
    through soxr's streaming resampler. Both give exactly the samples of the one-call computation."""
    import soxr

    rate = 48000
    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((int(seconds * rate), 2))).astype(np.float32)
    assert (len(stereo) * 2 > decoding.BLOCK_SAMPLES) == (seconds > 40)
    data = _flac(stereo, rate)
    read, _ = soundfile.read(io.BytesIO(data), dtype="float32")
    expected = soxr.resample(read.mean(axis=1, dtype=np.float32), rate, decoding.SAMPLE_RATE, quality="HQ")
    assert np.array_equal(decoding.decode(data), expected)
    with pytest.raises(decoding.BadAudio, match="truncated"):
        decoding.decode(data[: len(data) * 3 // 4])


def test_inspect_catches_a_file_cut_short_by_decoding_only_its_end():
    """An interrupted copy keeps the header's frame count; the listing reads the last frames and fails."""
    rng = np.random.default_rng(1)
    data = _flac((0.1 * rng.standard_normal(4 * 48000)).astype(np.float32), 48000)
    assert decoding.inspect(data).frames == 4 * 48000
    for kept in (0.5, 0.99):
        with pytest.raises(decoding.BadAudio, match="truncated or corrupt audio: the last 4096 of its 192000 frames"):
            decoding.inspect(data[: int(len(data) * kept)])


def test_a_file_corrupt_in_the_middle_passes_the_listing_and_fails_where_it_is_decoded():
    rng = np.random.default_rng(2)
    data = bytearray(_flac((0.1 * rng.standard_normal(4 * 48000)).astype(np.float32), 48000))
    data[len(data) // 2 : len(data) // 2 + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    assert decoding.inspect(bytes(data)).frames == 4 * 48000
    with pytest.raises(decoding.BadAudio, match="truncated or corrupt audio"):
        decoding.decode(bytes(data))


def test_loudness_is_the_rms_level_in_dbfs():
    t = np.arange(decoding.SAMPLE_RATE) / decoding.SAMPLE_RATE
    sine = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert decoding.loudness_dbfs(sine) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)  # -9.03 dBFS
    assert decoding.loudness_dbfs(np.zeros(1000, np.float32)) == decoding.SILENCE_FLOOR_DBFS
    assert decoding.loudness_dbfs(np.zeros(0, np.float32)) == decoding.SILENCE_FLOOR_DBFS
