"""Names from keys stay in their folder; writes are all-or-nothing; AUDIO_ROOT cannot be escaped."""

import os
import time

import pytest

from audio_assets.files import atomic_write, safe_file_stem
from audio_assets.resources import AudioLibrary
from audio_assets.resources.audio_library import UnsafePath

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("key", ["p225", "my speaker", "Zoë, café", "a-b_c(1)"])
def test_ordinary_keys_are_kept_verbatim(key):
    assert safe_file_stem(key) == key


@pytest.mark.parametrize("key", ["../etc", "a/b", "..", ".", ".hidden", "", "a\\b", "50%", "x\0y"])
def test_dangerous_keys_are_encoded_into_one_plain_name(key):
    stem = safe_file_stem(key)
    assert stem and "/" not in stem and "\\" not in stem and "\0" not in stem and not stem.startswith(".")


def test_encoding_is_one_to_one():
    keys = ["a/b", "a%2Fb", "a%b", ".x", "%2Ex", "x" * 300, "x" * 301, "", "\0"]
    stems = [safe_file_stem(k) for k in keys]
    assert len(set(stems)) == len(keys)
    assert all(len(s.encode()) <= 200 for s in stems)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.jsonl"
    atomic_write(target, lambda f: f.write(b"old\n"))

    def broken(f):
        f.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["out.jsonl"]  # no temp file left behind


def test_atomic_write_clears_temp_files_of_crashed_writers_but_not_live_ones(tmp_path):
    target = tmp_path / "out.jsonl"
    crashed, live = tmp_path / ".out.jsonl.abc123.tmp", tmp_path / ".out.jsonl.def456.tmp"
    crashed.write_bytes(b"half")
    live.write_bytes(b"being written")
    two_hours_ago = time.time() - 7200
    os.utime(crashed, (two_hours_ago, two_hours_ago))
    atomic_write(target, lambda f: f.write(b"new\n"))
    assert sorted(os.listdir(tmp_path)) == [".out.jsonl.def456.tmp", "out.jsonl"]


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "root"
    (root / "p1" / "nested").mkdir(parents=True)
    (root / "p1" / "a.flac").write_bytes(b"A")
    (root / "p1" / "nested" / "b.FLAC").write_bytes(b"B")
    (root / "p1" / "notes.txt").write_text("ignored")
    (root / "p1" / ".hidden.flac").write_bytes(b"H")
    (root / "p2").mkdir()
    (root / ".cache").mkdir()
    secret = tmp_path / "secret.flac"
    secret.write_bytes(b"SECRET")
    (root / "p1" / "escape.flac").symlink_to(secret)
    (root / "p1" / "inside.flac").symlink_to(root / "p1" / "a.flac")
    (root / "outside_speaker").symlink_to(tmp_path)
    return AudioLibrary(root=str(root))


def test_listing_finds_nested_audio_and_flags_escaping_symlinks(library):
    assert library.speakers() == ["p1", "p2"]
    files = {f.id: f.problem for f in library.list_files("p1")}
    assert set(files) == {"p1/a.flac", "p1/nested/b.FLAC", "p1/escape.flac", "p1/inside.flac"}
    assert "outside AUDIO_ROOT" in files["p1/escape.flac"]
    assert files["p1/a.flac"] is None and files["p1/inside.flac"] is None


@pytest.mark.parametrize(
    "file_id", ["p1/escape.flac", "p1/../p2/x.flac", "../secret.flac", "p1/", "outside_speaker/secret.flac"]
)
def test_reads_cannot_leave_audio_root(library, file_id):
    with pytest.raises((UnsafePath, FileNotFoundError)):
        library.read_bytes(file_id)


@pytest.mark.parametrize("speaker", ["..", "../root", "a/b", "", "outside_speaker"])
def test_speaker_keys_cannot_leave_audio_root(library, speaker):
    with pytest.raises(UnsafePath):
        library.speaker_dir(speaker)


def test_missing_audio_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="AUDIO_ROOT"):
        AudioLibrary(root=str(tmp_path / "nope")).speakers()


@pytest.mark.parametrize("key", ["p225.errors", "p225.ERRORS", ".errors", "a%b.errors", "p225.errors.errors"])
def test_a_key_never_takes_the_name_of_another_keys_error_file(key):
    """results/{stem}.jsonl of "p225.errors" must not be results/p225.errors.jsonl, p225's error records."""
    stem = safe_file_stem(key)
    assert not stem.lower().endswith(".errors")
    assert "/" not in stem and not stem.startswith(".")


def test_encoding_of_errors_like_keys_is_one_to_one():
    keys = ["p225", "p225.errors", "p225%2Eerrors", "p225.errors.errors", "p225.ERRORS", ".errors", "%2Eerrors"]
    stems = {safe_file_stem(k) for k in keys}
    assert len(stems) == len(keys)
    assert f"{safe_file_stem('p225.errors')}.jsonl" != f"{safe_file_stem('p225')}.errors.jsonl"


@pytest.fixture
def umask():
    """Set the process umask for one test; the previous one comes back afterwards."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_are_as_readable_as_the_umask_allows(tmp_path, umask, mask, mode):
    umask(mask)
    target = tmp_path / "results" / "p1.jsonl"
    atomic_write(target, lambda f: f.write(b"{}\n"))
    assert os.stat(target).st_mode & 0o777 == mode
    atomic_write(target, lambda f: f.write(b"[]\n"))  # a replacement too, not only a new file
    assert os.stat(target).st_mode & 0o777 == mode and target.read_bytes() == b"[]\n"
