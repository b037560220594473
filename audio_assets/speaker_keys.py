"""The one rule for speaker partition keys, applied by the sensor, the CLI and every path lookup.

A key names a speaker folder directly inside AUDIO_ROOT, so it must be a name a folder can have there:
not empty, not ``.`` or ``..``, no path separator, no control character (they also break the UI's
partition selection syntax), valid UTF-8, and no longer than a file name may be. Dagster itself refuses
``...`` in keys (it separates key ranges).
"""

import unicodedata

from audio_assets.files import is_utf8

MAX_KEY_BYTES = 255  # NAME_MAX of Linux and macOS file systems: no folder has a longer name


def key_problem(key: str) -> str | None:
    """Why ``key`` can never name a speaker folder, or None when it can."""
    if not key:
        return "it is empty"
    if key in (".", ".."):
        return f"{key!r} is not a folder name"
    if "/" in key or "\\" in key:
        return "it contains a path separator"
    if not is_utf8(key):
        return "it is not valid UTF-8"
    control = sorted({c for c in key if unicodedata.category(c) == "Cc"})
    if control:
        return f"it contains control characters ({', '.join(repr(c) for c in control)})"
    if "..." in key:
        return "Dagster partition keys cannot contain '...' (it separates key ranges)"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"it is {len(key.encode('utf-8'))} bytes long; a folder name has at most {MAX_KEY_BYTES}"
    return None
