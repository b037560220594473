"""Batched Whisper transcription on two backends that give the same greedy transcripts.

Whisper always encodes a 30 s window, so a 3 s clip costs almost as much as a 30 s one: clips up to
30 s are stacked into batches and decoded together. Longer files go through the backend's own
long-form algorithm (sequential 30 s windows with timestamps), one file at a time.
"""

import contextlib
import dataclasses
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_assets.speech.decoding import SAMPLE_RATE, loudness_dbfs
from audio_assets.speech.devices import check_device, resolve_device
from audio_assets.speech.memory import reuse_freed_memory
from audio_assets.speech.models import ModelNotAvailable, ct2_dir_for, offline_hint, openai_whisper_checkpoint
from audio_assets.upstream import (
    cpu_has_native_bf16,
    ctranslate2_whisper,
    faster_whisper_mel_bins,
    faster_whisper_suppressed_tokens,
    faster_whisper_tokenizer,
    openai_whisper_download,
)

WINDOW_SAMPLES = 30 * SAMPLE_RATE
MAX_NEW_TOKENS = 224  # openai-whisper's default sample_len (n_text_ctx // 2)
# openai-whisper's transcribe() drops a window as silence when no_speech_prob > 0.6 and avg_logprob < -1;
# the batched path does the same, and also when the clip is near-silent (below -60 dBFS RMS), where
# Whisper confidently hallucinates "you" (no_speech_prob 0.93, avg_logprob -0.4 on digital silence).
NO_SPEECH_THRESHOLD = 0.6
LOGPROB_THRESHOLD = -1.0
SILENT_RMS_DBFS = -60.0
# openai-whisper's temperature fallback: a greedy result that looks like a repetition loop (compressible
# text) or a guess (low log-prob) is decoded again by sampling at rising temperatures, best of 5.
COMPRESSION_RATIO_THRESHOLD = 2.4
FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)
BEST_OF = 5
RUNTIMES = {"openai-whisper": "torch", "faster-whisper": "ctranslate2"}
RECIPE_VERSION = "1"  # bump when a change here alters transcripts, so cached ones are recomputed


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    # the detector's probability for ``language``; None where nothing was detected (a configured
    # language, or an English-only model)
    language_probability: float | None
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


@dataclass(frozen=True)
class EngineSettings:
    backend: str = "openai-whisper"
    model: str = "tiny.en"
    device: str = "auto"
    compute_type: str = "auto"
    language: str | None = None
    beam_size: int = 1
    batch_size: int = 16
    temperature_fallback: bool = False
    cache_dir: str = ""
    reuse_freed_memory: bool = True  # process-wide malloc thresholds (speech/memory.py)


@dataclass(frozen=True)
class Plan:
    """What a configuration resolves to on this machine, known before any weights are loaded."""

    device: str
    compute_type: str
    weights: str  # a local file or folder, or a name the backend has already downloaded


def compression_ratio(text: str) -> float:
    """openai-whisper's measure of repetition, the one its transcribe() tests against the threshold."""
    from whisper.utils import compression_ratio as whisper_compression_ratio  # imports torch: not at module load

    return whisper_compression_ratio(text) if text else 0.0


def _compute_type(settings: EngineSettings, device: str) -> str:
    requested = settings.compute_type
    if settings.backend == "faster-whisper":
        import ctranslate2

        if requested == "auto":
            return "float16" if device == "cuda" else "int8"
        supported = ctranslate2.get_supported_compute_types(device)
        if requested not in supported:
            raise ValueError(f"faster-whisper on {device} supports compute_type {sorted(supported)}, not {requested!r}")
        return requested
    if requested == "auto":
        if device == "cuda":
            return "float16"
        return "bfloat16" if cpu_has_native_bf16() else "float32"
    if requested not in ("float32", "float16", "bfloat16"):
        raise ValueError(f"openai-whisper compute_type must be auto, float32, float16 or bfloat16, not {requested!r}")
    if requested == "float16" and device != "cuda":
        raise ValueError("openai-whisper computes in float16 only on CUDA; use bfloat16 or float32 on the CPU")
    return requested


def plan(settings: EngineSettings) -> Plan:
    """Check a configuration without loading the model: backend, device, precision, and that the weights
    are on this machine (downloading them through the backend when it can). Raises one clear error."""
    return _validate(settings, resolve=True)  # type: ignore[return-value]


