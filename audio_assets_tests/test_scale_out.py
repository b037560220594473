"""Beyond one machine, for real: PostgreSQL instance storage, Redis broker, two Celery workers, and
the production services (``dagster-webserver`` and one ``dagster-daemon run``, not ``dagster dev``).

The same definitions, chosen by configuration only (deploy/postgres/dagster.yaml in DAGSTER_HOME,
AUDIO_ASSETS_EXECUTOR=celery): the daemon's sensor picks up the corpus and its run queue launches the
run; GPU steps go to the worker serving the ``gpu`` queue, the others to the worker serving the default
queue; results equal a local run's; the event log is in Postgres.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import dagster as dg
import psycopg2
import pytest
from dagster._core.instance.ref import InstanceRef

from audio_assets.cli.backfill_client import graphql

from .job_runs import run, run_config_for
from .live_dagster import POSTGRES_INSTANCE_CONFIG, PROJECT, _default_signals, free_port, stop_group, wait_for
from .services import postgres, redis

SPEAKERS = ["p900", "p901"]

BIN = Path(sys.executable).parent


@dataclass
class Cluster:
    env: dict[str, str]
    work: Path
    workers: dict[str, subprocess.Popen]
    pg: dict[str, str]
    services: list[subprocess.Popen]
    url: str = ""

    def start(self, log_name: str, command: list[str]) -> subprocess.Popen:
        """A long-lived process of the cluster, in its own process group. It starts outside the project
        folder, as on a server: the project's .env would point it at the project's own instance."""
        return subprocess.Popen(
            command,
            cwd=self.work,
            env=self.env,
            stdout=open(self.work / log_name, "ab"),  # noqa: SIM115 - lives as long as the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_signals,
        )

    def start_worker(self, name: str, queues: str, concurrency: int) -> subprocess.Popen:
        process = self.start(
            f"worker-{name}.log",
            [str(BIN / "celery"), "-A", "audio_assets.execution.celery_app", "worker", "-Q", queues, "-n", f"{name}@%h"]
            + [f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip", "--without-mingle"],
        )
        self.workers[name] = process
        wait_for(lambda: b"ready." in (self.work / f"worker-{name}.log").read_bytes(), 120, what=f"worker {name}")
        return process

    def start_services(self) -> None:
        """The UI's server and the one daemon (sensors, run queue, run monitoring), as the README runs them."""
        port = free_port()
        workspace = str(PROJECT / "workspace.yaml")
        self.url = f"http://127.0.0.1:{port}"
        self.services.append(
            self.start(
                "webserver.log", [str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(port)]
            )
        )
        self.services.append(self.start("daemon.log", [str(BIN / "dagster-daemon"), "run", "-w", workspace]))
        wait_for(lambda: self.answers(), 120, poll=0.5, what="dagster-webserver")

    def answers(self) -> bool:
        try:
            return bool(graphql(self.url, "{ version }", timeout=2))
        except OSError:
            return False

    def instance(self) -> dg.DagsterInstance:
        """The cluster's PostgreSQL instance; its dagster.yaml reads DAGSTER_PG_* when it is opened, so
        they are set for that moment only, not for the rest of the test session."""
        dagster_env = {k: v for k, v in self.env.items() if k.startswith("DAGSTER")}
        with mock.patch.dict(os.environ, dagster_env):
            return dg.DagsterInstance.from_ref(InstanceRef.from_dir(dagster_env["DAGSTER_HOME"]))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, corpus, corpus_dir, model_cache):
    work = tmp_path_factory.mktemp("scale-out")
    with postgres(work / "pg") as pg, redis(work / "redis") as broker:
        home = work / "home"
        home.mkdir()
        shutil.copy(POSTGRES_INSTANCE_CONFIG, home / "dagster.yaml")
        env = {
            **os.environ,
            **pg,
            "DAGSTER_HOME": str(home),
            "AUDIO_ASSETS_EXECUTOR": "celery",
            "CELERY_BROKER_URL": broker,
            "CELERY_BACKEND_URL": broker,
            "CELERY_VISIBILITY_TIMEOUT": "20",
            "AUDIO_ROOT": str(corpus_dir / "wav48_silence_trimmed"),
            "RESULTS_DIR": str(work / "results"),
            "PARQUET_DIR": str(work / "parquet"),
            "XDG_CACHE_HOME": str(Path(model_cache).parent),
            "AUDIO_SENSOR_INTERVAL_SECONDS": "2",
            "AUDIO_SETTLE_SECONDS": "1",
        }
        c = Cluster(env, work, {}, pg, [])
        try:
            c.start_worker("gpu", "gpu", concurrency=2)
            c.start_worker("cpu", "dagster", concurrency=1)
            c.start_services()
            yield c
        finally:
            for process in [*c.services, *c.workers.values()]:
                stop_group(process)


