"""How steps start: the forkserver imports what steps need (torch right after its first fork) before it forks them."""

import importlib.util
import json
import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from audio_assets.execution import PRELOAD_MODULES

PROBE = """
import json, sys
for name in {modules!r}:
    try:
        __import__(name)
    except ImportError:
        pass  # as the forkserver does
before = set(sys.modules)
import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
with dg.DagsterInstance.from_ref(InstanceRef.from_dir({home!r})) as instance:
    instance.get_runs(limit=1)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_a_step_process_opens_the_instance_without_importing_storage_code(tmp_path):
    """Every step opens the instance first; importing its storage (SQLAlchemy, Alembic) cost ~0.4 s per step."""
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))):
        pass  # the run's instance exists (its databases created) before any step opens it
    probe = PROBE.format(modules=PRELOAD_MODULES, home=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
    imported = json.loads(out.stdout.splitlines()[-1])
    heavy = [
        m for m in imported if m.split(".")[0] in ("sqlalchemy", "alembic") or m.startswith("dagster._core.storage")
    ]
    assert not heavy, f"not preloaded by the forkserver: {heavy}"


def test_every_preloaded_module_exists():
    """The forkserver skips a module it cannot import without a word: a renamed one would just be slow."""
    # the multiprocess executor puts this module first unless it is listed: listed first, the executor's
    # list is exactly PRELOAD_MODULES, the list the CLI starts the forkserver with
    assert PRELOAD_MODULES[0] == "dagster._core.executor.multiprocess"
    # found, not imported: forkserver_preload acts on import, and only the forkserver should run it
    missing = [name for name in PRELOAD_MODULES if importlib.util.find_spec(name) is None]
    assert not missing  # dagster_postgres included: the dev install has it


LAUNCH = """
import multiprocessing.forkserver, os, sys
import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from audio_assets.definitions import executor
from audio_assets.execution import start_step_launcher


@dg.op
def parent_pid():
    with open(os.environ["PARENT_PID_FILE"], "w") as f:
        f.write(str(os.getppid()))


@dg.job(executor_def=executor)
def probe():
    parent_pid()


if __name__ == "__main__":
    start_step_launcher(executor)
    started = multiprocessing.forkserver._forkserver._forkserver_pid
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(sys.argv[1])) as instance:
        assert dg.execute_job(dg.reconstructable(probe), instance=instance).success
    print(started)
"""


def _run_job_script(tmp_path, text: str, **env: str) -> str:
    """Run ``text`` as a script with a fresh instance in ``tmp_path``; its stdout."""
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    script = tmp_path / "job.py"
    script.write_text(text)
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "DAGSTER_HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_steps_are_forked_by_the_forkserver_started_before_the_run(tmp_path):
    """The CLI starts the forkserver before it creates the run (its imports overlap with that); the
    executor must then use it rather than start a second one."""
    forkserver = int(_run_job_script(tmp_path, LAUNCH, PARENT_PID_FILE=str(tmp_path / "ppid")).split()[-1])
    assert int((tmp_path / "ppid").read_text()) == forkserver


PRIORITIES = """
import json, os, sys
import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from audio_assets.definitions import executor


def nice(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[16])


@dg.op
def priorities():
    with open(os.environ["OUT_FILE"], "w") as f:
        json.dump({"step": nice(os.getpid()), "orchestrator": nice(int(os.environ["LAUNCHER_PID"]))}, f)


@dg.job(executor_def=executor)
def probe():
    priorities()


if __name__ == "__main__":
    os.environ["LAUNCHER_PID"] = str(os.getpid())
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(sys.argv[1])) as instance:
        assert dg.execute_job(dg.reconstructable(probe), instance=instance).success
    print(nice(os.getpid()))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is Linux's")
def test_the_run_loop_yields_the_cpu_to_its_steps(tmp_path):
    """A run whose steps all wait for pool slots polls in a loop that never sleeps; it runs at nice 19
    so that it does not take the cores from the transcription it waits for, while the steps, forked by
    a forkserver started before the loop lowered its priority, run at normal priority. The launching
    thread gets its priority back after the run (as root, which may raise it again)."""
    stdout = _run_job_script(tmp_path, PRIORITIES, OUT_FILE=str(tmp_path / "out.json"))
    assert json.loads((tmp_path / "out.json").read_text()) == {"step": 0, "orchestrator": 19}
    if os.geteuid() == 0:
        assert int(stdout.split()[-1]) == 0


FORKS = """
import json, multiprocessing, sys
from audio_assets.execution import PRELOAD_MODULES


def report(queue):
    import gc
    queue.put({"torch": "torch" in sys.modules, "whisper": "whisper" in sys.modules, "frozen": gc.get_freeze_count()})


if __name__ == "__main__":
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD_MODULES)
    queue = context.Queue()
    seen = []
    for _ in range(2):
        child = context.Process(target=report, args=(queue,))
        child.start()
        seen.append(queue.get(timeout=60))
        child.join()
    print(json.dumps(seen))
"""


def test_forkserver_preload_imports_torch_right_after_its_first_fork(tmp_path):
    """The first step (the listing) is forked before torch is imported, so it starts ~0.9 s sooner; every
    later step (the model steps) finds torch and Whisper imported and the imported objects frozen."""
    script = tmp_path / "forks.py"
    script.write_text(FORKS)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    first, second = json.loads(out.stdout.splitlines()[-1])
    assert not first["torch"] and not first["whisper"]
    assert second["torch"] and second["whisper"]
    assert second["frozen"] > first["frozen"] > 100_000  # ~380k objects here: no step's collector scans them


PREFLIGHT = """
import json, sys
from audio_assets.resources import AudioTokenizer, WhisperResource

WhisperResource(cache_dir={cache!r}, model={model!r}, device={device!r}).preflight()
AudioTokenizer(device={device!r}).preflight()
print(json.dumps("torch" in sys.modules))
"""


def test_listing_preflight_with_default_settings_does_not_import_torch(model_cache, tmp_path):
    """The listing step checks the model before the forkserver has imported torch: with the default
    precision and a device that cannot fail it must not import torch itself (0.8 s of its critical path)."""
    from audio_assets.resources import WhisperResource

    WhisperResource(cache_dir=model_cache).fingerprint()  # the derived checkpoint exists, as after a first run
    for device in ("auto", "cpu"):  # neither can fail, so neither is probed
        probe = PREFLIGHT.format(cache=model_cache, model="tiny.en", device=device)
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
        assert json.loads(out.stdout.splitlines()[-1]) is False, device
    # a missing model still fails the check, with the same message as before
    probe = PREFLIGHT.format(cache=model_cache, model="no-such-model", device="auto")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0 and "no-such-model" in out.stderr