def check(settings: EngineSettings) -> None:
    """What ``plan`` checks, by the same path, without resolving what cannot fail: the device is probed
    only when it is not "auto" or "cpu", the precision only when it is not "auto", and local or shipped
    weights are found without importing torch. The listing step runs this before the forkserver has
    imported torch (see execution/forkserver_preload.py)."""
    _validate(settings, resolve=False)


def _validate(settings: EngineSettings, resolve: bool) -> Plan | None:
    _check_settings(settings)
    runtime = RUNTIMES[settings.backend]
    if resolve or settings.compute_type != "auto":
        device = resolve_device(settings.device, runtime)
        compute_type = _compute_type(settings, device)
    else:
        check_device(settings.device, runtime)
    weights = _weights(settings)
    return Plan(device, compute_type, weights) if resolve else None


def _check_settings(settings: EngineSettings) -> None:
    if settings.backend not in RUNTIMES:
        raise ValueError(f"backend must be one of {sorted(RUNTIMES)}, not {settings.backend!r}")
    if settings.beam_size < 1 or settings.batch_size < 1:
        raise ValueError("beam_size and batch_size must be at least 1")


def _weights(settings: EngineSettings) -> str:
    """The local weights of the configured model, downloaded by the backend if it can."""
    cache = Path(settings.cache_dir)
    try:
        if settings.backend == "openai-whisper":
            weights = openai_whisper_checkpoint(settings.model, cache)
            if not Path(weights).is_file():
                weights = openai_whisper_download(weights, str(cache / "whisper"))
        else:
            ct2_dir = ct2_dir_for(settings.model, cache)
            if ct2_dir is None:
                from faster_whisper.utils import download_model

                ct2_dir = Path(download_model(settings.model, cache_dir=str(cache / "faster-whisper")))
            weights = str(ct2_dir)
    except ModelNotAvailable:
        raise
    except Exception as error:  # urllib and huggingface_hub raise their own types when offline
        raise offline_hint(settings.model, error) from error
    return weights


def fingerprint(settings: EngineSettings, resolved: Plan) -> str:
    """Identifies everything that shapes a transcript (not the batch size: batching does not change
    transcripts, tested on 100 clips per backend and precision). Same fingerprint + same audio hash:
    the transcript can be reused."""
    parts = [RECIPE_VERSION, settings.backend, settings.model, Path(resolved.weights).name, resolved.device]
    parts += [
        resolved.compute_type,
        str(settings.language),
        str(settings.beam_size),
        str(settings.temperature_fallback),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class WhisperEngine(ABC):
    """One loaded model; ``transcribe`` takes any number of 16 kHz mono clips."""

    backend: str

    def __init__(self, settings: EngineSettings):
        self.settings = settings
        self.plan = plan(settings)
        self.device = self.plan.device
        self.compute_type = self.plan.compute_type
        if settings.reuse_freed_memory:  # batches reuse the previous batch's memory instead of faulting it in
            reuse_freed_memory()

    @property
    def description(self) -> dict[str, str]:
        """Model, backend, device and precision actually in use, for run metadata."""
        return {
            "backend": self.backend,
            "model": self.settings.model,
            "device": self.device,
            "compute_type": self.compute_type,
        }

    def transcribe(self, audios: Sequence[np.ndarray]) -> list[Transcript]:
        results: list[Transcript | None] = [None] * len(audios)
        short = [i for i, a in enumerate(audios) if len(a) <= WINDOW_SAMPLES]
        # beam search with batch > 1 is broken in openai-whisper (PR #2197): batch 1 then
        step = 1 if self.backend == "openai-whisper" and self.settings.beam_size > 1 else self.settings.batch_size
        for start in range(0, len(short), step):
            chunk = short[start : start + step]
            for i, transcript in zip(chunk, self._decode_short([audios[i] for i in chunk])):
                transcript = _drop_if_no_speech(transcript, audios[i])
                if self.settings.temperature_fallback and _needs_fallback(transcript):
                    transcript = self._fallback(audios[i])
                results[i] = transcript
        for i, audio in enumerate(audios):
            if results[i] is None:
                results[i] = self._transcribe_long(audio)
        return results  # type: ignore[return-value]

    def _fallback(self, audio: np.ndarray) -> Transcript:
        """Sample at rising temperatures until a result passes; seeded by the audio, so reruns agree."""
        seed = int.from_bytes(hashlib.sha256(audio.tobytes()).digest()[:4], "little")
        for temperature in FALLBACK_TEMPERATURES:
            self._seed(seed)
            transcript = _drop_if_no_speech(self._decode_short([audio], temperature)[0], audio)
            if not _needs_fallback(transcript):
                break
        return transcript

    @abstractmethod
    def _seed(self, seed: int) -> None:
        """Seed the backend's sampler."""

    @abstractmethod
    def _decode_short(self, audios: Sequence[np.ndarray], temperature: float = 0.0) -> list[Transcript]:
        """Clips of at most 30 s, decoded as one batch (greedy at 0, else best of BEST_OF samples)."""

    @abstractmethod
    def _transcribe_long(self, audio: np.ndarray) -> Transcript:
        """A clip longer than 30 s, by the backend's long-form algorithm."""


def _needs_fallback(t: Transcript) -> bool:
    if t.compression_ratio > COMPRESSION_RATIO_THRESHOLD:
        return True
    return t.avg_logprob < LOGPROB_THRESHOLD and t.no_speech_prob <= NO_SPEECH_THRESHOLD and bool(t.text)


def _drop_if_no_speech(t: Transcript, audio: np.ndarray) -> Transcript:
    if t.no_speech_prob <= NO_SPEECH_THRESHOLD:
        return t
    near_silent = loudness_dbfs(audio) <= SILENT_RMS_DBFS
    if t.avg_logprob < LOGPROB_THRESHOLD or near_silent:
        return dataclasses.replace(t, text="", compression_ratio=0.0)
    return t


def log_mel_batch(audios: Sequence[np.ndarray], n_mels: int, device: str):
    """Whisper's 30 s log-mel window for each clip, stacked: (batch, n_mels, 3000)."""
    import torch
    import whisper

    return torch.stack(
        [
            whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(a)), n_mels=n_mels, device=device)
            for a in audios
        ]
    )


