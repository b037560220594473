"""The training-ready dataset: results/{speaker}.jsonl, one line per file, sorted by id."""

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
    group_name="dataset",
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
                "preview": dg.MetadataValue.md(_preview(records)),
            },
            partition_key=speaker,
        )


def _preview(records: list[dict], n: int = 5) -> str:
    lines = ["| id | transcription | tokens |", "|---|---|---|"]
    for r in records[:n]:
        text = r["transcription"].replace("|", "\\|")
        lines.append(f"| {r['id']} | {text} | {len(r['token_array'])} |")
    return "\n".join(lines)
