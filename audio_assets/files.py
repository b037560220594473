"""File-system rules every writer follows: names derived from keys stay inside their folder, and
files appear complete or not at all."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

ERRORS_SUFFIX = ".errors"  # results/{stem}.errors.jsonl holds a key's error records
MAX_STEM_BYTES = 200  # leaves room for suffixes and temp-file decoration under the usual 255-byte limit
STALE_TEMP_SECONDS = 3600  # a temp file this old belongs to a writer that crashed


def is_utf8(name: str) -> bool:
    """False for names with bytes that are not UTF-8 (Python hands them over as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_file_stem(key: str) -> str:
    """A file name stem for a partition key that cannot leave its folder and maps keys one-to-one.

    Ordinary keys (``p225``, ``my speaker``) are kept verbatim. Anything that could escape the folder,
    hide the file or clash with temp files (``/``, ``\\``, NUL, a leading ``.``) is percent-encoded; ``%``
    is encoded too so that an encoded name never equals a verbatim one. A key ending in ``.errors``
    gets its last dot encoded, so its results never take the name of another key's error records
    (``{key}.errors.jsonl``). Over-long names are truncated and suffixed with a hash of the full key.
    """
    stem = key
    errors_like = key.lower().endswith(ERRORS_SUFFIX)
    if not key or "%" in key or "/" in key or "\\" in key or "\0" in key or key.startswith(".") or errors_like:
        stem = quote(key, safe=" ,;:=+@!#$&'()[]{}~^-_") or "%"  # quote() never gives a lone "%"
        if stem.startswith("."):
            stem = "%2E" + stem[1:]
        if stem.lower().endswith(ERRORS_SUFFIX):
            stem = stem[: -len(ERRORS_SUFFIX)] + "%2E" + stem[1 - len(ERRORS_SUFFIX) :]
    if len(stem.encode("utf-8")) > MAX_STEM_BYTES:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        head = stem.encode("utf-8")[: MAX_STEM_BYTES - 17].decode("utf-8", errors="ignore")
        stem = f"{head}~{digest}"
    return stem


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through a temp file in the same folder and ``os.replace`` it into place.

    Readers see the old file or the new one, never a mix; a crash leaves at most a hidden
    ``.name.*.tmp`` file behind, never a truncated ``path``. Concurrent writers each replace whole files.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    # Not mkstemp: its files are 0600 whatever the umask, and a dataset must be readable by the
    # training job's account as the umask allows (0644 under 022). O_EXCL keeps the name private.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def _remove_stale_temps(path: Path) -> None:
    """Temp files that writers killed mid-way (kill -9, power loss) left behind; never a live writer's."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
