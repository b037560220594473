"""Batched Whisper transcription on two backends that give the same greedy transcripts.

Whisper always encodes a 30 s window, so a 3 s clip costs almost as much as a 30 s one: clips up to
30 s are stacked into batches and decoded together. Longer files go through the backend's own
long-form algorithm (sequential 30 s windows with timestamps), one file at a time.
"""

from __future__ import annotations

import contextlib
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_assets.speech.audio import SAMPLE_RATE
from audio_assets.speech.devices import cpu_supports_bf16, resolve_device
from audio_assets.speech.models import ModelNotAvailable, ct2_dir_for, offline_hint, openai_whisper_checkpoint

WINDOW_SAMPLES = 30 * SAMPLE_RATE
MAX_NEW_TOKENS = 224  # openai-whisper's default sample_len (n_text_ctx // 2)
BACKENDS = ("openai-whisper", "faster-whisper")


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
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
    cache_dir: str = ""


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


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


class WhisperEngine(ABC):
    """One loaded model; ``transcribe`` takes any number of 16 kHz mono clips."""

    backend: str
    runtime: str  # what sees the GPU: "torch" or "ctranslate2"

    def __init__(self, settings: EngineSettings):
        self.settings = settings
        self.device = resolve_device(settings.device, self.runtime)

    @property
    @abstractmethod
    def description(self) -> dict[str, str]:
        """Model, backend, device and precision actually in use, for run metadata."""

    def transcribe(self, audios: Sequence[np.ndarray]) -> list[Transcript]:
        results: list[Transcript | None] = [None] * len(audios)
        short = [i for i, a in enumerate(audios) if len(a) <= WINDOW_SAMPLES]
        # beam search with batch > 1 is broken in openai-whisper (PR #2197): batch 1 then
        step = self.settings.batch_size if self.settings.beam_size <= 1 or self.backend != "openai-whisper" else 1
        for start in range(0, len(short), max(1, step)):
            chunk = short[start : start + step]
            for i, transcript in zip(chunk, self._decode_short([audios[i] for i in chunk])):
                results[i] = transcript
        for i, audio in enumerate(audios):
            if results[i] is None:
                results[i] = self._transcribe_long(audio)
        return results  # type: ignore[return-value]

    @abstractmethod
    def _decode_short(self, audios: Sequence[np.ndarray]) -> list[Transcript]:
        """Clips of at most 30 s, decoded as one batch."""

    @abstractmethod
    def _transcribe_long(self, audio: np.ndarray) -> Transcript:
        """A clip longer than 30 s, by the backend's long-form algorithm."""


