"""Data-quality checks on merged_jsonl, evaluated with every materialisation on what was written.

They read the JSONL and error files back from disk and compare them with the listing, so they test
the output a user gets, not the in-memory records that produced it:

- ``files_conserved``: every listed file is exactly one JSONL row or one error record, nothing else.
- ``speech_has_transcript``: no empty transcription for a file louder than the silence threshold (the
  loudness of the audio Whisper heard, from ``transcriptions``).
- ``token_rate``: every row has the tokeniser's tokens per second of audio.
- ``reference_wer``: WER against reference transcripts where they exist (VCTK txt/), with a threshold.
- ``speaker_folder_available``: the speaker folder could be listed (else results were kept, unchecked).

A run over several speakers gives one result per check, with the figures of each speaker.
"""

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from audio_assets.speech.wer import word_error_rate

ASSET = "merged_jsonl"
CHECK_SPECS = [
    dg.AssetCheckSpec(
        "files_conserved", asset=ASSET, description="listed files = JSONL rows + error records, each id once"
    ),
    dg.AssetCheckSpec(
        "speech_has_transcript", asset=ASSET, description="no empty transcription for audio that is not silent"
    ),
    dg.AssetCheckSpec(
        "token_rate", asset=ASSET, description="tokens per second of audio as the tokeniser produces them"
    ),
    dg.AssetCheckSpec("reference_wer", asset=ASSET, description="WER against reference transcripts, where they exist"),
    dg.AssetCheckSpec("speaker_folder_available", asset=ASSET, description="the speaker folder could be listed"),
]


class DatasetQuality(dg.ConfigurableResource):
    """Thresholds of the data-quality checks."""

    max_wer: float = Field(default=0.3, description="reference_wer fails (as a warning) above this WER.")
    silence_dbfs: float = Field(default=-50.0, description="Files quieter than this (RMS, dBFS) count as silent.")
    token_rate_tolerance: float = Field(default=0.02, description="Allowed relative deviation, plus one token.")


@dataclass
class SpeakerOutput:
    speaker: str
    listing: pd.DataFrame
    transcripts: pd.DataFrame | None
    jsonl: Path | None  # None when the speaker was skipped (folder unavailable)
    errors: Path | None


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _result(name: str, failures: dict[str, list[str]], figures: dict[str, dict], severity=dg.AssetCheckSeverity.ERROR):
    failing = {speaker: ids for speaker, ids in failures.items() if ids}
    lines = [f"{speaker}: {', '.join(ids[:20])}{' …' if len(ids) > 20 else ''}" for speaker, ids in failing.items()]
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=ASSET,
        passed=not failing,
        severity=severity,
        metadata={"speakers": dg.MetadataValue.json(figures), **({"failures": "\n".join(lines)} if lines else {})},
    )


def evaluate(
    outputs: list[SpeakerOutput], quality: DatasetQuality, tokens_per_second: float
) -> list[dg.AssetCheckResult]:
    conserved, speech, rate, wer, folders = {}, {}, {}, {}, {}
    figures: dict[str, dict[str, dict]] = {k: {} for k in ("conserved", "speech", "rate", "wer", "folders")}
    for out in outputs:
        s = out.speaker
        if out.jsonl is None:
            folders[s] = [out.listing.attrs.get("folder_error", "unavailable")]
            figures["folders"][s] = {"available": False}
            continue
        folders[s] = []
        figures["folders"][s] = {"available": True}
        rows, errors = _read_jsonl(out.jsonl), _read_jsonl(out.errors)
        listed = Counter(out.listing["id"])
        written = Counter([r["id"] for r in rows] + [e["id"] for e in errors])
        conserved[s] = sorted(set(listed) ^ set(written)) + sorted(i for i, n in written.items() if n > 1)
        figures["conserved"][s] = {"listed": sum(listed.values()), "rows": len(rows), "errors": len(errors)}

        seconds_of = dict(zip(out.listing["id"], out.listing["duration_s"]))
        reference_of = dict(zip(out.listing["id"], out.listing["reference_text"]))
        if "rms_dbfs" in out.transcripts.columns:
            loudness = dict(zip(out.transcripts["id"], out.transcripts["rms_dbfs"]))
            loud = [r for r in rows if loudness[r["id"]] > quality.silence_dbfs]
            speech[s] = [r["id"] for r in loud if not r["transcription"].strip()]
            figures["speech"][s] = {"non_silent": len(loud), "empty_transcripts": len(speech[s])}
        else:  # a transcriptions table from a version without loudness: this check cannot run
            speech[s] = ["transcriptions has no rms_dbfs column (an older version made it): rematerialise it"]
            figures["speech"][s] = {"non_silent": None, "empty_transcripts": None}

        bad_rate, total_tokens, total_seconds = [], 0, 0.0
        for r in rows:
            seconds = float(seconds_of[r["id"]])
            expected = tokens_per_second * seconds
            if abs(len(r["token_array"]) - expected) > 1 + quality.token_rate_tolerance * expected:
                bad_rate.append(r["id"])
            total_tokens += len(r["token_array"])
            total_seconds += seconds
        rate[s] = bad_rate
        figures["rate"][s] = {"tokens_per_second": round(total_tokens / total_seconds, 3) if total_seconds else None}

        refs = [(reference_of[r["id"]], r["transcription"]) for r in rows]
        refs = [(ref, hyp) for ref, hyp in refs if isinstance(ref, str) and ref.strip()]
        speaker_wer = word_error_rate([r for r, _ in refs], [h for _, h in refs]) if refs else None
        wer[s] = (
            [f"WER {speaker_wer:.3f} > {quality.max_wer}"]
            if speaker_wer is not None and speaker_wer > quality.max_wer
            else []
        )
        figures["wer"][s] = {
            "files_with_reference": len(refs),
            "wer": None if speaker_wer is None else round(speaker_wer, 4),
        }
    return [
        _result("files_conserved", conserved, figures["conserved"]),
        _result("speech_has_transcript", speech, figures["speech"]),
        _result("token_rate", rate, figures["rate"]),
        _result("reference_wer", wer, figures["wer"], severity=dg.AssetCheckSeverity.WARN),
        _result("speaker_folder_available", folders, figures["folders"], severity=dg.AssetCheckSeverity.WARN),
    ]
