"""Speech with known text for the demo, tests and benchmark: synthesised corpora in VCTK layout, and
real recorded prompts from Debian's packages.

``<out>/wav48_silence_trimmed/<speaker>/<speaker>_<nnn>_mic2.flac`` (48 kHz, like VCTK) and the text
in ``<out>/txt/<speaker>/<speaker>_<nnn>.txt``. Speech comes from espeak-ng (Debian package
``espeak-ng``) reading Harvard sentences (IEEE 1969, public domain); each speaker gets its own pitch
and rate so the corpus is not one voice.

``asterisk_prompts`` reads the real recordings of Debian's ``asterisk-core-sounds-<lang>-wav`` (one
speaker, 8 kHz) with their transcripts from ``asterisk-core-sounds-<lang>``.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

HARVARD_SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
    "A king ruled the state in the early days.",
    "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.",
    "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.",
    "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.",
    "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.",
    "Mesh wire keeps chicks inside.",
    "The frosty air passed through the coat.",
    "The crooked maze failed to fool the mouse.",
    "Adding fast leads to wrong sums.",
    "The show was a flop from the very start.",
    "A saw is a tool used for making boards.",
    "The wagon moved on well oiled wheels.",
    "March the soldiers past the next hill.",
    "A cup of sugar makes sweet fudge.",
    "Place a rosebush near the porch steps.",
    "Both lost their lives in the raging storm.",
]

CORPUS_RATE = 48_000


@dataclass(frozen=True)
class Utterance:
    id: str  # "<speaker>/<file name>", as the pipeline names it
    text: str
    path: Path


def synthesize(
    text: str, voice: str = "en-us", pitch: int = 50, rate: int = 150, gap: int = 6
) -> tuple[np.ndarray, int]:
    """Speech for ``text`` from espeak-ng, as float32 samples and their rate.

    A short pause between words (``gap``, in 10 ms units) roughly halves Whisper tiny.en's WER on
    espeak speech, which makes WER bounds in tests meaningful.
    """
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (Debian/Ubuntu: sudo apt-get install espeak-ng)")
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(
            [espeak, "-v", voice, "-p", str(pitch), "-s", str(rate), "-g", str(gap), "-w", wav.name, text],
            check=True,
            capture_output=True,
        )
        samples, sr = soundfile.read(wav.name, dtype="float32")
    return samples, sr


def make_corpus(
    out: Path, speakers: int = 2, clips: int = 3, first_speaker: int = 900, voice: str = "en-us"
) -> list[Utterance]:
    """Write a VCTK-layout corpus; speaker ``i`` reads sentences ``i*clips ...`` (cycling the list)."""
    utterances = []
    for s in range(speakers):
        speaker = f"p{first_speaker + s}"
        pitch, rate = 40 + (s * 7) % 25, 145 + (s * 5) % 15
        for c in range(clips):
            text = HARVARD_SENTENCES[(s * clips + c) % len(HARVARD_SENTENCES)]
            samples, sr = synthesize(text, voice=voice, pitch=pitch, rate=rate)
            name = f"{speaker}_{c + 1:03d}"
            flac = out / "wav48_silence_trimmed" / speaker / f"{name}_mic2.flac"
            flac.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(flac, soxr.resample(samples, sr, CORPUS_RATE), CORPUS_RATE, subtype="PCM_16")
            txt = out / "txt" / speaker / f"{name}.txt"
            txt.parent.mkdir(parents=True, exist_ok=True)
            txt.write_text(text + "\n")
            utterances.append(Utterance(f"{speaker}/{flac.name}", text, flac))
    return utterances


ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")
ASTERISK_DOCS = Path("/usr/share/doc")


def asterisk_prompts(language: str, folder: str = "", min_words: int = 1) -> list[Utterance]:
    """The recorded prompts of one folder of the Asterisk sounds (top level by default; ``digits``,
    ``silence``, ...) that have a transcript, sorted by name. Transcripts that mark non-speech (``[tone]``,
    ``(silence)``) are left out, except in ``silence/``, whose clips are given the empty text.
    Empty when the packages are not installed."""
    transcripts = ASTERISK_DOCS / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
    root = ASTERISK_SOUNDS / language / folder
    if not transcripts.is_file() or not root.is_dir():
        return []
    if folder == "silence":
        return [Utterance(f"{language}/silence/{p.name}", "", p) for p in sorted(root.glob("*.wav"))]
    texts = {}
    for line in gzip.decompress(transcripts.read_bytes()).decode("utf-8").splitlines():
        name, sep, text = line.partition(":")
        if line.startswith(";") or not sep:
            continue
        text = text.strip()
        if text and not any(mark in text for mark in "[]()") and len(text.split()) >= min_words:
            texts[name.strip()] = text
    prefix = f"{folder}/" if folder else ""
    prompts = []
    for name, text in sorted(texts.items()):
        stem = name.removeprefix(prefix)
        path = root / f"{stem}.wav"
        if name.startswith(prefix) and "/" not in stem and path.is_file():
            prompts.append(Utterance(f"{language}/{prefix}{path.name}", text, path))
    return prompts
