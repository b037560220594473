"""Real PostgreSQL and Redis servers from Debian's packages for a test: free local ports, temp data
directories, stopped afterwards. Run as root (CI), PostgreSQL runs as the 'postgres' system user."""

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .live_dagster import free_port, stop_group, wait_for


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql (make system-deps)")
    return found[-1]


def _as_postgres_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[dict[str, str]]:
    """A PostgreSQL server with a database 'dagster'; yields the DAGSTER_PG_* environment.

    Its data lives in a fresh folder under the system temp dir (pytest's are private to root, which
    the 'postgres' user cannot enter), removed afterwards; the server log goes to ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    top = Path(tempfile.mkdtemp(prefix="audio-assets-pg-"))
    data = top / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(top, "postgres")
        shutil.chown(data, "postgres")
    subprocess.run(
        [*_as_postgres_user(), _postgres_bin("initdb"), "-D", str(data), "-U", "dagster", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [*_as_postgres_user(), _postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(top)]
        + ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
        stdout=open(workdir / "postgres.log", "wb"),  # noqa: SIM115 - lives as long as the server
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        ready = [_postgres_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster"]
        wait_for(lambda: subprocess.run(ready, capture_output=True).returncode == 0, 60, poll=0.2, what="postgres")
        subprocess.run(
            [_postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "dagster"], check=True
        )
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_USER": "dagster",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": "dagster",
        }
    finally:
        stop_group(server)
        shutil.rmtree(top, ignore_errors=True)


@contextlib.contextmanager
def redis(workdir: Path) -> Iterator[str]:
    """A Redis server without persistence; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: apt-get install redis-server (make system-deps)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=open(workdir / "redis.log", "wb"),  # noqa: SIM115 - lives as long as the server
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        cli = [shutil.which("redis-cli") or "redis-cli", "-p", str(port), "ping"]
        wait_for(
            lambda: subprocess.run(cli, capture_output=True, text=True).stdout.strip() == "PONG",
            30,
            poll=0.2,
            what="redis",
        )
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_group(server)
