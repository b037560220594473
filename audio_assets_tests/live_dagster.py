"""Start `dagster dev` for a test as a user would, talk to it over HTTP, and stop every process it started."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from audio_assets.cli.backfill_client import graphql

PROJECT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_signals():
    # a parent that ignores SIGINT/SIGTERM (a backgrounded shell job) would hand that on to dagster dev
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


INSTANCE_CONFIG = PROJECT / ".dagster_home" / "dagster.yaml"
POSTGRES_INSTANCE_CONFIG = PROJECT / "deploy" / "postgres" / "dagster.yaml"
SHIPPED_INSTANCE_CONFIGS = [INSTANCE_CONFIG, POSTGRES_INSTANCE_CONFIG]


class DagsterDev:
    """``dagster dev`` or ``dg dev`` in its own process group, its output in ``log_path``."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log_path: Path, port: int):
        self.command, self.cwd, self.env, self.log_path, self.port = command, cwd, env, log_path, port
        self.url = f"http://127.0.0.1:{port}"
        log_path.unlink(missing_ok=True)  # one log per DagsterDev, over all its starts
        self.process: subprocess.Popen | None = None

    @classmethod
    def dagster_dev(cls, home: Path, env: dict[str, str], log_path: Path) -> "DagsterDev":
        """``dagster dev`` on the project's workspace with its own instance (the shipped config) in ``home``.
        It starts in ``home``'s parent, not in the project, whose .env would point it at the project's instance."""
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text(INSTANCE_CONFIG.read_text())
        port = free_port()
        dagster = str(Path(sys.executable).parent / "dagster")
        command = [dagster, "dev", "-w", str(PROJECT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]
        command += ["--code-server-log-level", "info"]
        return cls(command, home.parent, {**os.environ, **env, "DAGSTER_HOME": str(home)}, log_path, port)

    @classmethod
    def dg_dev(cls, project: Path, env: dict[str, str], log_path: Path) -> "DagsterDev":
        """``dg dev`` started in ``project`` as a user starts it there: ``env`` is all the environment it gets."""
        port = free_port()
        command = [str(project / ".venv" / "bin" / "dg"), "dev", "-h", "127.0.0.1", "-p", str(port)]
        return cls(command, project, env, log_path, port)

    def start(self, timeout: float = 120.0) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop(); appends when started again
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches the webserver, daemon and runs
            preexec_fn=_default_signals,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[1]} exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"{self.command[1]} did not answer within {timeout} s; see {self.log_path}")

    def query(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.url, query, variables)

    def stop(self, timeout: float = 75.0) -> list[str]:
        """SIGTERM the whole process group, wait (longer than a code server's 60 s shutdown grace); SIGKILL what
        is left. Returns those that needed SIGKILL."""
        if self.process is None:
            return []
        stragglers = stop_group(self.process, signal.SIGTERM, timeout)
        self.log.close()
        return stragglers


def stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60.0) -> list[str]:
    """Send ``sig`` to a process's group (started with start_new_session), wait up to ``timeout`` for the
    whole group to end, SIGKILL whatever is left. Returns "pid: command line" of those that had to be killed.

    For ``dagster dev`` the caller gives more than Dagster's own limits: a code server finishes the calls in
    flight (up to 60 s, its gRPC shutdown grace period) and otherwise ends when its heartbeat stops (45 s)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    deadline = time.monotonic() + timeout
    while (process.poll() is None or group_members(process.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = group_members(process.pid)
    stragglers = [f"{pid}: {command_line(pid)}" for pid in left]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)
    return stragglers


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:300]
    except OSError:
        return "(gone)"


def wait_for(predicate, timeout: float, poll: float = 1.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
