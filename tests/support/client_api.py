"""Calling a deployed stack as a client application (its API key) and as people (the ``api``
fixture of tests/integration/conftest.py) in the integration tests."""

import csv
import io
import time
from collections.abc import Callable
from typing import NamedTuple

import pytest
import requests
from textloop.domain import layout

# The reviewer whose token answers reviews in the integration tests.
REVIEWER = "simulated-reviewer"

# A correction of a prediction; its model version names no model (tests that need one that
# served set their own).
FEEDBACK = {
    "text": "Shares of the chip maker rose after quarterly profit beat forecasts.",
    "model_type": "DOCUMENT_CLASSIFIER",
    "mode": "MULTI_CLASS",
    "model_version": "never-served-1",
    "prediction": {
        "labels": [{"label": "SciTech", "score": 0.55}, {"label": "Business", "score": 0.45}],
        "routed_to_review": False,
    },
    "reason": "dislike",
    "corrected_labels": ["Business"],
    "submitter": {"user_id": "analyst-7"},
}


def post(stack, path, body, key=None):
    headers = {} if key is None else {"x-api-key": key}
    return requests.post(f"{stack['api_url']}{path}", json=body, headers=headers, timeout=120)


def lake_objects(aws_client, bucket, prefix):
    s3 = aws_client("s3")
    return [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]


def wait_for_feedback(aws_client, bucket, ids, model_type="DOCUMENT_CLASSIFIER", timeout=120):
    """The records ``ids`` once the intake queue's consumer wrote them to the lake's files
    (``{id: record}``; by model type, any hour), and the keys of the files they are in."""
    from textloop.adapters.lake import DataLake

    lake = DataLake(aws_client("s3"), bucket)
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        keys = [
            k
            for k in lake_objects(aws_client, bucket, layout.feedback_model_type_prefix(model_type))
            if layout.feedback_file_partition(k) is not None
        ]
        found, files = {}, set()
        for key in keys:
            for record in lake.read_feedback_files([key]):
                if record.id in wanted:
                    found[record.id] = record.to_dict()
                    files.add(key)
        if set(found) == wanted or time.monotonic() > deadline:
            assert set(found) == wanted, f"not in the lake after {timeout} s: {wanted - set(found)}"
            return found, sorted(files)
        time.sleep(1)


def wait_for_iteration(api, iteration_id, timeout=600):
    """``GET /iterations/{id}`` once the iteration stopped running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api("GET", f"/iterations/{iteration_id}", expect=200).json()
        if body["status"] != "RUNNING":
            return body
        time.sleep(2)
    pytest.fail(f"iteration {iteration_id} still RUNNING after {timeout} s")


class Reviewed(NamedTuple):
    answered: int  # items the review API counted as answered
    tasks: list[dict]  # each batch's task (``GET /reviews/{id}``), in the order answered


def label_answer(truth: dict[str, str]) -> Callable[[dict], dict]:
    """An item's answer: its text's gold label (a text not in ``truth`` fails the test)."""
    return lambda item: {"labels": [truth[item["text"]]]}


def span_answer(truth: dict[str, list[dict]]) -> Callable[[dict], dict]:
    """An item's answer: its text's gold entity spans (a text not in ``truth`` fails the test)."""
    return lambda item: {"entities": truth[item["text"]]}


def answer_reviews(
    api,
    iteration_id: str,
    answer_of: Callable[[dict], dict],
    *,
    timeout: float = 300,
    extra: dict | None = None,
) -> Reviewed:
    """The reviewer answering iteration ``iteration_id``'s review batches through the review
    API: list the waiting batches, fetch each, answer every item with ``answer_of(item)`` (its
    fields besides ``item_id``: ``label_answer``, ``span_answer``, or a test's own that checks
    the item first), and again, until the iteration stops running or, once something was
    answered, none of its batches waits. ``extra``: further fields of each answers body."""
    answered, tasks = 0, []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api("GET", f"/iterations/{iteration_id}", expect=200).json()["status"]
        pending = [
            b
            for b in api("GET", "/reviews", expect=200).json()["reviews"]
            if b["iteration_id"] == iteration_id
        ]
        for batch in pending:
            task = api("GET", f"/reviews/{batch['batch_id']}", expect=200).json()
            answers = [{"item_id": item["item_id"], **answer_of(item)} for item in task["items"]]
            result = api(
                "POST",
                f"/reviews/{batch['batch_id']}/answers",
                {**(extra or {}), "answers": answers},
                expect=200,
            ).json()
            answered += result["answered"]
            tasks.append(task)
        if status != "RUNNING" or (answered and not pending):
            break
        time.sleep(2)
    return Reviewed(answered, tasks)


def bootstrap_classifier(stack, api, aws_client, rows):
    """The classifier's bootstrap iteration: ``rows`` (``(label, text)``) as the seed, no
    feedback yet; trained and promoted. Returns ``GET /models/active``'s body."""
    seed = io.StringIO()
    csv.writer(seed, lineterminator="\n").writerows(rows)
    aws_client("s3").put_object(
        Bucket=stack["data_lake_bucket"],
        Key=layout.seed_key("DOCUMENT_CLASSIFIER"),
        Body=seed.getvalue().encode(),
    )
    started = api(
        "POST",
        "/iterations",
        {"model_type": "DOCUMENT_CLASSIFIER", "config": {"min_new_items": 0}},
        expect=202,
    ).json()
    result = wait_for_iteration(api, started["iteration_id"])
    assert result["status"] == "SUCCEEDED", result
    return api("GET", "/models/active?model_type=DOCUMENT_CLASSIFIER", expect=200).json()
