"""Transcript quality and speed for each Whisper model × backend, on real and synthesised speech.

    .venv/bin/python benchmarks/quality.py [--prompts 100] [--clips 40]      (make bench-quality)

For every model that installs offline (tiny.en, and base from ``audio_assets[base]``) on both
backends, with each backend's default CPU precision and greedy decoding, it transcribes:

- real English prompts: every k-th of the Asterisk prompts (Debian's asterisk-core-sounds-en-wav,
  one speaker, 8 kHz telephone audio), ``--prompts 0`` for all of them;
- the synthesised corpus of the pipeline benchmark (espeak-ng reading Harvard sentences).

WER uses Whisper's English normaliser on both sides. files/s is over the real prompts, batched and
sorted by duration as the pipeline batches them, after the model is loaded. Each combination runs in a
fresh process. The last line printed is one JSON object with all the figures.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (model, backend, language): base detects each file's language, and once more with English set
COMBINATIONS = [(m, b, None) for m in ("tiny.en", "base") for b in ("openai-whisper", "faster-whisper")]
COMBINATIONS.append(("base", "openai-whisper", "en"))


def measure(model: str, backend: str, language: str | None, prompts: int, clips: int, work: Path) -> dict:
    from audio_assets.cli.corpus import asterisk_prompts, make_corpus
    from audio_assets.speech.decoding import decode
    from audio_assets.speech.wer import word_error_rate
    from audio_assets.speech.whisper_engines import EngineSettings, load_engine

    real = asterisk_prompts("en")
    if not real:
        raise SystemExit("asterisk-core-sounds-en-wav and asterisk-core-sounds-en are needed (make system-deps)")
    real = real[:: max(1, len(real) // prompts)][:prompts] if prompts else real
    synthetic = make_corpus(work / "synthetic", speakers=2, clips=clips // 2) if clips else []
    settings = EngineSettings(backend=backend, model=model, language=language, cache_dir=str(work / "cache"))
    engine = load_engine(settings)
    figures = {"model": model, "backend": backend, "language": language, "compute_type": engine.compute_type}
    for name, utterances in (("real", real), ("synthetic", synthetic)):
        audios = [decode(u.path.read_bytes()) for u in utterances]
        order = sorted(range(len(audios)), key=lambda i: len(audios[i]))
        start = time.perf_counter()
        results = engine.transcribe([audios[i] for i in order])
        wall = time.perf_counter() - start
        texts = dict(zip(order, (r.text for r in results)))
        figures[f"{name}_files"] = len(utterances)
        figures[f"{name}_wer"] = round(
            word_error_rate([u.text for u in utterances], [texts[i] for i in range(len(audios))]), 4
        )
        figures[f"{name}_files_per_second"] = round(len(audios) / wall, 3)
        figures[f"{name}_audio_seconds"] = round(sum(len(a) for a in audios) / 16000, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100, help="real English prompts (0: all)")
    parser.add_argument("--clips", type=int, default=40, help="synthesised clips (two speakers)")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # "model,backend,language": one combination, here
    args = parser.parse_args()
    if args.only:
        model, backend, language = args.only.split(",")
        with tempfile.TemporaryDirectory() as work:
            print(json.dumps(measure(model, backend, language or None, args.prompts, args.clips, Path(work))))
        return
    rows = []
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    print(f"machine: {cpu or platform.machine()}, {os.cpu_count()} cores; real prompts: {args.prompts or 'all'}")
    print(f"{'model':8} {'backend':15} {'language':9} {'precision':9} {'WER real':>9} {'WER synth':>9} {'files/s':>8}")
    for model, backend, language in COMBINATIONS:
        out = subprocess.run(
            [sys.executable, __file__, "--prompts", str(args.prompts), "--clips", str(args.clips),
             "--only", f"{model},{backend},{language or ''}"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{model:8} {backend:15} {language or 'detected':9} {row['compute_type']:9} {row['real_wer']:9.3f} "
            f"{row['synthetic_wer']:9.3f} {row['real_files_per_second']:8.2f}",
            flush=True,
        )
    print(json.dumps({"quality": rows}))


if __name__ == "__main__":
    main()
