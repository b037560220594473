"""The training-ready dataset: results/{speaker}.jsonl, one line per file, sorted by id."""

import statistics

import dagster as dg
import pandas as pd

from audio_assets.partitions import speaker_backfill_policy, speakers
from audio_assets.resources import ResultsFolder


def merge_speaker(
    listing: pd.DataFrame, transcripts: pd.DataFrame, token_table: pd.DataFrame
) -> tuple[list[dict], list[dict]]:
    """JSONL records and error records for one speaker: every listed id lands in exactly one of them."""
    text = transcripts.set_index("id")
    toks = token_table.set_index("id")
    records, errors = [], []
    for file_id, listing_error in sorted(zip(listing["id"], listing["error"])):
        reasons = []
        if listing_error is not None and not pd.isna(listing_error):
            reasons.append(listing_error)
        else:
            for step, table in (("transcriptions", text), ("tokens", toks)):
                if file_id not in table.index:
                    reasons.append(f"{step}: no row for this file")
                elif not pd.isna(table.at[file_id, "error"]):
                    reasons.append(f"{step}: {table.at[file_id, 'error']}")
        if reasons:
            errors.append({"id": file_id, "error": "; ".join(reasons)})
        else:
            records.append(
                {
                    "id": file_id,
                    "transcription": str(text.at[file_id, "text"]),
                    "token_array": [int(t) for t in toks.at[file_id, "token_ids"]],
                }
            )
    return records, errors


@dg.asset(
    partitions_def=speakers,
    backfill_policy=speaker_backfill_policy,
    group_name="speech_dataset",
    kinds={"json"},
)
def merged_jsonl(
    context: dg.AssetExecutionContext,
    results_folder: ResultsFolder,
    audio_files: dict[str, pd.DataFrame],
    transcriptions: dict[str, pd.DataFrame],
    tokens: dict[str, pd.DataFrame],
) -> None:
    """{"id", "transcription", "token_array"} per file, replaced atomically; errors go to a sibling file."""
    for speaker in sorted(context.partition_keys):
        folder_error = audio_files[speaker].attrs.get("folder_error")
        if folder_error:
            previous = results_folder.jsonl_path(speaker)
            context.log.warning(f"{speaker}: speaker folder unavailable ({folder_error}); kept {previous}")
            context.add_asset_metadata(
                {"folder_error": folder_error, "status": "skipped; previous results kept", "path": str(previous)},
                partition_key=speaker,
            )
            continue
        records, errors = merge_speaker(audio_files[speaker], transcriptions[speaker], tokens[speaker])
        written = results_folder.write_jsonl(speaker, records)
        error_file = results_folder.write_jsonl(speaker, errors, suffix=".errors.jsonl")
        for e in errors:
            context.log.warning(f"{speaker}: {e['id']}: {e['error']}")
        context.add_asset_metadata(
            {
                "rows": written["lines"],
                "errors": len(errors),
                "path": dg.MetadataValue.path(written["path"]),
                "errors_path": dg.MetadataValue.path(error_file["path"]),
                "bytes": written["bytes"],
                "sha256": written["sha256"],
                "files_table": dg.MetadataValue.md(_files_table(records, audio_files[speaker])),
            },
            partition_key=speaker,
        )


def _files_table(records: list[dict], listing: pd.DataFrame, limit: int = 50) -> str:
    """A per-file table for the UI: duration, words and tokens, so odd files stand out at a glance."""
    seconds = dict(zip(listing["id"], listing["duration_s"]))
    words = [len(r["transcription"].split()) for r in records]
    durations = [float(seconds.get(r["id"]) or 0.0) for r in records]
    lines = []
    if records:
        lines.append(
            f"{len(records)} files, {sum(durations):.1f} s of audio; median {statistics.median(durations):.1f} s "
            f"and {statistics.median(words):g} words per file\n"
        )
    lines += ["| id | seconds | words | tokens | transcription |", "|---|---:|---:|---:|---|"]
    for r, d, w in list(zip(records, durations, words))[:limit]:
        text = r["transcription"].replace("|", "\\|")
        lines.append(f"| {r['id']} | {d:.2f} | {w} | {len(r['token_array'])} | {text} |")
    if len(records) > limit:
        lines.append(f"| … {len(records) - limit} more | | | | |")
    return "\n".join(lines)
