"""The Whisper model as a configurable resource, loaded once per step process."""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import dagster as dg
from pydantic import Field

from audio_assets.speech.models import default_cache_dir
from audio_assets.speech.whisper_engines import EngineSettings, WhisperEngine, check, fingerprint, load_engine, plan

# One loaded model per process and configuration: every partition a step handles reuses it.
_cached_engine = functools.lru_cache(maxsize=2)(load_engine)
_cached_plan = functools.lru_cache(maxsize=8)(plan)


class WhisperResource(dg.ConfigurableResource):
    """Speech recognition with Whisper, batched across files.

    ``model`` is a name ("tiny.en", "base", "large-v3") or a local path (a CTranslate2 folder or an
    openai-whisper ``.pt``). "tiny.en" (English) and "base" (multilingual, with the extra
    audio_assets[base]) need no network; other names are downloaded by the backend on machines with
    internet.
    """

    backend: Literal["openai-whisper", "faster-whisper"] = Field(
        default="openai-whisper", description="openai-whisper (PyTorch) or faster-whisper (CTranslate2)."
    )
    model: str = Field(default="tiny.en", description="Model name or local path.")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto picks CUDA when present.")
    compute_type: str = Field(
        default="auto",
        description="auto: float16 on CUDA; on CPU bfloat16 (openai-whisper, where the CPU has native bf16) "
        "or int8 (faster-whisper). Or float32, bfloat16, float16, int8, ...",
    )
    language: str | None = Field(
        default=None,
        description="Language code for every file; None detects each file's language (multilingual models).",
    )
    beam_size: int = Field(
        default=1, ge=1, description="1 = greedy. openai-whisper decodes one file at a time when > 1."
    )
    batch_size: int = Field(default=16, ge=1, description="Clips of up to 30 s decoded together.")
    temperature_fallback: bool = Field(
        default=False,
        description="Re-decode a greedy result that looks like a loop or a guess by sampling at rising "
        "temperatures (openai-whisper's transcribe() default), seeded by the audio so reruns agree. Off by "
        "default: see the benchmark figures in the README.",
    )
    cache_dir: str = Field(
        default="", description="Where derived or downloaded weights go (default ~/.cache/audio_assets)."
    )
    reuse_freed_memory: bool = Field(
        default=True,
        description="Keep freed memory in the step process for the next batch (glibc malloc thresholds) "
        "instead of handing it back to the kernel and faulting it in again; the process then keeps its peak "
        "memory until it exits.",
    )

    def settings(self) -> EngineSettings:
        # the engine's settings are this resource's fields of the same names, so they cannot drift apart
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(EngineSettings)}
        return EngineSettings(**{**fields, "cache_dir": self.cache_dir or str(default_cache_dir())})

    def fingerprint(self) -> str:
        """Identifies the transcripts these settings produce, without loading the model."""
        settings = self.settings()
        return fingerprint(settings, _cached_plan(settings))

    def engine(self) -> WhisperEngine:
        """The loaded model (loaded on first use in this process, then reused)."""
        return _cached_engine(self.settings())

    def preflight(self) -> None:
        """Raise one clear error if these settings cannot run on this machine: a model that is not here
        and cannot be downloaded, a CUDA device that is not there, an impossible precision. Loads no
        model, and imports no torch for the usual settings; the listing step calls it."""
        check(self.settings())
