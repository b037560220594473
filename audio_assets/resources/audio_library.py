"""AUDIO_ROOT as a resource: speaker folders, their audio files, and reads that cannot leave the root."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field, PrivateAttr

from audio_assets.files import is_utf8
from audio_assets.speaker_keys import key_problem


class UnsafePath(ValueError):
    """A partition key, file id or symlink that would lead outside AUDIO_ROOT."""


class AudioRootUnavailable(FileNotFoundError):
    """AUDIO_ROOT is not set, or is not a folder: nothing can be listed or read."""


# Said wherever the root is missing: the sensor's skip reason, the failed step, the CLI.
WHERE_TO_SET_IT = (
    "set AUDIO_ROOT, in the project's .env or the environment Dagster starts in, to a folder with one "
    "sub-folder of audio files per speaker (or audio_library.root in the run config)"
)


@dataclass(frozen=True)
class SpeakerListing:
    """What listing a speaker folder gives: one row per audio file, or, when the folder itself cannot
    be listed (gone, unreadable, a symlink out of AUDIO_ROOT), no files and why."""

    files: pd.DataFrame
    folder_error: str | None = None


@dataclass(frozen=True)
class FolderState:
    digest: str  # changes when an audio file is added, removed, resized or touched
    files: int
    newest_mtime: float  # newest modification time in the folder (files and the folder itself)


@dataclass(frozen=True)
class AudioFile:
    id: str  # "<speaker>/<path inside the speaker folder>", forward slashes
    problem: str | None = None  # why the file must not be read, found while listing


class AudioLibrary(dg.ConfigurableResource):
    """The folder of speaker folders. Every path is resolved and checked to stay inside ``root``."""

    root: str = Field(default="", description="AUDIO_ROOT: a folder holding one sub-folder of audio files per speaker.")
    extensions: list[str] = Field(default=[".flac"], description="File suffixes to process (case-insensitive).")
    transcripts: str = Field(
        default="",
        description="Folder of reference transcripts, <speaker>/<utterance>.txt (VCTK's txt/). Empty: the "
        "folder 'txt' beside AUDIO_ROOT when it exists (VCTK layout), else none.",
    )
    listing_threads: int = Field(
        default=1,
        ge=1,
        description="Threads that read, hash and inspect files while listing. On a local disk one is fastest "
        "(the path checks around each read hold the GIL); raise it where every read waits on the network "
        "(NFS, object-store mounts).",
    )

    _root: Path | None = PrivateAttr(default=None)
    _reference_folder: tuple[Path | None] | None = PrivateAttr(default=None)  # (folder or None), once known

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Resolved once per step or sensor tick instead of once per file; every read still resolves its
        # own path and checks it against this root. A missing root is not an error here: the sensor
        # turns it into a skip reason and the listing step into its one failure (root_path raises).
        with contextlib.suppress(AudioRootUnavailable):
            self._root = self._resolve_root()

    def _resolve_root(self) -> Path:
        if not self.root:
            raise AudioRootUnavailable(f"AUDIO_ROOT is not set: {WHERE_TO_SET_IT}")
        root = Path(self.root).expanduser()
        if not root.is_dir():
            raise AudioRootUnavailable(f"AUDIO_ROOT {self.root!r} does not exist or is not a folder: {WHERE_TO_SET_IT}")
        return root.resolve()

    def root_path(self) -> Path:
        return self._root if self._root is not None else self._resolve_root()

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
        return self._speaker_dir(speaker, self.root_path())

    def _speaker_dir(self, speaker: str, root: Path) -> Path:
        problem = key_problem(speaker)
        if problem:
            raise UnsafePath(f"{speaker!r} cannot be a speaker folder: {problem}")
        folder = (root / speaker).resolve()
        if not folder.is_relative_to(root):
            raise UnsafePath(f"speaker folder {speaker!r} resolves outside AUDIO_ROOT")
        if not folder.is_dir():
            raise FileNotFoundError(f"speaker folder {speaker!r} does not exist in AUDIO_ROOT {str(root)!r}")
        return folder

    def _audio_entries(self, top: Path) -> Iterator[tuple[str, os.DirEntry]]:
        """(path relative to ``top``, entry) of every audio file below ``top``; hidden names and
        symlinked folders are not descended into."""
        suffixes = tuple(s.lower() for s in self.extensions)
        stack = [(str(top), "")]
        while stack:
            folder, prefix = stack.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, f"{prefix}{entry.name}/"))
                    elif entry.name.lower().endswith(suffixes):
                        yield f"{prefix}{entry.name}", entry

    def list_files(self, speaker: str) -> list[AudioFile]:
        """Audio files of a speaker, nested folders included, sorted by id. Symlinks are followed only
        while they stay inside AUDIO_ROOT; others are listed with a problem and never opened."""
        root = self.root_path()
        top = self._speaker_dir(speaker, root)
        files = []
        for relative, entry in self._audio_entries(top):
            file_id = f"{speaker}/{relative}"
            target = Path(entry.path).resolve()
            if not is_utf8(file_id):
                printable = os.fsencode(file_id).decode("utf-8", "backslashreplace")
                files.append(AudioFile(printable, "file name is not valid UTF-8; rename it"))
            elif not target.is_relative_to(root):
                files.append(AudioFile(file_id, "symlink points outside AUDIO_ROOT; not read"))
            elif not target.is_file():
                files.append(AudioFile(file_id, "not a regular file"))
            else:
                files.append(AudioFile(file_id))
        return sorted(files, key=lambda f: f.id)

    def folder_states(self) -> dict[str, FolderState]:
        """A cheap fingerprint of every speaker folder (names, sizes, mtimes of its audio files),
        for noticing new, changed, removed and still-being-copied files without reading them."""
        root = self.root_path()
        states = {}
        for speaker in self.speakers():
            top = root / speaker
            digest = hashlib.blake2b(digest_size=8)
            newest = top.stat().st_mtime
            count = 0
            for relative, entry in sorted(self._audio_entries(top), key=lambda pair: pair[0]):
                try:
                    stat = entry.stat()
                    size, mtime_ns = stat.st_size, stat.st_mtime_ns
                except OSError:  # dangling symlink: still a file the listing will report
                    size, mtime_ns = -1, 0
                digest.update(f"{relative}\0{size}\0{mtime_ns}\n".encode("utf-8", "surrogateescape"))
                newest = max(newest, mtime_ns / 1e9)
                count += 1
            states[speaker] = FolderState(digest.hexdigest(), count, newest)
        return states

    def transcripts_path(self) -> Path | None:
        if self._root is None:  # not set up for a step: resolved on every call, like the root
            return self._resolve_transcripts()
        if self._reference_folder is None:  # first use in this step or tick
            self._reference_folder = (self._resolve_transcripts(),)
        return self._reference_folder[0]

    def _resolve_transcripts(self) -> Path | None:
        if self.transcripts:
            path = Path(self.transcripts).expanduser()
            if not path.is_dir():
                raise FileNotFoundError(f"reference transcripts folder {self.transcripts!r} does not exist")
            return path.resolve()
        sibling = self.root_path().parent / "txt"
        return sibling.resolve() if sibling.is_dir() else None

    def reference_text(self, file_id: str) -> str | None:
        """The reference transcript of a file, if one exists: ``<transcripts>/<speaker>/<stem>.txt``,
        where VCTK's microphone suffix (``_mic1``, ``_mic2``) is also tried without."""
        folder = self.transcripts_path()
        if folder is None:
            return None
        speaker, _, inner = file_id.partition("/")
        stem = Path(inner).stem
        for name in dict.fromkeys([stem, re.sub(r"_mic\d+$", "", stem)]):
            candidate = (folder / speaker / f"{name}.txt").resolve()
            if candidate.is_relative_to(folder) and candidate.is_file():
                return candidate.read_text(encoding="utf-8", errors="replace").strip()
        return None

    def read_bytes(self, file_id: str) -> bytes:
        """The encoded bytes of one file, by id; ids that would leave AUDIO_ROOT are refused."""
        speaker, _, inner = file_id.partition("/")
        parts = inner.split("/")
        if not inner or any(p in ("", ".", "..") for p in parts):
            raise UnsafePath(f"file id {file_id!r} is not a plain path inside a speaker folder")
        root = self.root_path()
        path = (self._speaker_dir(speaker, root) / inner).resolve()
        if not path.is_relative_to(root):
            raise UnsafePath(f"file {file_id!r} resolves outside AUDIO_ROOT; not read")
        return path.read_bytes()
