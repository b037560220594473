"""BEST-RQ random-projection quantiser (Chiu et al. 2022, arXiv 2202.01855): real discrete audio tokens.

16 kHz audio → 80-bin log-mel (25 ms window, 10 ms hop) → per-utterance mean/variance normalisation
→ stack ``stack_frames`` frames → frozen Xavier-uniform projection → L2-normalise → index of the
nearest (cosine) row of a frozen, L2-normalised N(0, 1) codebook.

Projection and codebook are drawn from a seeded CPU ``torch.Generator``, so the same seed gives the
same tokens on any machine. Log-mels are computed one file at a time (padding a batch would change the
last frames of shorter files); the projection runs batched in float64, and the nearest code is found
in float32 and confirmed in float64 wherever the best two codes are closer than float32 can tell
apart, so the tokens are those of an all-float64 computation and a file's tokens do not depend on
which other files share its batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from audio_assets.speech.decoding import SAMPLE_RATE

N_MELS = 80
RECIPE_VERSION = "1"  # bump when a change here alters tokens, so cached ones are recomputed
FRAMES_PER_SECOND = 100  # 10 ms hop at 16 kHz
AMBIGUOUS = 1e-4  # float32 cosine gaps below this are settled in float64
CHUNK_ROWS = 256  # tokens scored at once: 256 × 8192 float32 scores (8 MB)


class BestRqQuantizer:
    sample_rate = SAMPLE_RATE  # of the clips ``encode`` takes

    def __init__(
        self,
        seed: int = 0,
        codebook_size: int = 8192,
        codebook_dim: int = 16,
        stack_frames: int = 4,
        device: str = "cpu",
    ):
        import torch

        if codebook_size < 2 or codebook_dim < 1 or stack_frames < 1:
            raise ValueError("codebook_size ≥ 2, codebook_dim ≥ 1 and stack_frames ≥ 1 are required")
        self.stack_frames = stack_frames
        self.codebook_size = codebook_size
        self.device = device
        generator = torch.Generator(device="cpu").manual_seed(seed)
        projection = torch.empty(N_MELS * stack_frames, codebook_dim)
        torch.nn.init.xavier_uniform_(projection, generator=generator)
        codebook = torch.nn.functional.normalize(torch.randn(codebook_size, codebook_dim, generator=generator), dim=1)
        # identifies the tokens this quantiser produces: same fingerprint + same audio → same tokens
        self.fingerprint = hashlib.sha256(projection.numpy().tobytes() + codebook.numpy().tobytes()).hexdigest()[:16]
        self.settings_fingerprint = f"{RECIPE_VERSION}-{stack_frames}-{self.fingerprint}"
        self._projection = projection.double().to(device)
        self._codebook_t = codebook.double().T.contiguous().to(device)
        self._codebook_t32 = self._codebook_t.float()

    def _stacked_features(self, audio: np.ndarray):
        import torch
        import whisper

        if len(audio) < whisper.audio.N_FFT:  # shorter than one 25 ms window: no frame, no token
            return torch.zeros(0, N_MELS * self.stack_frames, dtype=torch.float64, device=self.device)
        mel = whisper.log_mel_spectrogram(torch.from_numpy(audio), n_mels=N_MELS, device=self.device).T  # frames × 80
        usable = (mel.shape[0] // self.stack_frames) * self.stack_frames
        mel = mel[:usable].double()
        mel = (mel - mel.mean(dim=0)) / (mel.std(dim=0, unbiased=False) + 1e-5)
        return mel.reshape(-1, N_MELS * self.stack_frames)

    def _nearest_codes(self, projected):
        """argmax of the float64 cosines, computed in float32 (4× cheaper). Both vectors are unit
        length, so float32 scores are within ~1e-6 of the float64 ones: wherever the top two differ by
        less than AMBIGUOUS the float64 scores decide. On the CPU, rows go in chunks whose score matrix
        stays in the cache (2.7× faster than one large product)."""
        import torch

        ids = torch.empty(len(projected), dtype=torch.int64, device=projected.device)
        rows = CHUNK_ROWS if projected.device.type == "cpu" else max(1, len(projected))  # a GPU takes all at once
        for start in range(0, len(projected), rows):
            part = projected[start : start + rows]
            scores = part.float() @ self._codebook_t32
            best, chunk_ids = scores.max(dim=1)
            scores.scatter_(1, chunk_ids[:, None], float("-inf"))
            ambiguous = (best - scores.max(dim=1).values) < AMBIGUOUS
            if ambiguous.any():
                chunk_ids[ambiguous] = (part[ambiguous] @ self._codebook_t).argmax(dim=1)
            ids[start : start + rows] = chunk_ids
        return ids

    def encode(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Token ids (int32) for each 16 kHz mono clip: one per ``stack_frames`` × 10 ms of audio."""
        import torch

        with torch.inference_mode():
            stacked = [self._stacked_features(a) for a in audios]
            lengths = [len(s) for s in stacked]
            if sum(lengths) == 0:
                return [np.zeros(0, dtype=np.int32) for _ in audios]
            projected = torch.nn.functional.normalize(torch.cat(stacked) @ self._projection, dim=1)
            ids = self._nearest_codes(projected).to(torch.int32).cpu().numpy()
        return [part.copy() for part in np.split(ids, np.cumsum(lengths)[:-1])]
