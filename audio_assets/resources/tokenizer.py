"""The audio tokeniser as a configurable resource: BEST-RQ (the default, no weights) or EnCodec."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import dagster as dg
import numpy as np
from pydantic import Field

from audio_assets.execution.priority import CpuPriority
from audio_assets.speech.bestrq import FRAMES_PER_SECOND, BestRqQuantizer
from audio_assets.speech.devices import check_device, resolve_device
from audio_assets.speech.encodec_tokens import (
    DEFAULT_WEIGHTS,
    EncodecShape,
    EncodecTokenizer,
    checkpoint_digest,
    encodec_shape,
    resolve_weights,
)

TokenizerBackend = Literal["bestrq", "encodec"]


class TokenEncoder(Protocol):
    """What the tokens step needs of a loaded backend."""

    sample_rate: int
    device: str
    settings_fingerprint: str

    def encode(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class TokenShape:
    """What the settings make of ``token_array``, known without loading a model. The tokens step
    records it in its metadata, and the checks judge each speaker's tokens by what was recorded."""

    backend: str
    tokens_per_second: float
    codebooks: int  # ids per time step in token_array: a clip's count may be off by this much
    codebook_size: int  # ids are in [0, codebook_size)
    layout: str

    def metadata(self) -> dict[str, str | float | int]:
        return {
            "backend": self.backend,
            "layout": self.layout,
            "codebooks": self.codebooks,
            "codebook_size": self.codebook_size,
            "expected_tokens_per_second": self.tokens_per_second,
        }

    @classmethod
    def from_metadata(cls, metadata: dict) -> TokenShape | None:
        """The shape a materialisation recorded; None for one made before shapes were recorded."""
        if "backend" not in metadata:
            return None
        return cls(
            metadata["backend"],
            float(metadata["expected_tokens_per_second"]),
            int(metadata["codebooks"]),
            int(metadata["codebook_size"]),
            metadata["layout"],
        )


@functools.lru_cache(maxsize=2)
def _quantizer(seed: int, codebook_size: int, codebook_dim: int, stack_frames: int, device: str) -> BestRqQuantizer:
    return BestRqQuantizer(seed, codebook_size, codebook_dim, stack_frames, device)


@functools.lru_cache(maxsize=2)
def _encodec(folder: Path, digest: str, bandwidth: float, layout: str, device: str) -> EncodecTokenizer:
    # keyed by the checkpoint's digest too: a folder rewritten in place is loaded again
    return EncodecTokenizer(folder, encodec_shape(folder, bandwidth, layout), device)


class AudioTokenizer(dg.ConfigurableResource):
    """Discrete audio tokens of every file: BEST-RQ ids (reproducible by seed, no weights needed) or
    EnCodec codec codes (decodable back to audio, for TTS training sets; needs the model's weights)."""

    backend: TokenizerBackend = Field(
        default="bestrq",
        description="bestrq: a frozen random-projection quantiser (BEST-RQ), 25 tokens/s by default. "
        "encodec: EnCodec 24 kHz codec codes, 75 frames/s, which the same model decodes back to audio.",
    )
    seed: int = Field(default=0, description="bestrq: seed of the projection and codebook.")
    codebook_size: int = Field(
        default=8192, ge=2, description="bestrq: number of codes; token ids are in [0, codebook_size)."
    )
    codebook_dim: int = Field(default=16, ge=1, description="bestrq: dimension of the projected space.")
    stack_frames: int = Field(default=4, ge=1, description="bestrq: 10 ms frames per token; 4 gives 25 tokens/s.")
    weights: str = Field(
        default=DEFAULT_WEIGHTS,
        description="encodec: a folder written by EncodecModel.save_pretrained (config.json, model.safetensors), "
        "or a Hugging Face model id, downloaded once into the Hugging Face cache where there is internet.",
    )
    bandwidth: float = Field(
        default=6.0,
        description="encodec: kbps, one of the model's (1.5, 3, 6, 12, 24 for the 24 kHz model), i.e. "
        "2, 4, 8, 16 or 32 codebooks of 1,024 codes.",
    )
    layout: Literal["first", "interleaved"] = Field(
        default="interleaved",
        description="encodec: what token_array holds; 'interleaved': every codebook, frame by frame "
        "(t0q0, t0q1, …, t1q0, …); 'first': the first codebook only (75 ids/s, not decodable alone).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto picks CUDA when present.")
    batch_size: int = Field(default=64, ge=1, description="Files read and tokenised together.")
    cpu_threads: int = Field(
        default=1,
        ge=0,
        description="CPU threads for this step (0: all cores). 1 by default: BEST-RQ is cheap beside "
        "transcription, and a second busy thread pool on the cores transcription uses slows both down. "
        "EnCodec costs more: give it more where transcription does not use every core.",
    )
    cpu_priority: CpuPriority = Field(
        default="idle",
        description="CPU priority of this step's threads (Linux). It runs beside transcription on the same "
        "cores, so by default it takes only the time transcription leaves idle instead of an equal share. "
        "'idle': the SCHED_IDLE class, which also lets transcription's threads take a core back at once "
        "(README: Throughput); 'low': nice 19; 'normal': as any step.",
    )

    def _encodec_shape(self) -> EncodecShape:
        return encodec_shape(resolve_weights(self.weights), self.bandwidth, self.layout)

    def shape(self) -> TokenShape:
        """Rate, codebooks and id range of these settings; for EnCodec from the checkpoint's config."""
        if self.backend == "bestrq":
            return TokenShape("bestrq", FRAMES_PER_SECOND / self.stack_frames, 1, self.codebook_size, "single")
        shape = self._encodec_shape()
        return TokenShape("encodec", shape.tokens_per_second, shape.tokens_per_frame, shape.codebook_size, shape.layout)

    def encoder(self) -> TokenEncoder:
        """The loaded backend (loaded on first use in this process, then reused)."""
        device = resolve_device(self.device)
        if self.backend == "bestrq":
            return _quantizer(self.seed, self.codebook_size, self.codebook_dim, self.stack_frames, device)
        folder = resolve_weights(self.weights)
        return _encodec(folder, checkpoint_digest(folder), float(self.bandwidth), self.layout, device)

    def apply_cpu_threads(self) -> None:
        """Limit this process's torch threads to ``cpu_threads`` (0 leaves them as they are). The tokens
        step calls it: the listing step, which also holds this resource, must not import torch (see
        execution/forkserver_preload.py)."""
        if self.cpu_threads:
            import torch

            torch.set_num_threads(self.cpu_threads)

    def preflight(self) -> None:
        """Raise one clear error if these settings cannot run here: CUDA asked for but absent, EnCodec
        weights that are not here and cannot be downloaded, a bandwidth the model lacks. Imports no
        torch; the listing step calls it."""
        check_device(self.device)
        if self.backend == "encodec":
            self._encodec_shape()
