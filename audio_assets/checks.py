"""Data-quality checks on merged_jsonl: one result per check and speaker partition.

They run in their own step after the merge (and can be run again alone from the UI). They read the
JSONL and error files back from disk and compare them with the listing, so they test the output a
user gets, not the in-memory records that produced it:

- ``files_conserved`` (blocking): every listed file is exactly one JSONL row or one error record.
- ``speech_has_transcript``: no empty transcription for a file louder than the silence threshold (the
  loudness of the audio Whisper heard, from ``transcriptions``).
- ``token_rate``: every row has the tokeniser's tokens per second of audio (BEST-RQ's 25/s by default,
  EnCodec's 75 frames/s times the codebooks when interleaved), give or take one time step.
- ``token_ids_in_range``: every token id is a code of the tokeniser's codebook.
- ``reference_wer`` (warning): WER against reference transcripts where they exist (VCTK txt/).
- ``speaker_folder_available``: the speaker folder could be listed.

A speaker whose folder could not be listed fails every check on its partition: nothing about it was
verified, and its previous results (if any) were kept as they were.
"""

import json
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from audio_assets.partitions import speaker_partitions
from audio_assets.resources import AudioTokenizer, ResultsFolder, SpeakerListing, TokenShape
from audio_assets.speech.wer import word_error_rate

# Partitioned asset checks are a preview in Dagster 1.13; they are what puts each result on its speaker.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)

ASSET = dg.AssetKey("merged_jsonl")
FAILURES_SHOWN = 100  # rows of a failure table; the count says how many there are in all


def _spec(name: str, description: str, blocking: bool = False) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name,
        asset=ASSET,
        description=description,
        partitions_def=speaker_partitions,
        blocking=blocking,
        additional_deps=["audio_files", "transcriptions"],  # the listing and the loudness it compares with
    )


CHECK_SPECS = [
    _spec("files_conserved", "listed files = JSONL rows + error records, each id once", blocking=True),
    _spec("speech_has_transcript", "no empty transcription for audio that is not silent"),
    _spec("token_rate", "tokens per second of audio as the tokeniser produces them"),
    _spec("token_ids_in_range", "every token id is in [0, codebook size) of the tokeniser"),
    _spec("reference_wer", "WER against reference transcripts, where they exist"),
    _spec("speaker_folder_available", "the speaker folder could be listed"),
]
SEVERITY = {"reference_wer": dg.AssetCheckSeverity.WARN}  # the others: ERROR
FAILURES_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("speaker", "string", description="the partition"),
        dg.TableColumn("file", "string", description="file id, or the folder"),
        dg.TableColumn("reason", "string"),
    ]
)


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
    folder_error: str | None = None  # the listing's: the folder itself could not be listed


@dataclass
class Verdict:
    """One check on one speaker: what failed (file, reason) and the figures, as numbers."""

    summary: str
    failures: list[tuple[str, str]] = field(default_factory=list)
    figures: dict[str, float | int | None] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def evaluate_speaker(out: SpeakerOutput, quality: DatasetQuality, tokens: TokenShape) -> dict[str, Verdict]:
    """Every check's verdict on one speaker's written output."""
    if out.jsonl is None or out.folder_error:
        why = out.folder_error or "the speaker folder could not be listed"
        unchecked = Verdict(f"not checked: {why}", [(out.speaker, why)])
        verdicts = {spec.name: unchecked for spec in CHECK_SPECS}
        verdicts["speaker_folder_available"] = Verdict(f"unavailable: {why}", [(out.speaker, why)], {"available": 0})
        return verdicts

    rows, errors = _read_jsonl(out.jsonl), _read_jsonl(out.errors)
    listed = Counter(out.listing["id"])
    written = Counter([r["id"] for r in rows] + [e["id"] for e in errors])
    conserved = [(i, "listed, but neither a JSONL row nor an error record") for i in sorted(set(listed) - set(written))]
    conserved += [(i, "written but not listed") for i in sorted(set(written) - set(listed))]
    conserved += [(i, f"written {n} times") for i, n in sorted(written.items()) if n > 1]
    verdicts = {
        "files_conserved": Verdict(
            f"{len(conserved)} files not conserved" if conserved else "every listed file written once",
            conserved,
            {"listed": sum(listed.values()), "rows": len(rows), "errors": len(errors)},
        ),
        "speaker_folder_available": Verdict("listed", figures={"available": 1}),
    }

    if "rms_dbfs" in out.transcripts.columns:
        loudness = dict(zip(out.transcripts["id"], out.transcripts["rms_dbfs"]))
        loud = [r for r in rows if loudness[r["id"]] > quality.silence_dbfs]
        empty = [
            (r["id"], f"empty transcription at {loudness[r['id']]:.1f} dBFS")
            for r in loud
            if not r["transcription"].strip()
        ]
        verdicts["speech_has_transcript"] = Verdict(
            f"{len(empty)} audible files without words" if empty else "every audible file has words",
            empty,
            {"non_silent": len(loud), "empty_transcripts": len(empty)},
        )
    else:  # a transcriptions table from a version without loudness: this check cannot run
        why = "transcriptions has no rms_dbfs column (an older version made it): rematerialise it"
        verdicts["speech_has_transcript"] = Verdict(why, [(out.speaker, why)])

    seconds_of = dict(zip(out.listing["id"], out.listing["duration_s"]))
    off_rate, out_of_range, total_tokens, total_seconds = [], [], 0, 0.0
    for r in rows:
        seconds = float(seconds_of[r["id"]])
        expected = tokens.tokens_per_second * seconds
        if abs(len(r["token_array"]) - expected) > tokens.codebooks + quality.token_rate_tolerance * expected:
            off_rate.append((r["id"], f"{len(r['token_array'])} tokens for {seconds:.2f} s (expected {expected:.0f})"))
        ids = r["token_array"]
        if ids and (min(ids) < 0 or max(ids) >= tokens.codebook_size):  # min/max first: a row holds thousands
            bad = [t for t in ids if not 0 <= t < tokens.codebook_size]
            out_of_range.append((r["id"], f"{len(bad)} ids outside [0, {tokens.codebook_size}), e.g. {bad[0]}"))
        total_tokens += len(r["token_array"])
        total_seconds += seconds
    verdicts["token_rate"] = Verdict(
        f"{len(off_rate)} files off the token rate" if off_rate else "every file at the token rate",
        off_rate,
        {
            "tokens_per_second": round(total_tokens / total_seconds, 3) if total_seconds else None,
            "expected_tokens_per_second": tokens.tokens_per_second,
        },
    )
    verdicts["token_ids_in_range"] = Verdict(
        f"{len(out_of_range)} files with ids outside the codebook" if out_of_range else "every id in the codebook",
        out_of_range,
        {"codebook_size": tokens.codebook_size},
    )

    reference_of = dict(zip(out.listing["id"], out.listing["reference_text"]))
    has_language = "language" in out.transcripts.columns
    language_of = dict(zip(out.transcripts["id"], out.transcripts["language"])) if has_language else {}
    pairs = [(reference_of[r["id"]], r["transcription"], language_of.get(r["id"]) or "en") for r in rows]
    pairs = [pair for pair in pairs if isinstance(pair[0], str) and pair[0].strip()]
    wer = word_error_rate(*zip(*pairs)) if pairs else None  # each file normalised for its own language
    too_high = wer is not None and wer > quality.max_wer
    verdicts["reference_wer"] = Verdict(
        "no reference transcripts" if wer is None else f"WER {wer:.3f} {'>' if too_high else '<='} {quality.max_wer}",
        [(out.speaker, f"WER {wer:.3f} > {quality.max_wer}")] if too_high else [],
        {"wer": None if wer is None else round(wer, 4), "files_with_reference": len(pairs)},
    )
    return verdicts


