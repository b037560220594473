"""The BEST-RQ audio tokeniser as a configurable resource."""

from __future__ import annotations

import functools
from typing import Literal

import dagster as dg
from pydantic import Field

from audio_assets.execution.priority import CpuPriority
from audio_assets.speech.bestrq import FRAMES_PER_SECOND, BestRqQuantizer
from audio_assets.speech.devices import check_device, resolve_device


@functools.lru_cache(maxsize=2)
def _quantizer(seed: int, codebook_size: int, codebook_dim: int, stack_frames: int, device: str) -> BestRqQuantizer:
    return BestRqQuantizer(seed, codebook_size, codebook_dim, stack_frames, device)


class BestRqTokenizer(dg.ConfigurableResource):
    """Discrete audio tokens from a frozen random-projection quantiser (BEST-RQ); reproducible by seed."""

    seed: int = Field(default=0, description="Seed of the projection and codebook.")
    codebook_size: int = Field(default=8192, ge=2, description="Number of codes: token ids are in [0, codebook_size).")
    codebook_dim: int = Field(default=16, ge=1, description="Dimension of the projected space.")
    stack_frames: int = Field(default=4, ge=1, description="10 ms frames per token: 4 gives 25 tokens/s.")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto picks CUDA when present.")
    batch_size: int = Field(default=64, ge=1, description="Files quantised together.")
    cpu_threads: int = Field(
        default=1,
        ge=0,
        description="CPU threads for this step (0: all cores). 1 by default: the tokeniser is cheap beside "
        "transcription, and a second busy thread pool on the cores transcription uses slows both down.",
    )
    cpu_priority: CpuPriority = Field(
        default="idle",
        description="CPU priority of this step's threads (Linux). It runs beside transcription on the same "
        "cores and needs little of their time, so by default it takes only the time transcription leaves "
        "idle instead of an equal share. 'idle': the SCHED_IDLE class, which also lets transcription's "
        "threads take a core back at once (README: Throughput); 'low': nice 19; 'normal': as any step.",
    )

    @property
    def tokens_per_second(self) -> float:
        return FRAMES_PER_SECOND / self.stack_frames

    def quantizer(self) -> BestRqQuantizer:
        device = resolve_device(self.device)
        return _quantizer(self.seed, self.codebook_size, self.codebook_dim, self.stack_frames, device)

    def apply_cpu_threads(self) -> None:
        """Limit this process's torch threads to ``cpu_threads`` (0 leaves them as they are). The tokens
        step calls it: the listing step, which also holds this resource, must not import torch (see
        execution/forkserver_preload.py)."""
        if self.cpu_threads:
            import torch

            torch.set_num_threads(self.cpu_threads)

    def preflight(self) -> None:
        """Raise if ``device`` cannot be used here (CUDA asked for but absent); the listing step calls it."""
        check_device(self.device)
