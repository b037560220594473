"""The sensor that turns new and changed speaker folders into partitions and runs.

Each tick fingerprints every speaker folder (names, sizes and mtimes of its audio files; nothing is
read) and compares with the cursor:

- a new folder becomes a partition and is materialised;
- a known folder whose fingerprint changed (file added, changed or removed) is materialised again;
- a folder with anything modified less than ``settle_seconds`` ago is still being copied: it waits;
- a folder that disappears is reported once (log + an observation on ``audio_files``); its partition
  and its results stay;
- a folder name that cannot be a speaker key (``speaker_keys.key_problem``) is reported once and
  skipped; the rest go on;
- a registered key that can never name a speaker folder (added in the UI or over GraphQL: empty, a
  control character, a slash, ``..``) is removed, with the reason in the tick's log;
- an AUDIO_ROOT that is unset or missing skips the tick with the reason (what to set, where).

New speakers of one tick are contiguous keys, so they share runs: one model load per run, not per
speaker. Runs are sized by files, not by speakers (25 folders of 3 clips and 25 of 2,000 are very
different runs): each run holds up to ``run_files`` files, and the first run of a tick up to
``first_run_files``, so that the first results can come early.
"""

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from audio_assets.jobs import process_speakers
from audio_assets.partitions import RUN_FILES, RUN_SPEAKERS, range_tags, speaker_partitions, speaker_ranges
from audio_assets.resources import AudioLibrary
from audio_assets.resources.audio_library import AudioRootUnavailable, FolderState
from audio_assets.speaker_keys import key_problem
from audio_assets.upstream import sensor_minimum_interval


@dataclass
class SensorCursor:
    seen: dict[str, str] = field(default_factory=dict)  # speaker → fingerprint last handled
    missing: list[str] = field(default_factory=list)  # folders gone, already reported
    rejected: list[str] = field(default_factory=list)  # names that cannot be keys, already reported

    @classmethod
    def from_json(cls, raw: str | None) -> "SensorCursor":
        return cls(**json.loads(raw)) if raw else cls()

    def to_json(self) -> str:
        return json.dumps({"seen": self.seen, "missing": self.missing, "rejected": self.rejected}, sort_keys=True)


@dataclass
class TickPlan:
    add: list[str]  # new partition keys
    run: list[str]  # speakers to materialise
    settling: list[str]  # still being written: looked at again next tick
    vanished: list[str]  # folders that disappeared since the last tick
    rejected: dict[str, str]  # name → why it cannot be a key (first time seen)
    remove: dict[str, str]  # registered key → why it can never name a speaker folder
    cursor: SensorCursor


def plan_tick(
    states: Mapping[str, FolderState],
    cursor: SensorCursor,
    registered: set[str],
    materialized: set[str],
    now: float,
    settle_seconds: float,
) -> TickPlan:
    """What one tick should do; a pure function of what is on disk and in the instance."""
    add, run, settling, rejected = [], [], [], {}
    remove = {key: why for key in sorted(registered) if (why := key_problem(key))}
    registered = registered - set(remove)
    seen = {key: digest for key, digest in cursor.seen.items() if key not in remove}
    for speaker, state in sorted(states.items()):
        problem = key_problem(speaker)
        if problem:
            if speaker not in cursor.rejected:
                rejected[speaker] = problem
            continue
        if now - state.newest_mtime < settle_seconds:
            settling.append(speaker)
            continue
        previous = cursor.seen.get(speaker)
        if speaker not in registered:
            add.append(speaker)
            run.append(speaker)
        elif previous is None:
            if speaker not in materialized:  # registered elsewhere (CLI, UI) but never materialised
                run.append(speaker)
        elif previous != state.digest:
            run.append(speaker)
        seen[speaker] = state.digest
    gone = sorted((registered | (set(cursor.seen) - set(remove))) - set(states))
    vanished = [s for s in gone if s not in cursor.missing]
    next_cursor = SensorCursor(
        seen=seen,
        missing=gone,
        rejected=sorted((set(cursor.rejected) & set(states)) | set(rejected)),
    )
    return TickPlan(add, run, settling, vanished, rejected, remove, next_cursor)