def check_evaluation(speaker: str, check_name: str, verdict: Verdict) -> dg.AssetCheckEvaluation:
    """The verdict as Dagster records it, on the speaker's partition.

    An ``AssetCheckResult`` takes its partition from the step, so a step over several partitions (a
    run covers up to 50 speakers) could only report one result per check, on no partition. An
    ``AssetCheckEvaluation`` names its partition itself."""
    spec = next(s for s in CHECK_SPECS if s.name == check_name)
    metadata: dict[str, dg.RawMetadataValue] = {k: v for k, v in verdict.figures.items() if v is not None}
    if verdict.failures:
        shown = verdict.failures[:FAILURES_SHOWN]
        metadata["failing_files"] = len(verdict.failures)
        metadata["failures"] = dg.MetadataValue.table(
            [dg.TableRecord({"speaker": speaker, "file": f, "reason": why}) for f, why in shown], schema=FAILURES_SCHEMA
        )
    return dg.AssetCheckEvaluation(
        asset_key=ASSET,
        check_name=check_name,
        passed=verdict.passed,
        metadata=metadata,
        severity=SEVERITY.get(check_name, dg.AssetCheckSeverity.ERROR),
        description=verdict.summary,
        blocking=spec.blocking,
        partition=speaker,
    )


def recorded_token_shape(instance: dg.DagsterInstance, speaker: str) -> TokenShape | None:
    """The shape the speaker's latest ``tokens`` materialisation recorded: a check run again later, from
    the UI with the default settings, judges the tokens that were made, not the ones it would make.
    None for tokens made before shapes were recorded; the run's settings stand in for those."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("tokens"), asset_partitions=[speaker]), limit=1
    ).records
    if not records:
        return None
    return TokenShape.from_metadata({k: v.value for k, v in records[0].asset_materialization.metadata.items()})


@dg.multi_asset_check(
    specs=CHECK_SPECS,
    name="merged_jsonl_quality",
    can_subset=True,  # one check can run again alone
    ins={"audio_files": dg.AssetIn("audio_files"), "transcriptions": dg.AssetIn("transcriptions")},
)
def merged_jsonl_quality(
    context: dg.AssetCheckExecutionContext,
    results_folder: ResultsFolder,
    quality: DatasetQuality,
    tokenizer: AudioTokenizer,
    audio_files: dict[str, SpeakerListing],
    transcriptions: dict[str, pd.DataFrame],
):
    """The checks of every speaker of the step, each result on its speaker's partition."""
    selected = {key.name for key in context.selected_asset_check_keys}
    for speaker in sorted(audio_files):
        listing = audio_files[speaker]
        jsonl, errors = results_folder.jsonl_path(speaker), results_folder.errors_path(speaker)
        written = jsonl.is_file() and errors.is_file()  # a listed folder's error is evaluate_speaker's to see
        output = SpeakerOutput(
            speaker,
            listing.files,
            transcriptions[speaker],
            jsonl if written else None,
            errors if written else None,
            listing.folder_error,
        )
        tokens = recorded_token_shape(context.instance, speaker) or tokenizer.shape()
        for name, verdict in evaluate_speaker(output, quality, tokens).items():
            if name in selected:
                yield check_evaluation(speaker, name, verdict)
    for name in context.op_execution_context.selected_output_names:  # each check's step output, empty
        yield dg.Output(None, output_name=name)
