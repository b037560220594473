"""EnCodec codec tokens (Défossez et al. 2022, arXiv 2210.13438), through transformers' ``EncodecModel``.

A 24 kHz mono clip becomes, per frame of ``hop_length`` samples (75 frames/s), one id from each of
``n_codebooks`` residual codebooks of 1,024 codes; the bandwidth sets how many codebooks are used. The
codes decode back to audio with the same model, which is what a TTS model trained on them needs.

A clip's codes do not depend on its batch or the thread count: each clip is encoded alone, zero-padded
to whole frames, and the residual codebooks are searched in float64. Only causal mono checkpoints (the
24 kHz model) are accepted, whose last frames do not depend on how far the input runs on.

Weights are a local ``save_pretrained`` folder, or a Hugging Face model id that huggingface_hub
downloads once into its cache. Only ``config.json`` is read to check the settings, so checking them
imports no torch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_assets.upstream import encodec_codebooks, encodec_embeddings

DEFAULT_WEIGHTS = "facebook/encodec_24khz"
RECIPE_VERSION = "1"  # bump when a change here alters codes, so cached ones are recomputed
WEIGHT_FILES = ("config.json", "model.safetensors")


class WeightsNotAvailable(RuntimeError):
    """The configured EnCodec weights are not on this machine and cannot be fetched, or are unusable."""


@dataclass(frozen=True)
class EncodecShape:
    """What a checkpoint and the settings make of ``token_array``; from ``config.json`` alone."""

    sample_rate: int
    hop_length: int
    codebook_size: int
    n_codebooks: int  # what the bandwidth buys
    layout: str  # "first": codebook 0 only; "interleaved": t0q0, t0q1, …, t1q0, …

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def tokens_per_frame(self) -> int:
        """Codebooks in ``token_array``: residual codebook 0 does not depend on the ones after it, so
        "first" needs only that one whatever the bandwidth."""
        return self.n_codebooks if self.layout == "interleaved" else 1

    @property
    def tokens_per_second(self) -> float:
        return self.frame_rate * self.tokens_per_frame


def resolve_weights(weights: str) -> Path:
    """The local folder of ``weights``: the folder itself, or the Hugging Face snapshot of a model id,
    downloaded when it is not cached yet. One clear error when neither works."""
    path = Path(weights).expanduser()
    if path.is_dir():
        return _complete(path.resolve(), repr(str(path)))
    if path.is_absolute() or weights.startswith((".", "~")) or weights.count("/") != 1:
        raise WeightsNotAvailable(f"EnCodec weights {weights!r}: no such folder, and not a Hugging Face model id")
    return _complete(_snapshot(weights), f"{weights!r} in the Hugging Face cache")


@functools.lru_cache(maxsize=4)
def _snapshot(repo_id: str) -> Path:
    """One hub lookup per process for a model id (the listing, tokens and check steps each ask)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=list(WEIGHT_FILES)))
    except Exception as error:  # offline, unknown id, gated repo: all need the same action
        raise WeightsNotAvailable(
            f"EnCodec weights {repo_id!r} are not in the Hugging Face cache and could not be downloaded "
            f"({type(error).__name__}). On a machine with internet run `hf download {repo_id}` (it fills "
            "the cache, HF_HOME), or save the model with EncodecModel.save_pretrained and set the "
            "tokenizer's `weights` to that folder."
        ) from None


def _complete(folder: Path, what: str) -> Path:
    # offline, huggingface_hub returns a cached snapshot as it is, even one holding only config.json
    missing = [name for name in WEIGHT_FILES if not (folder / name).is_file()]
    if missing:
        raise WeightsNotAvailable(
            f"EnCodec weights {what} lack {', '.join(missing)}: a folder written by EncodecModel.save_pretrained "
            "holds both"
        )
    return folder


def encodec_shape(folder: Path, bandwidth: float, layout: str) -> EncodecShape:
    """Check that the checkpoint in ``folder`` can be batched this way and supports ``bandwidth``."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if (kind := config.get("model_type")) != "encodec":
        raise WeightsNotAvailable(f"{folder}/config.json is not an EnCodec model: model_type {kind!r}")
    mono_causal = config.get("audio_channels", 1) == 1 and config.get("use_causal_conv", True)
    if not mono_causal or config.get("chunk_length_s") or config.get("normalize"):
        raise WeightsNotAvailable(
            f"{folder} is not a causal mono EnCodec model without input scaling, such as {DEFAULT_WEIGHTS}"
        )
    bandwidths = [float(b) for b in config["target_bandwidths"]]
    if float(bandwidth) not in bandwidths:
        raise ValueError(f"EnCodec bandwidth {bandwidth} kbps is not one of this model's: {bandwidths}")
    if layout not in ("first", "interleaved"):
        raise ValueError(f"EnCodec layout must be 'first' or 'interleaved', not {layout!r}")
    sample_rate, codebook_size = int(config["sampling_rate"]), int(config["codebook_size"])
    hop_length = math.prod(config["upsampling_ratios"])
    bits_per_second_per_codebook = math.log2(codebook_size) * sample_rate / hop_length
    n_codebooks = max(1, math.floor(bandwidth * 1000 / bits_per_second_per_codebook))  # as the model counts them
    return EncodecShape(sample_rate, hop_length, codebook_size, n_codebooks, layout)


def checkpoint_digest(folder: Path) -> str:
    """sha256 of the checkpoint's config and weights: the config decides codes too (padding, strides)."""
    files = [folder / name for name in WEIGHT_FILES]
    return _digest(tuple(files), tuple((f.stat().st_size, f.stat().st_mtime_ns) for f in files))


