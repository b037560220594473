"""The results folder: one JSONL file per speaker, replaced atomically."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from audio_assets.files import ERRORS_SUFFIX, atomic_write, safe_file_stem


def jsonl_line(record: Mapping) -> bytes:
    """One JSON object per line, UTF-8, keys in the order given: the same record gives the same bytes."""
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


class ResultsFolder(dg.ConfigurableResource):
    """Where the training-ready JSONL files go (default ./results)."""

    path: str = Field(default="results", description="Folder for results/{speaker}.jsonl.")

    def jsonl_path(self, speaker: str, suffix: str = ".jsonl") -> Path:
        return Path(self.path).expanduser().resolve() / f"{safe_file_stem(speaker)}{suffix}"

    def errors_path(self, speaker: str) -> Path:
        return self.jsonl_path(speaker, ERRORS_SUFFIX + ".jsonl")

    def write_jsonl(self, speaker: str, records: Iterable[Mapping], suffix: str = ".jsonl") -> dict[str, Any]:
        """Replace results/{speaker}{suffix} in one step; return its path, size, line count and sha256."""
        target = self.jsonl_path(speaker, suffix)
        digest = hashlib.sha256()
        stats = {"lines": 0, "bytes": 0}

        def write(f):
            for record in records:
                line = jsonl_line(record)
                f.write(line)
                digest.update(line)
                stats["lines"] += 1
                stats["bytes"] += len(line)

        atomic_write(target, write)
        return {"path": target, "sha256": digest.hexdigest(), **stats}