def run_requests(
    plan: TickPlan,
    registered_order: list[str],
    states: Mapping[str, FolderState],
    file_budgets: tuple[int, int] = (RUN_FILES, RUN_FILES),
) -> list[dg.RunRequest]:
    """Runs over consecutive speakers; the run key pins the folder fingerprints it was asked for."""
    order = [key for key in registered_order if key not in plan.remove] + plan.add
    position = {key: i for i, key in enumerate(order)}
    requests = []
    files = {key: states[key].files for key in plan.run}
    for first, last in speaker_ranges(plan.run, order, RUN_SPEAKERS, files, file_budgets):
        keys = order[position[first] : position[last] + 1]
        fingerprint = hashlib.blake2b("|".join(f"{k}:{states[k].digest}" for k in keys).encode(), digest_size=8)
        run_key = f"{first}…{last}@{fingerprint.hexdigest()}"
        if first == last:
            requests.append(dg.RunRequest(run_key=run_key, partition_key=first))
        else:
            requests.append(dg.RunRequest(run_key=run_key, tags=range_tags(first, last)))
    return requests


def build_audio_folder_sensor(
    minimum_interval_seconds: int = 30,
    settle_seconds: float = 10.0,
    first_run_files: int = RUN_FILES,
    run_files: int = RUN_FILES,
) -> dg.SensorDefinition:
    @dg.sensor(
        name="audio_folder_sensor",
        job=process_speakers,
        minimum_interval_seconds=sensor_minimum_interval(minimum_interval_seconds),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"New or changed speaker folders in AUDIO_ROOT → partitions and runs. Looks every "
        f"{minimum_interval_seconds} s; files must be unchanged for {settle_seconds:g} s before they are picked up.",
    )
    def audio_folder_sensor(
        context: dg.SensorEvaluationContext, audio_library: AudioLibrary
    ) -> dg.SensorResult | dg.SkipReason:
        started = time.perf_counter()
        try:
            states = audio_library.folder_states()
        except AudioRootUnavailable as error:  # one line in the tick history, not a traceback per tick
            return dg.SkipReason(str(error))
        registered_order = list(context.instance.get_dynamic_partitions(speaker_partitions.name))
        registered = set(registered_order)
        materialized = set(context.instance.get_materialized_partitions(dg.AssetKey("merged_jsonl")))
        cursor = SensorCursor.from_json(context.cursor)
        plan = plan_tick(states, cursor, registered, materialized, time.time(), settle_seconds)

        for name, why in plan.rejected.items():
            context.log.warning(f"speaker folder {name!r} skipped: {why}; rename it to process it")
        for key, why in plan.remove.items():
            context.log.warning(f"partition {key!r} removed: it can never name a speaker folder ({why})")
        for speaker in plan.vanished:
            context.log.warning(f"speaker folder {speaker!r} disappeared from AUDIO_ROOT; its results are kept")
        if plan.settling:
            context.log.info(f"still being written, waiting: {', '.join(plan.settling[:20])}")
        context.log.info(
            f"scanned {len(states)} speaker folders ({sum(s.files for s in states.values())} files) "
            f"in {time.perf_counter() - started:.2f} s: {len(plan.add)} new, {len(plan.run)} to run"
        )
        return dg.SensorResult(
            run_requests=run_requests(plan, registered_order, states, (first_run_files, run_files)),
            dynamic_partitions_requests=[
                *([speaker_partitions.build_delete_request(list(plan.remove))] if plan.remove else []),
                *([speaker_partitions.build_add_request(plan.add)] if plan.add else []),
            ],
            asset_events=[
                dg.AssetObservation(
                    asset_key="audio_files",
                    partition=speaker,
                    metadata={"folder_status": "missing from AUDIO_ROOT", "results": "kept"},
                )
                for speaker in plan.vanished
                if speaker in registered
            ],
            cursor=plan.cursor.to_json(),
        )

    return audio_folder_sensor