@functools.lru_cache(maxsize=4)
def _digest(files: tuple[Path, ...], stats: tuple) -> str:
    digest = hashlib.sha256()
    for path in files:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()[:16]


class EncodecTokenizer:
    """A loaded EnCodec model that turns clips at ``sample_rate`` into ``token_array`` ids."""

    def __init__(self, folder: Path, shape: EncodecShape, device: str = "cpu"):
        import torch
        from transformers import EncodecModel

        self.shape, self.device = shape, device
        self.sample_rate = shape.sample_rate
        # codes depend on the checkpoint, the codebooks used, the layout and the device's arithmetic
        self.settings_fingerprint = (
            f"encodec{RECIPE_VERSION}-{checkpoint_digest(folder)}-q{shape.tokens_per_frame}-{shape.layout}-{device}"
        )
        # float32 whatever the checkpoint was saved in: the clips are float32
        self.model = EncodecModel.from_pretrained(folder, dtype=torch.float32).to(device).eval()
        self._codebooks = [c.double() for c in encodec_codebooks(self.model, shape.tokens_per_frame)]
        self._squared_norms = [(c * c).sum(dim=1) for c in self._codebooks]
        self._torch = torch

    def _quantise(self, embeddings):
        """Residual quantisation of frames × dim embeddings, in float64: transformers' own, in float32
        with an expanded distance, rounds near-ties differently with the thread count (README)."""
        residual = embeddings.double()
        ids = []
        for codebook, squared_norms in zip(self._codebooks, self._squared_norms):
            nearest = (squared_norms - 2 * residual @ codebook.T).argmin(dim=1)  # ‖r‖² is the same for all
            residual = residual - codebook[nearest]
            ids.append(nearest)
        return self._torch.stack(ids)

    def codes(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Codes of shape ``[tokens_per_frame, frames]`` (int32) for each clip: ceil(samples / hop) frames, the
        last zero-padded. One clip per forward pass, so that no clip's arithmetic depends on which others
        share its batch."""
        torch, hop = self._torch, self.shape.hop_length
        out = []
        for audio in audios:
            frames = math.ceil(len(audio) / hop)
            padded = np.zeros(frames * hop, np.float32)
            padded[: len(audio)] = audio
            with torch.inference_mode():
                embeddings = encodec_embeddings(self.model, torch.from_numpy(padded).to(self.device)[None, None])
                out.append(self._quantise(embeddings[0].T).to(torch.int32).cpu().numpy())
        return out

    def encode(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``token_array`` of each clip in the configured layout."""
        if self.shape.layout == "first":
            return [c[0].copy() for c in self.codes(audios)]
        return [c.T.reshape(-1) for c in self.codes(audios)]


def codes_from_token_array(token_array: Sequence[int], n_codebooks: int) -> np.ndarray:
    """An interleaved ``token_array`` back to codes of shape ``[n_codebooks, frames]``."""
    return np.asarray(token_array, dtype=np.int64).reshape(-1, n_codebooks).T


def write_random_checkpoint(folder: Path, seed: int = 0) -> Path:
    """A seeded, randomly initialised EnCodec 24 kHz model saved where ``weights`` can point: the real
    model code with meaningless codes, for tests and benchmarks on machines without the real weights.
    transformers initialises the codebooks to zeros (every id would be 0), so each residual codebook is
    drawn, as k-means would start, from the encoder's frames of seeded noise at random levels."""
    import torch
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(seed)
    model = EncodecModel(EncodecConfig()).eval()
    generator = torch.Generator().manual_seed(seed)
    hop, frames = math.prod(model.config.upsampling_ratios), 2 * model.config.codebook_size
    levels = torch.exp(torch.empty(frames, 1).uniform_(-7, 0, generator=generator))  # -60 to 0 dB
    noise = (torch.randn(frames, hop, generator=generator) * levels).reshape(1, 1, -1)
    with torch.inference_mode():
        residual = encodec_embeddings(model, noise)[0].T  # frames × codebook_dim
    with torch.no_grad():
        for embed in encodec_codebooks(model, model.config.num_quantizers):
            codebook = residual[torch.randperm(len(residual), generator=generator)[: model.config.codebook_size]]
            embed.copy_(codebook)
            residual = residual - codebook[torch.cdist(residual, codebook).argmin(dim=1)]
    model.save_pretrained(folder)
    return Path(folder)
