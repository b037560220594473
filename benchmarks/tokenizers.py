"""What each tokeniser setting costs: BEST-RQ and EnCodec at every bandwidth, on the same clips.

    .venv/bin/python benchmarks/tokenizers.py [--clips 40] [--threads 1 --threads 2]   (make bench-tokenizers)

The clips are the pipeline benchmark's synthesised speech (espeak-ng), decoded at each backend's own
rate beforehand. EnCodec runs with a seeded random 24 kHz checkpoint (no EnCodec weights install
offline): the architecture, and so the cost, are those of facebook/encodec_24khz. Each setting runs in
a fresh process with ``torch.set_num_threads(threads)`` (the tokens step's default is 1 thread), after
one warm-up clip. The last line printed is one JSON object with all the figures.
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = [{"backend": "bestrq"}]
SETTINGS += [{"backend": "encodec", "bandwidth": b, "layout": "interleaved"} for b in (1.5, 3.0, 6.0, 12.0, 24.0)]
SETTINGS.append({"backend": "encodec", "bandwidth": 6.0, "layout": "first"})


def measure(settings: dict, threads: int, corpus: Path, checkpoint: Path) -> dict:
    import resource

    import torch

    from audio_assets.resources import AudioTokenizer
    from audio_assets.speech.decoding import decode

    torch.set_num_threads(threads)
    weights = {"weights": str(checkpoint)} if settings["backend"] == "encodec" else {}
    tokenizer = AudioTokenizer(**settings, **weights, device="cpu")
    encoder = tokenizer.encoder()
    clips = [decode(p.read_bytes(), encoder.sample_rate) for p in sorted(corpus.rglob("*.flac"))]
    encoder.encode(clips[:1])
    start = time.perf_counter()
    ids = encoder.encode(clips)
    wall = time.perf_counter() - start
    seconds = sum(len(c) for c in clips) / encoder.sample_rate
    return {
        **settings,
        "threads": threads,
        "files": len(clips),
        "audio_seconds": round(seconds, 1),
        "files_per_second": round(len(clips) / wall, 2),
        "audio_seconds_per_wall_second": round(seconds / wall, 1),
        "tokens_per_audio_second": round(sum(len(i) for i in ids) / seconds, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--threads", type=int, action="append", help="torch threads (repeatable; default 1 and 2)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child: one JSON setting
    args = parser.parse_args()
    if args.one:
        one = json.loads(args.one)
        print(json.dumps(measure(one["settings"], one["threads"], Path(one["corpus"]), Path(one["checkpoint"]))))
        return

    from audio_assets.cli.corpus import make_corpus
    from audio_assets.speech.encodec_tokens import write_random_checkpoint

    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus"
        make_corpus(corpus, speakers=2, clips=max(1, args.clips // 2))
        checkpoint = write_random_checkpoint(Path(work) / "encodec", seed=0)
        print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}; {args.clips} clips")
        figures = []
        for threads in args.threads or [1, 2]:
            for settings in SETTINGS:
                one = {"settings": settings, "threads": threads, "corpus": str(corpus), "checkpoint": str(checkpoint)}
                out = subprocess.run(
                    [sys.executable, __file__, "--one", json.dumps(one)], check=True, capture_output=True, text=True
                )
                row = json.loads(out.stdout.splitlines()[-1])
                figures.append(row)
                name = row["backend"] + (f" {row['bandwidth']:>4} kbps {row['layout']}" if "bandwidth" in row else "")
                print(
                    f"{name:<32} {threads} thread(s): {row['files_per_second']:7.2f} files/s, "
                    f"{row['audio_seconds_per_wall_second']:6.1f}× real time, "
                    f"{row['tokens_per_audio_second']:6.1f} tokens/s of audio, process peak RSS {row['peak_rss_mb']} MB"
                )
    print(json.dumps({"tokenizers": figures}))


if __name__ == "__main__":
    main()