def _join_segments(
    text: str, language: str, probability: float | None, scores: list[tuple[float, float]]
) -> Transcript:
    text = text.strip()
    avg_logprob = float(np.mean([s[0] for s in scores])) if scores else 0.0
    no_speech_prob = float(np.mean([s[1] for s in scores])) if scores else 1.0
    return Transcript(text, language, probability, avg_logprob, no_speech_prob, compression_ratio(text))


def _english_only_language(settings: EngineSettings, multilingual: bool) -> str | None:
    if multilingual:
        return settings.language
    if settings.language not in (None, "en"):
        raise ValueError(f"model {settings.model!r} is English-only; language {settings.language!r} is not possible")
    return "en"


class OpenAIWhisperEngine(WhisperEngine):
    backend = "openai-whisper"

    def __init__(self, settings: EngineSettings):
        super().__init__(settings)
        import whisper

        # plan() has already downloaded a named model (checksum verified): load_model gets its path
        self.model = whisper.load_model(self.plan.weights, device=self.device).eval()
        self.options = whisper.DecodingOptions(
            language=_english_only_language(settings, self.model.is_multilingual),
            temperature=0.0,
            beam_size=settings.beam_size if settings.beam_size > 1 else None,
            without_timestamps=True,
            fp16=self.compute_type == "float16",
        )

    def _seed(self, seed: int) -> None:
        import torch

        torch.manual_seed(seed)

    def _decode_short(self, audios: Sequence[np.ndarray], temperature: float = 0.0) -> list[Transcript]:
        import torch
        import whisper

        options = self.options
        if temperature > 0:
            options = dataclasses.replace(options, temperature=temperature, beam_size=None, best_of=BEST_OF)
        mel = log_mel_batch(audios, self.model.dims.n_mels, self.device)
        bf16 = torch.autocast(self.device, dtype=torch.bfloat16)
        with torch.inference_mode(), bf16 if self.compute_type == "bfloat16" else contextlib.nullcontext():
            # decode() wants float32 features under bf16 autocast: run the encoder ourselves
            features = self.model.encoder(mel.half() if self.compute_type == "float16" else mel)
            features = features if self.compute_type == "float16" else features.float()
            # decode() detects each clip's language when none is set but returns no probabilities
            # (only for task "lang_id"); detection on the same features gives them, and the same language
            probs = self.model.detect_language(features)[1] if options.language is None else None
            results = whisper.decode(self.model, features, options)
        return [
            Transcript(
                r.text.strip(),
                r.language,
                float(probs[i][r.language]) if probs else None,
                float(r.avg_logprob),
                float(r.no_speech_prob),
                compression_ratio(r.text.strip()),
            )
            for i, r in enumerate(results)
        ]

    def _transcribe_long(self, audio: np.ndarray) -> Transcript:
        import torch

        language, probability = self.options.language, None
        with torch.inference_mode():
            if language is None:  # transcribe() detects on the first window too, but keeps no probability
                _, probs = self.model.detect_language(log_mel_batch([audio], self.model.dims.n_mels, self.device))
                language = max(probs[0], key=probs[0].get)
                probability = float(probs[0][language])
            out = self.model.transcribe(
                torch.from_numpy(audio),
                language=language,
                temperature=(0.0, *FALLBACK_TEMPERATURES) if self.settings.temperature_fallback else 0.0,
                beam_size=self.options.beam_size,
                fp16=self.compute_type == "float16",
                verbose=None,
            )
        return _join_segments(
            out["text"], language, probability, [(s["avg_logprob"], s["no_speech_prob"]) for s in out["segments"]]
        )


