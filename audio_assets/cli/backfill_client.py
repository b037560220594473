"""A small client for the running webserver's GraphQL API: what the UI does, from a script."""

import json
import time
import urllib.request
from collections.abc import Sequence

SPEAKER_ASSETS = ["audio_files", "transcriptions", "tokens", "merged_jsonl"]
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class GraphQLError(RuntimeError):
    pass


def graphql(url: str, query: str, variables: dict | None = None, timeout: float = 30.0) -> dict:
    request = urllib.request.Request(
        f"{url.rstrip('/')}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.load(response)
    if body.get("errors"):
        raise GraphQLError(json.dumps(body["errors"])[:2000])
    return body["data"]


def launch_backfill(url: str, speakers: Sequence[str] | None, title: str = "audio-assets backfill") -> str:
    """An asset backfill of the speaker assets (all partitions when ``speakers`` is None); its id."""
    params = {
        "assetSelection": [{"path": [name]} for name in SPEAKER_ASSETS],
        "title": title,
        **({"allPartitions": True} if speakers is None else {"partitionNames": list(speakers)}),
    }
    data = graphql(
        url,
        """mutation($params: LaunchBackfillParams!) {
             launchPartitionBackfill(backfillParams: $params) {
               __typename
               ... on LaunchBackfillSuccess { backfillId }
               ... on PythonError { message }
               ... on InvalidSubsetError { message }
               ... on PartitionKeysNotFoundError { message }
             }
           }""",
        {"params": params},
    )["launchPartitionBackfill"]
    if data["__typename"] != "LaunchBackfillSuccess":
        raise GraphQLError(f"{data['__typename']}: {data.get('message', '')}")
    return data["backfillId"]


def backfill_status(url: str, backfill_id: str) -> str:
    data = graphql(
        url,
        """query($id: String!) {
             partitionBackfillOrError(backfillId: $id) { __typename ... on PartitionBackfill { status } }
           }""",
        {"id": backfill_id},
    )["partitionBackfillOrError"]
    return data.get("status", data["__typename"])


def wait_for_backfill(url: str, backfill_id: str, timeout: float = 3600.0, poll: float = 2.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = backfill_status(url, backfill_id)
        if status in FINISHED or time.monotonic() > deadline:
            return status
        time.sleep(poll)
