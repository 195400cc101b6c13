"""The whole loop on LocalStack, driven over HTTP like a client and a reviewer would.

A client application calls with the API key; people (an operator, a reviewer) with bearer tokens
minted by the stack's KMS signing key, as ``textloop users token`` does. Each route refuses the
wrong caller: no token is 401, a token outside the route's group is 403, the API key is not a
person, and a name in a body never replaces the token's.

A bootstrap iteration trains and promotes the first model from a slice of AG News; classify,
feedback and batch uploads then fill the data lake; a second iteration selects items, waits for
reviews answered through the review API from the data set's true labels, retrains, evaluates
both models on the same frozen test set and promotes the candidate, which classify then serves.
"""

import json
import time

import pytest
import requests
from textloop.domain import layout
from textloop.domain.identity import TokenIssuer

from tests.support import people
from tests.support.client_api import (
    FEEDBACK,
    REVIEWER,
    answer_reviews,
    bootstrap_classifier,
    label_answer,
    post,
    wait_for_feedback,
    wait_for_iteration,
)

SEED_ROWS = 400
TRAFFIC_ROWS = 160
CORRECTION_ROWS = 600


@pytest.fixture(scope="module")
def seeded(stack, api, aws_client, ag_news):
    """The bootstrap iteration: no feedback yet, seed data only, trained and promoted."""
    return bootstrap_classifier(stack, api, aws_client, ag_news[:SEED_ROWS])


def test_bootstrap_iteration_promotes_the_first_model(seeded):
    pointer = seeded.get("pointer", seeded)
    assert pointer["model_version"]
    assert pointer["backend"] == "local"


def test_classify_serves_the_active_model(seeded, api):
    pointer = seeded.get("pointer", seeded)
    body = api(
        "POST",
        "/classify",
        {"text": "The striker scored twice as the home side won the league title at the stadium."},
        expect=200,
    ).json()
    assert body["model_version"] == pointer["model_version"]
    assert body["predicted_labels"] == ["Sports"]
    assert {item["label"] for item in body["prediction"]["labels"]} == {
        "World",
        "Sports",
        "Business",
        "SciTech",
    }


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"text": ""}, 400, "text"),
        ({"text": 7}, 400, "text"),
        ({"text": "ok", "extra": True}, 400, "extra"),
        ({"text": "x" * 10_001}, 413, "text"),
    ],
)
def test_classify_rejects_bad_requests(seeded, api, body, status, field):
    response = api("POST", "/classify", body, expect=status)
    assert field in response.text


def test_requests_without_the_api_key_are_refused(stack, tokens):
    response = requests.post(f"{stack['api_url']}classify", json={"text": "hi"}, timeout=60)
    assert response.status_code == 403
    # A person's token is not a client application's key.
    response = requests.post(
        f"{stack['api_url']}classify",
        json={"text": "hi"},
        headers=people.bearer(tokens["operator"]),
        timeout=60,
    )
    assert response.status_code == 403