class FasterWhisperEngine(WhisperEngine):
    backend = "faster-whisper"

    def __init__(self, settings: EngineSettings):
        super().__init__(settings)
        import torch
        from faster_whisper import WhisperModel

        self.model = WhisperModel(
            self.plan.weights, device=self.device, compute_type=self.compute_type, cpu_threads=torch.get_num_threads()
        )
        self.ct2 = ctranslate2_whisper(self.model)
        self.language = _english_only_language(settings, self.ct2.is_multilingual)
        self.suppress_tokens = faster_whisper_suppressed_tokens(self._tokenizer(self.language or "en"))

    def _tokenizer(self, language: str):
        return faster_whisper_tokenizer(self.model, language)

    def _seed(self, seed: int) -> None:
        import ctranslate2

        ctranslate2.set_random_seed(seed)

    def _decode_short(self, audios: Sequence[np.ndarray], temperature: float = 0.0) -> list[Transcript]:
        mel = log_mel_batch(audios, faster_whisper_mel_bins(self.model), "cpu").numpy()
        encoded = self.model.encode(mel)
        if self.language is None:  # best first: (token "<|fr|>", probability) pairs per clip
            best = [pairs[0] for pairs in self.ct2.detect_language(encoded)]
            languages = [token[2:-2] for token, _ in best]
            probabilities: list[float | None] = [float(p) for _, p in best]
        else:
            languages = [self.language] * len(audios)
            probabilities = [None] * len(audios)
        tokenizers = [self._tokenizer(lang) for lang in languages]
        prompts = [list(t.sot_sequence) + [t.no_timestamps] for t in tokenizers]
        if temperature > 0:
            search = {
                "beam_size": 1,
                "num_hypotheses": BEST_OF,
                "sampling_topk": 0,
                "sampling_temperature": temperature,
            }
        else:
            search = {"beam_size": self.settings.beam_size}
        results = self.ct2.generate(
            encoded,
            prompts,
            **search,
            max_length=len(prompts[0]) + MAX_NEW_TOKENS,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self.suppress_tokens,
        )
        transcripts = []
        for tokenizer, language, probability, result in zip(tokenizers, languages, probabilities, results):
            tokens = result.sequences_ids[0]
            # CTranslate2 scores are length-normalised; recover openai-whisper's avg_logprob
            avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            text = tokenizer.decode(tokens).strip()
            transcripts.append(
                Transcript(
                    text,
                    language,
                    probability,
                    float(avg_logprob),
                    float(result.no_speech_prob),
                    compression_ratio(text),
                )
            )
        return transcripts

    def _transcribe_long(self, audio: np.ndarray) -> Transcript:
        temperature = [0.0, *FALLBACK_TEMPERATURES] if self.settings.temperature_fallback else 0.0
        segments, info = self.model.transcribe(
            audio, language=self.language, beam_size=self.settings.beam_size, temperature=temperature, vad_filter=False
        )
        segments = list(segments)
        probability = float(info.language_probability) if self.language is None else None
        return _join_segments(
            "".join(s.text for s in segments),
            info.language,
            probability,
            [(s.avg_logprob, s.no_speech_prob) for s in segments],
        )


def load_engine(settings: EngineSettings) -> WhisperEngine:
    engines = {"openai-whisper": OpenAIWhisperEngine, "faster-whisper": FasterWhisperEngine}
    if settings.backend not in engines:
        raise ValueError(f"backend must be one of {sorted(engines)}, not {settings.backend!r}")
    return engines[settings.backend](settings)