class OpenAIWhisperEngine(WhisperEngine):
    backend = "openai-whisper"
    runtime = "torch"

    def __init__(self, settings: EngineSettings):
        super().__init__(settings)
        import torch
        import whisper

        checkpoint = openai_whisper_checkpoint(settings.model, Path(settings.cache_dir))
        try:
            if Path(checkpoint).is_file():
                state = torch.load(checkpoint, map_location="cpu", weights_only=True)
                model = whisper.model.Whisper(whisper.model.ModelDimensions(**state["dims"]))
                model.load_state_dict(state["model_state_dict"], strict=True)
                if state.get("alignment_heads"):
                    model.set_alignment_heads(state["alignment_heads"].encode("ascii"))
            else:
                model = whisper.load_model(
                    checkpoint, device="cpu", download_root=str(Path(settings.cache_dir) / "whisper")
                )
        except (OSError, RuntimeError) as error:  # urllib errors are OSErrors
            raise offline_hint(settings.model, error) from error
        self.model = model.to(self.device).eval()
        self.precision = self._precision(settings.compute_type)
        language = settings.language
        if not self.model.is_multilingual and language in (None, "en"):
            language = "en"
        elif not self.model.is_multilingual:
            raise ValueError(f"model {settings.model!r} is English-only; language {language!r} is not possible")
        self.options = whisper.DecodingOptions(
            language=language,
            temperature=0.0,
            beam_size=settings.beam_size if settings.beam_size > 1 else None,
            without_timestamps=True,
            fp16=self.precision == "float16",
        )

    def _precision(self, compute_type: str) -> str:
        if compute_type == "auto":
            if self.device == "cuda":
                return "float16"
            return "bfloat16" if cpu_supports_bf16() else "float32"
        if compute_type not in ("float32", "float16", "bfloat16"):
            raise ValueError(
                f"openai-whisper compute_type must be auto, float32, float16 or bfloat16, not {compute_type!r}"
            )
        if compute_type == "float16" and self.device != "cuda":
            raise ValueError(
                "compute_type float16 needs a CUDA device for openai-whisper; use bfloat16 or float32 on CPU"
            )
        return compute_type

    @property
    def description(self) -> dict[str, str]:
        return {
            "backend": self.backend,
            "model": self.settings.model,
            "device": self.device,
            "compute_type": self.precision,
        }

    def _autocast(self):
        import torch

        if self.precision == "bfloat16":
            return torch.autocast(self.device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _decode_short(self, audios: Sequence[np.ndarray]) -> list[Transcript]:
        import torch
        import whisper

        mel = log_mel_batch(audios, self.model.dims.n_mels, self.device)
        with torch.inference_mode():
            if self.precision == "float16":
                results = whisper.decode(self.model, mel.half(), self.options)
            else:
                with self._autocast():
                    # decode() wants float32 features under bf16 autocast: run the encoder ourselves
                    features = self.model.encoder(mel).float()
                    results = whisper.decode(self.model, features, self.options)
        return [
            Transcript(
                r.text.strip(),
                r.language,
                float(r.avg_logprob),
                float(r.no_speech_prob),
                compression_ratio(r.text.strip()),
            )
            for r in results
        ]

    def _transcribe_long(self, audio: np.ndarray) -> Transcript:
        import torch

        with torch.inference_mode():
            out = self.model.transcribe(
                torch.from_numpy(audio),
                language=self.options.language,
                temperature=0.0,
                beam_size=self.options.beam_size,
                fp16=self.precision == "float16",
                verbose=None,
            )
        return _join_segments(
            out["text"], out["language"], [(s["avg_logprob"], s["no_speech_prob"]) for s in out["segments"]]
        )


class FasterWhisperEngine(WhisperEngine):
    backend = "faster-whisper"
    runtime = "ctranslate2"

    def __init__(self, settings: EngineSettings):
        super().__init__(settings)
        import torch
        from faster_whisper import WhisperModel

        ct2_dir = ct2_dir_for(settings.model)
        self.compute_type = settings.compute_type
        if self.compute_type == "auto":
            self.compute_type = "float16" if self.device == "cuda" else "int8"
        try:
            self.model = WhisperModel(
                str(ct2_dir) if ct2_dir else settings.model,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=torch.get_num_threads(),
                download_root=str(Path(settings.cache_dir) / "faster-whisper"),
            )
        except ValueError:
            raise
        except Exception as error:  # huggingface_hub raises its own hierarchy when offline
            raise offline_hint(settings.model, error) from error
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self._tokenizer_cls = Tokenizer
        multilingual = self.model.model.is_multilingual
        if not multilingual and settings.language not in (None, "en"):
            raise ValueError(
                f"model {settings.model!r} is English-only; language {settings.language!r} is not possible"
            )
        self.language = settings.language if multilingual else "en"
        probe_tokenizer = Tokenizer(
            self.model.hf_tokenizer, multilingual, task="transcribe", language=self.language or "en"
        )
        self.suppress_tokens = list(get_suppressed_tokens(probe_tokenizer, [-1]))

    @property
    def description(self) -> dict[str, str]:
        return {
            "backend": self.backend,
            "model": self.settings.model,
            "device": self.device,
            "compute_type": self.compute_type,
        }

    def _tokenizer(self, language: str):
        return self._tokenizer_cls(
            self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe", language=language
        )

    def _decode_short(self, audios: Sequence[np.ndarray]) -> list[Transcript]:
        mel = log_mel_batch(audios, self.model.feature_extractor.mel_filters.shape[0], "cpu").numpy()
        encoded = self.model.encode(mel)
        if self.language is None:
            languages = [pairs[0][0][2:-2] for pairs in self.model.model.detect_language(encoded)]
        else:
            languages = [self.language] * len(audios)
        tokenizers = [self._tokenizer(lang) for lang in languages]
        prompts = [list(t.sot_sequence) + [t.no_timestamps] for t in tokenizers]
        results = self.model.model.generate(
            encoded,
            prompts,
            beam_size=self.settings.beam_size,
            max_length=len(prompts[0]) + MAX_NEW_TOKENS,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self.suppress_tokens,
        )
        transcripts = []
        for tokenizer, language, result in zip(tokenizers, languages, results):
            tokens = result.sequences_ids[0]
            # CTranslate2 scores are length-normalised; recover openai-whisper's avg_logprob
            avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            text = tokenizer.decode(tokens).strip()
            transcripts.append(
                Transcript(text, language, float(avg_logprob), float(result.no_speech_prob), compression_ratio(text))
            )
        return transcripts

    def _transcribe_long(self, audio: np.ndarray) -> Transcript:
        segments, info = self.model.transcribe(
            audio,
            language=self.language,
            beam_size=self.settings.beam_size,
            temperature=0.0,
            vad_filter=False,
        )
        segments = list(segments)
        return _join_segments(
            "".join(s.text for s in segments), info.language, [(s.avg_logprob, s.no_speech_prob) for s in segments]
        )


def _join_segments(text: str, language: str, scores: list[tuple[float, float]]) -> Transcript:
    text = text.strip()
    avg_logprob = float(np.mean([s[0] for s in scores])) if scores else 0.0
    no_speech_prob = float(np.mean([s[1] for s in scores])) if scores else 1.0
    return Transcript(text, language, avg_logprob, no_speech_prob, compression_ratio(text))


def load_engine(settings: EngineSettings) -> WhisperEngine:
    if settings.backend == "openai-whisper":
        return OpenAIWhisperEngine(settings)
    if settings.backend == "faster-whisper":
        return FasterWhisperEngine(settings)
    raise ValueError(f"backend must be one of {BACKENDS}, not {settings.backend!r}")


__all__ = ["BACKENDS", "EngineSettings", "ModelNotAvailable", "Transcript", "WhisperEngine", "load_engine"]
