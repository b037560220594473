"""kill -9 in the middle of a materialisation, and two runs of one partition at once: the previous
outputs stay intact and readable, the next run completes, concurrent runs never mix files.

Runs are real subprocesses (the `audio-assets` CLI and the multiprocess executor) against a real
instance in a temp DAGSTER_HOME; they are killed with SIGKILL, not mocked.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import soundfile
import yaml
from dagster._core.instance.ref import InstanceRef

from audio_assets.cli.corpus import HARVARD_SENTENCES, make_corpus, synthesize
from audio_assets.speech.wer import word_error_rate

from .live_dagster import stop_group, wait_for

SPEAKER = "p960"
CLI = str(Path(sys.executable).parent / "audio-assets")

SLOW_MERGE = """
import pathlib, sys, time
import dagster as dg
from audio_assets.definitions import defs
from audio_assets.resources import results

marker, config = pathlib.Path(sys.argv[1]), sys.argv[2]
real_line = results.jsonl_line

def slow_line(record):
    marker.touch()  # the merge is writing now
    time.sleep(1.0)
    return real_line(record)

results.jsonl_line = slow_line
import yaml
defs.resolve_job_def("process_speakers").execute_in_process(
    instance=dg.DagsterInstance.get(), run_config=yaml.safe_load(open(config)),
    partition_key="p960", op_selection=["merged_jsonl"],
)
"""


class Workspace:
    def __init__(self, root: Path, corpus_root: Path, model_cache: str):
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        (self.home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        self.audio = root / "audio"
        shutil.copytree(corpus_root / SPEAKER, self.audio / SPEAKER)
        self.results = root / "results"
        self.parquet = root / "parquet"
        self.config, self.resumable_config = root / "run.yaml", root / "resumable.yaml"
        # The resumable config transcribes one clip per batch, a window wide enough to kill in, and saves
        # its checkpoints after every batch; it keeps the usual settings fingerprint (the batch size is not
        # part of it), so it reuses the usual config's rows and they reuse its.
        resumable = {"parquet_io_manager": {"config": {"base_dir": str(self.parquet), "checkpoint_seconds": 0}}}
        for path, whisper, extra in ((self.config, {}, {}), (self.resumable_config, {"batch_size": 1}, resumable)):
            resources = {
                "whisper": {"config": {"cache_dir": model_cache, **whisper}},
                "quality": {"config": {"max_wer": 0.5}},
                **extra,
            }
            path.write_text(yaml.safe_dump({"resources": resources}))
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "AUDIO_ROOT": str(self.audio),
            "RESULTS_DIR": str(self.results),
            "PARQUET_DIR": str(self.parquet),
        }

    def cli(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            [CLI, *args],
            env=self.env,
            cwd=self.root,  # not the project folder: its .env would point the CLI at the project's instance
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **kwargs,
        )

    def materialize(self) -> subprocess.CompletedProcess:
        process = self.cli("materialize", SPEAKER, "-c", str(self.config))
        out, _ = process.communicate(timeout=600)
        return subprocess.CompletedProcess(process.args, process.returncode, out.decode(errors="replace"))

    @property
    def jsonl(self) -> Path:
        return self.results / f"{SPEAKER}.jsonl"

    @property
    def transcriptions_parquet(self) -> Path:
        return self.parquet / "transcriptions" / f"{SPEAKER}.parquet"

    @property
    def transcriptions_checkpoint(self) -> Path:
        return self.parquet / "transcriptions" / "checkpoints" / f"{SPEAKER}.parquet"

    def instance(self) -> dg.DagsterInstance:
        """The CLI's instance, opened without touching this process's environment."""
        return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.home)))


def valid_rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert all(list(r) == ["id", "transcription", "token_array"] for r in rows)
    return rows


@pytest.fixture(scope="module")
def ws(tmp_path_factory, model_cache):
    corpus = tmp_path_factory.mktemp("crash-corpus")
    make_corpus(corpus, speakers=1, clips=10, first_speaker=960)
    workspace = Workspace(tmp_path_factory.mktemp("crash"), corpus / "wav48_silence_trimmed", model_cache)
    registered = subprocess.run(
        [CLI, "register"], env=workspace.env, cwd=workspace.root, capture_output=True, text=True, check=True
    )
    assert "1 newly registered" in registered.stdout
    first = workspace.materialize()
    assert first.returncode == 0, first.stdout[-3000:]
    assert len(valid_rows(workspace.jsonl)) == 10
    return workspace


def test_kill_in_the_middle_of_the_merge_keeps_the_previous_jsonl(ws):
    before = ws.jsonl.read_bytes()
    marker = ws.root / "merging"
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_MERGE, str(marker), str(ws.config)], env=ws.env, start_new_session=True
    )
    wait_for(marker.exists, 120, poll=0.1, what="the merge to start writing")
    time.sleep(1.5)  # a line or two into the temp file
    stop_group(process, signal.SIGKILL)
    assert ws.jsonl.read_bytes() == before  # intact: the half-written temp file was never moved into place
    assert list(ws.results.glob(f".{SPEAKER}.jsonl.*.tmp")), "the writer was killed with its temp file open"
    rerun = ws.materialize()
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert ws.jsonl.read_bytes() == before


def test_kill_in_the_middle_of_transcription_keeps_every_output_and_the_rerun_reuses_its_checkpoint(ws):
    """Six new files, one per batch, checkpoints after every batch; kill -9 after two: the JSONL and
    the stored table are the old ones, the transcripts saved so far survive, and the next run reuses
    exactly them, transcribes the rest and leaves the other lines as they were."""
    before_jsonl = ws.jsonl.read_bytes()
    before_parquet = ws.transcriptions_parquet.read_bytes()
    listed = len(list((ws.audio / SPEAKER).glob("*.flac")))
    new = {f"{SPEAKER}/{SPEAKER}_{50 + i}_mic2.flac": HARVARD_SENTENCES[50 + i] for i in range(6)}
    for file_id, text in new.items():
        samples, rate = synthesize(text)
        soundfile.write(ws.audio / file_id, samples, rate)
    ws.transcriptions_checkpoint.unlink(missing_ok=True)

    def saved_rows() -> int:  # the reused rows of the old files, and the new ones transcribed so far
        return len(pd.read_parquet(ws.transcriptions_checkpoint)) if ws.transcriptions_checkpoint.is_file() else 0

    process = ws.cli("materialize", SPEAKER, "-c", str(ws.resumable_config))
    wait_for(lambda: saved_rows() >= listed + 2, 180, poll=0.05, what="two new transcripts in the checkpoint")
    stop_group(process, signal.SIGKILL)
    kept = saved_rows() - listed
    assert 2 <= kept < len(new), f"{kept} of {len(new)} new transcripts saved before the kill"
    assert ws.jsonl.read_bytes() == before_jsonl
    assert ws.transcriptions_parquet.read_bytes() == before_parquet  # killed before it finished: old table intact

    rerun = ws.cli("materialize", SPEAKER, "-c", str(ws.resumable_config))
    out = rerun.communicate(timeout=600)[0].decode(errors="replace")
    assert rerun.returncode == 0, out[-3000:]
    latest = ws.instance().fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("transcriptions"), asset_partitions=[SPEAKER]), limit=1
    )
    metadata = latest.records[0].asset_materialization.metadata
    assert (metadata["reused"].value, metadata["computed"].value) == (listed + kept, len(new) - kept)
    assert not ws.transcriptions_checkpoint.exists()
    rows = valid_rows(ws.jsonl)
    assert len(rows) == listed + len(new)
    old = {r["id"]: r for r in (json.loads(line) for line in before_jsonl.decode().splitlines())}
    assert all(old[r["id"]] == r for r in rows if r["id"] in old)  # unchanged files, unchanged lines
    heard = {r["id"]: r["transcription"] for r in rows if r["id"] in new}
    assert word_error_rate([new[i] for i in sorted(new)], [heard[i] for i in sorted(new)]) <= 0.4, heard


def test_two_runs_of_one_partition_at_once_give_a_valid_equal_result(ws):
    reference = ws.jsonl.read_bytes()
    first, second = (
        ws.cli("materialize", SPEAKER, "-c", str(ws.config)),
        ws.cli("materialize", SPEAKER, "-c", str(ws.config)),
    )
    outputs = [p.communicate(timeout=600)[0].decode(errors="replace") for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], [o[-2000:] for o in outputs]
    assert ws.jsonl.read_bytes() == reference  # equal to a single run's, byte for byte
    valid_rows(ws.jsonl)
    assert not list(ws.results.glob(f".{SPEAKER}.jsonl.*.tmp"))[1:]  # at most the one leftover of the killed merge