def test_people_routes_need_a_token_of_their_group(seeded, api, stack, aws_client):
    # No token, or only the client key: 401 with a Bearer challenge.
    for caller in (None, "client"):
        response = api("GET", "/reviews", caller=caller, expect=401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        api("POST", "/iterations", {"model_type": "DOCUMENT_CLASSIFIER"}, caller=caller, expect=401)
    # A reviewer answers reviews but cannot approve, roll back or start iterations.
    api("GET", "/reviews", caller="reviewer", expect=200)
    for method, path, body in [
        ("POST", "/approvals/doc-20250101T000000-abcdef", {"approved": True}),
        ("POST", "/models/rollback", {"reason": "a reviewer tries"}),
        ("POST", "/iterations", {"model_type": "DOCUMENT_CLASSIFIER"}),
        ("GET", "/models/active?model_type=DOCUMENT_CLASSIFIER", None),
    ]:
        response = api(method, path, body, caller="reviewer", expect=403)
        assert response.json()["group"] in ("approvers", "operators")
    # An operator reads models (and rolls back: the second iteration's test) but does not review.
    api("GET", "/models/active?model_type=DOCUMENT_CLASSIFIER", caller="operator", expect=200)
    api("GET", "/reviews", caller="operator", expect=403)
    # A token signed by another key, with the same claims, is refused like no token.
    kms = aws_client("kms")
    forged = people.token(
        people.create_signing_key(kms),
        "integration-operator",
        "operators",
        issuer=TokenIssuer(**stack["people_token_issuer"]),
        kms=kms,
    )
    response = requests.get(
        f"{stack['api_url']}iterations", headers=people.bearer(forged), timeout=60
    )
    assert response.status_code == 401, response.text


def test_low_confidence_traffic_lands_as_implicit_feedback(seeded, api, stack, aws_client, ag_news):
    traffic = ag_news[SEED_ROWS : SEED_ROWS + TRAFFIC_ROWS]
    routed = []
    for _, text in traffic:
        body = api("POST", "/classify", {"text": text}, expect=200).json()
        if body["routed_to_review"]:
            routed.append(body["feedback_id"])
    assert routed, "a 400-document seed model must be unsure of some AG News texts"
    # Through the queue: the consumer writes them, many to a file, in their partitions.
    records, files = wait_for_feedback(aws_client, stack["data_lake_bucket"], routed)
    assert len(files) < len(routed), "the intake batches records into files"
    for key in files:
        assert layout.feedback_file_partition(key)[0] == "DOCUMENT_CLASSIFIER"
        assert key.endswith(".jsonl.gz")
    assert {r["source"] for r in records.values()} == {"implicit"}


def test_feedback_api_records_a_correction_once(seeded, api):
    pointer = seeded.get("pointer", seeded)
    body = {
        "text": "Shares of the chip maker rose after quarterly profit beat forecasts.",
        "model_type": "DOCUMENT_CLASSIFIER",
        "mode": "MULTI_CLASS",
        "model_version": pointer["model_version"],
        "prediction": {
            "labels": [{"label": "SciTech", "score": 0.55}, {"label": "Business", "score": 0.45}],
            "routed_to_review": False,
        },
        "reason": "dislike",
        "corrected_labels": ["Business"],
        "submitter": {"user_id": "analyst-1"},
    }
    first = api("POST", "/feedback", body, expect=202).json()
    again = api("POST", "/feedback", body, expect=202).json()
    assert again == {"feedback_id": first["feedback_id"], "duplicate": True}
    bad = api("POST", "/feedback", {**body, "reason": "meh"}, expect=400)
    assert "reason" in bad.text


def test_two_applications_keys_give_records_of_their_own_application(seeded, stack, aws_client):
    # Feedback must name a model that served (the bootstrap's), so this runs after it.
    bucket = stack["data_lake_bucket"]
    version = seeded.get("pointer", seeded)["model_version"]
    feedback = {**FEEDBACK, "model_version": version}
    text = f"{FEEDBACK['text']} ({time.time_ns()})"
    ids = {}
    for app_id in ("partner", "support-desk"):
        response = post(stack, "feedback", {**feedback, "text": text}, stack["api_keys"][app_id])
        assert response.status_code == 202, response.text
        ids[app_id] = response.json()["feedback_id"]
    assert ids["partner"] != ids["support-desk"]
    stored, _ = wait_for_feedback(aws_client, bucket, ids.values())
    records = {r["submitter"]["application_id"]: r for r in stored.values()}
    assert set(records) == {"partner", "support-desk"}
    assert records["partner"]["trusted"] is False
    assert records["support-desk"]["trusted"] is True
    assert records["partner"]["submitter"]["user_id"] == "analyst-7"

    # A key cannot speak for another application.
    spoofed = {**feedback, "submitter": {"user_id": "x", "application_id": "support-desk"}}
    response = post(stack, "feedback", spoofed, stack["api_keys"]["partner"])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "submitter.application_id"


def test_batch_file_with_bad_lines_is_processed_line_by_line(seeded, stack, aws_client, ag_news):
    rows = ag_news[SEED_ROWS + TRAFFIC_ROWS : SEED_ROWS + TRAFFIC_ROWS + CORRECTION_ROWS]
    lines = [json.dumps({"text": text, "corrected_labels": [label]}) for label, text in rows]
    lines.insert(10, "{broken")
    lines.insert(20, json.dumps({"text": "", "corrected_labels": ["World"]}))
    key = "uploads/feedback/DOCUMENT_CLASSIFIER/support-desk/corrections.jsonl"
    s3 = aws_client("s3")
    s3.put_object(Bucket=stack["data_lake_bucket"], Key=key, Body="\n".join(lines).encode())

    errors_key = (
        "uploads/errors/feedback/DOCUMENT_CLASSIFIER/support-desk/corrections.jsonl.errors.json"
    )
    deadline = time.monotonic() + 120
    report = None
    while time.monotonic() < deadline and report is None:
        try:
            obj = s3.get_object(Bucket=stack["data_lake_bucket"], Key=errors_key)
            report = json.loads(obj["Body"].read())
        except s3.exceptions.NoSuchKey:
            time.sleep(2)
    assert report is not None, "the S3 notification never ran the batch-feedback function"
    assert report["accepted"] == CORRECTION_ROWS
    assert report["rejected"] == 2
    assert [e["line"] for e in report["errors"]] == [11, 21]


def test_second_iteration_reviews_retrains_and_promotes(seeded, api, ag_news):
    truth = dict((text, label) for label, text in ag_news)
    before = seeded.get("pointer", seeded)["model_version"]
    started = api(
        "POST",
        "/iterations",
        {
            "model_type": "DOCUMENT_CLASSIFIER",
            "config": {
                "min_new_items": 5,
                "review_budget": 30,
                "review_batch_size": 15,
                "random_share": 0.2,
                "per_label_tolerance": 0.1,
                # A person signs the promotion: approvers only, the token's name recorded.
                "manual_approval": True,
            },
        },
        expect=202,
    ).json()
    iteration_id = started["iteration_id"]
    listed = api("GET", "/iterations", expect=200).json()["iterations"]
    assert iteration_id in [i["iteration_id"] for i in listed]

    # Only one iteration at a time per model.
    refused = api("POST", "/iterations", {"model_type": "DOCUMENT_CLASSIFIER"}, expect=409)
    assert started["executionArn"] in refused.text

    # A forged name in the body: the answers are the token's person's.
    answered, _ = answer_reviews(
        api, iteration_id, label_answer(truth), extra={"reviewer_id": "forged-reviewer"}
    )
    assert answered > 0, "the iteration never offered a review batch"

    decision = {"approved": True, "approver": "forged-approver", "comment": "integration"}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        response = api("POST", f"/approvals/{iteration_id}", decision, caller="approver")
        if response.status_code != 404:  # 404: the iteration does not wait for approval yet
            break
        time.sleep(2)
    assert response.status_code == 200, response.text
    assert response.json() == {"iteration_id": iteration_id, "approved": True, "duplicate": False}
    # A reviewer cannot sign, and the same answer again changes nothing.
    api("POST", f"/approvals/{iteration_id}", decision, caller="reviewer", expect=403)
    again = api("POST", f"/approvals/{iteration_id}", decision, caller="approver", expect=200)
    assert again.json()["duplicate"] is True

    result = wait_for_iteration(api, iteration_id)
    assert result["status"] == "SUCCEEDED", json.dumps(result, indent=1, default=str)
    audit = result["audit"]
    assert audit["status"] == "PROMOTED", audit["decision"]
    # Explicit corrections also carry their submitters; the reviews are the token's person's,
    # never the name the body claimed.
    assert REVIEWER in audit["reviewers"]
    assert "forged-reviewer" not in json.dumps(audit)
    assert audit["inputs"]["approval"]["approver"] == "integration-approver"
    assert "forged-approver" not in json.dumps(audit)
    assert audit["inputs"]["started_by"] == "integration-operator"
    by_reviewer = [i for i in audit["reviewed_items"] if REVIEWER in i["reviewer_ids"]]
    assert len(by_reviewer) == answered
    assert (
        audit["models"]["candidate"]["metrics"]["test_set_hash"]
        == (audit["models"]["active"]["metrics"]["test_set_hash"])
    )

    after = api("GET", "/models/active?model_type=DOCUMENT_CLASSIFIER", expect=200).json()
    after_version = after.get("pointer", after)["model_version"]
    assert after_version != before
    # The classify function re-reads the pointer within 5 s (envs/local).
    deadline = time.monotonic() + 30
    served = None
    while time.monotonic() < deadline and served != after_version:
        served = api("POST", "/classify", {"text": "Oil prices rose again."}, expect=200).json()[
            "model_version"
        ]
        time.sleep(1)
    assert served == after_version

    # A reviewer cannot roll back; an operator can (back to the bootstrap model).
    api("POST", "/models/rollback", {"reason": "integration"}, caller="reviewer", expect=403)
    rolled = api(
        "POST", "/models/rollback", {"reason": "integration: operator rolls back"}, expect=200
    ).json()
    assert rolled["changed"] is True and rolled["model_version"] == before
