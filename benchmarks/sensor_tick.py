"""How long one audio_folder_sensor tick takes over a big AUDIO_ROOT (default 10,000 speakers × 10 files).

Files are empty: a tick only stats them (names, sizes, mtimes); it never reads audio. Prints the
time to fingerprint the folders, a first tick (everything new), a steady-state tick (nothing changed,
the common case), a tick after one file changed, and the cursor size.

    .venv/bin/python benchmarks/sensor_tick.py [--speakers 10000] [--files 10]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import dagster as dg

from audio_assets.resources import AudioLibrary
from audio_assets.sensors import build_audio_folder_sensor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--speakers", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        root = Path(tmp) / "audio"
        old = time.time() - 3600
        for s in range(args.speakers):
            folder = root / f"s{s:06d}"
            folder.mkdir(parents=True)
            for f in range(args.files):
                path = folder / f"s{s:06d}_{f:03d}.flac"
                path.touch()
                os.utime(path, (old, old))
            os.utime(folder, (old, old))
        library = AudioLibrary(root=str(root))
        sensor = build_audio_folder_sensor(settle_seconds=10)

        def tick(cursor):
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"audio_library": library})
            start = time.perf_counter()
            result = sensor(context)
            return result, time.perf_counter() - start

        start = time.perf_counter()
        library.folder_states()
        scan = time.perf_counter() - start
        first, first_s = tick(None)
        added = [k for r in first.dynamic_partitions_requests for k in r.partition_keys]
        instance.add_dynamic_partitions("speakers", added)  # what the daemon does with the request
        steady, steady_s = tick(first.cursor)
        changed = root / "s000042" / "s000042_000.flac"
        changed.write_bytes(b"x")
        os.utime(changed, (old, old))
        one, one_s = tick(steady.cursor)
        total = args.speakers * args.files
        print(f"AUDIO_ROOT: {args.speakers:,} speaker folders, {total:,} files")
        print(f"fingerprint all folders : {scan:6.2f} s")
        print(
            f"first tick (all new)     : {first_s:6.2f} s  → {len(added):,} partitions, {len(first.run_requests)} runs"
        )
        print(f"steady tick (no change)  : {steady_s:6.2f} s  → {len(steady.run_requests)} runs")
        print(f"tick after 1 changed file: {one_s:6.2f} s  → {len(one.run_requests)} run")
        print(f"cursor size              : {len(steady.cursor) / 1024:6.0f} KiB")


if __name__ == "__main__":
    main()