RUNS = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"


@pytest.fixture(scope="module")
def celery_run(cluster):
    """The run the daemon's sensor launched for the corpus's speaker folders, once it has finished."""

    def finished():
        runs = graphql(cluster.url, RUNS)["runsOrError"]["results"]
        return runs if runs and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs) else None

    [run] = wait_for(finished, 420, poll=1, what="the sensor's run through the webserver")
    assert run["status"] == "SUCCESS", (cluster.work / "daemon.log").read_text(errors="replace")[-3000:]
    assert {"key": "dagster/sensor_name", "value": "audio_folder_sensor"} in run["tags"]
    assert cluster.instance().get_dynamic_partitions("speakers") == SPEAKERS
    return run["runId"]


def ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        chain.append(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
    return chain


def test_results_equal_a_local_run(cluster, celery_run, tmp_path, model_cache):
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        instance.add_dynamic_partitions("speakers", SPEAKERS)
        config = run_config_for(Path(cluster.env["AUDIO_ROOT"]), tmp_path, model_cache)
        assert run(instance, config, SPEAKERS[0], SPEAKERS[-1]).success
    for speaker in SPEAKERS:
        local = (tmp_path / "results" / f"{speaker}.jsonl").read_bytes()
        assert local and (cluster.work / "results" / f"{speaker}.jsonl").read_bytes() == local


def test_steps_ran_in_the_workers_routed_by_queue(cluster, celery_run):
    instance = cluster.instance()
    pids = {}
    for event in instance.all_logs(celery_run, of_type=dg.DagsterEventType.STEP_START):
        pids[event.dagster_event.step_key] = event.dagster_event.pid
    assert set(pids) == {"audio_files", "transcriptions", "tokens", "merged_jsonl", "merged_jsonl_quality"}
    gpu, cpu = cluster.workers["gpu"].pid, cluster.workers["cpu"].pid
    for step in ("transcriptions", "tokens"):
        assert gpu in ancestors(pids[step]), f"{step} did not run in the gpu worker"
    for step in ("audio_files", "merged_jsonl", "merged_jsonl_quality"):
        assert cpu in ancestors(pids[step]), f"{step} did not run in the default-queue worker"
    launches = [e for e in instance.all_logs(celery_run) if e.user_message.startswith("Submitting celery task")]
    assert any('"transcriptions" to queue "gpu"' in e.user_message for e in launches)


def test_the_event_log_is_in_postgres(cluster, celery_run):
    pg = cluster.pg
    with (
        psycopg2.connect(
            host=pg["DAGSTER_PG_HOST"],
            port=pg["DAGSTER_PG_PORT"],
            user=pg["DAGSTER_PG_USER"],
            dbname=pg["DAGSTER_PG_DB"],
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("select count(*) from event_logs where run_id = %s", (celery_run,))
        assert cursor.fetchone()[0] > 20
        cursor.execute("select status from runs where run_id = %s", (celery_run,))
        assert cursor.fetchone()[0] == "SUCCESS"
    assert not (Path(cluster.env["DAGSTER_HOME"]) / "history").exists()  # no SQLite storage on the side


def test_killing_a_worker_mid_run_loses_nothing(cluster, celery_run):
    """Kill the gpu worker that transcribes (either of two): its step goes back on the queue, the other
    gpu worker takes it over after the visibility timeout, and the run completes with the same results."""
    before = {s: (cluster.work / "results" / f"{s}.jsonl").read_bytes() for s in SPEAKERS}
    cluster.start_worker("gpu2", "gpu", concurrency=2)
    instance = cluster.instance()
    known = {r.dagster_run.run_id for r in instance.get_run_records()}
    launcher = subprocess.Popen(
        [str(BIN / "audio-assets"), "materialize", "-c", str(PROJECT / "audio_assets_tests" / "slow.yaml")],
        env=cluster.env,
        cwd=cluster.work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def transcribing():
        for record in instance.get_run_records():
            if record.dagster_run.run_id in known:
                continue
            for event in instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_START):
                if event.dagster_event.step_key == "transcriptions":
                    return event.dagster_event.pid
        return None

    pid = wait_for(transcribing, 180, poll=0.2, what="transcriptions to start")
    victim = next(name for name, p in cluster.workers.items() if p.pid in ancestors(pid))
    assert victim in ("gpu", "gpu2")
    survivor = cluster.workers["gpu2" if victim == "gpu" else "gpu"]
    time.sleep(0.5)
    stop_group(cluster.workers[victim], signal.SIGKILL)
    out, _ = launcher.communicate(timeout=600)
    assert launcher.returncode == 0, out.decode(errors="replace")[-3000:]
    for speaker in SPEAKERS:
        assert (cluster.work / "results" / f"{speaker}.jsonl").read_bytes() == before[speaker]
    assert survivor.poll() is None
