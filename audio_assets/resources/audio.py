"""AUDIO_ROOT as a resource: speaker folders, their audio files, and reads that cannot leave the root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field


class UnsafePath(ValueError):
    """A partition key, file id or symlink that would lead outside AUDIO_ROOT."""


@dataclass(frozen=True)
class AudioFile:
    id: str  # "<speaker>/<path inside the speaker folder>", forward slashes
    problem: str | None = None  # why the file must not be read, found while listing


class AudioLibrary(dg.ConfigurableResource):
    """The folder of speaker folders. Every path is resolved and checked to stay inside ``root``."""

    root: str = Field(description="AUDIO_ROOT: a folder holding one sub-folder of audio files per speaker.")
    extensions: list[str] = Field(default=[".flac"], description="File suffixes to process (case-insensitive).")

    def root_path(self) -> Path:
        root = Path(self.root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"AUDIO_ROOT {self.root!r} does not exist or is not a folder")
        return root.resolve()

    def speakers(self) -> list[str]:
        """Names of the speaker folders, sorted; hidden folders and escaping symlinks are left out."""
        root = self.root_path()
        names = []
        for entry in os.scandir(root):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            if not Path(entry.path).resolve().is_relative_to(root):
                continue
            names.append(entry.name)
        return sorted(names)

    def speaker_dir(self, speaker: str) -> Path:
        """The folder of one speaker; refuses keys that are not a plain folder name inside the root."""
        if not speaker or speaker in (".", "..") or "/" in speaker or "\\" in speaker or "\0" in speaker:
            raise UnsafePath(f"speaker {speaker!r} is not a plain folder name")
        root = self.root_path()
        folder = (root / speaker).resolve()
        if not folder.is_relative_to(root):
            raise UnsafePath(f"speaker folder {speaker!r} resolves outside AUDIO_ROOT")
        if not folder.is_dir():
            raise FileNotFoundError(f"speaker folder {speaker!r} does not exist in AUDIO_ROOT {str(root)!r}")
        return folder

    def list_files(self, speaker: str) -> list[AudioFile]:
        """Audio files of a speaker, nested folders included, sorted by id. Symlinks are followed only
        while they stay inside AUDIO_ROOT; others are listed with a problem and never opened."""
        root = self.root_path()
        top = self.speaker_dir(speaker)
        suffixes = tuple(s.lower() for s in self.extensions)
        files = []
        for folder, dirnames, filenames in os.walk(top, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith(".") or not name.lower().endswith(suffixes):
                    continue
                path = Path(folder) / name
                file_id = f"{speaker}/{path.relative_to(top).as_posix()}"
                target = path.resolve()
                if not target.is_relative_to(root):
                    files.append(AudioFile(file_id, "symlink points outside AUDIO_ROOT; not read"))
                elif not target.is_file():
                    files.append(AudioFile(file_id, "not a regular file"))
                else:
                    files.append(AudioFile(file_id))
        return sorted(files, key=lambda f: f.id)

    def read_bytes(self, file_id: str) -> bytes:
        """The encoded bytes of one file, by id; ids that would leave AUDIO_ROOT are refused."""
        speaker, _, inner = file_id.partition("/")
        parts = inner.split("/")
        if not inner or any(p in ("", ".", "..") for p in parts):
            raise UnsafePath(f"file id {file_id!r} is not a plain path inside a speaker folder")
        root = self.root_path()
        path = (self.speaker_dir(speaker) / inner).resolve()
        if not path.is_relative_to(root):
            raise UnsafePath(f"file {file_id!r} resolves outside AUDIO_ROOT; not read")
        return path.read_bytes()
