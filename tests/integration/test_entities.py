"""The entity loop on LocalStack, driven over HTTP like a client, an operator and a reviewer.

The gold documents of the Ground Truth manifest (data/aws_service_ner) are split by text, in a
fixed order (``textloop_ops.entity_gold``), into a seed, detection traffic and held-out
documents. The seed's manifest lines go through the operator's import path (`textloop
import-dataset --format groundtruth`); a bootstrap iteration trains and promotes the first
recogniser; the traffic through ``POST /classify`` with ``model_type`` ENTITY_RECOGNIZER makes
implicit feedback of the documents with an entity below its threshold; an iteration selects
documents, a reviewer's token answers them through the review API with their gold spans, and
the candidate, evaluated beside the active recogniser on the same frozen test set, is promoted
and then served. The classifier of the same deployment answers beside it throughout.
"""

from __future__ import annotations

import time

import pytest
from textloop.domain.evaluation import evaluate_entities

from tests.support.client_api import (
    REVIEWER,
    answer_reviews,
    bootstrap_classifier,
    span_answer,
    wait_for_feedback,
    wait_for_iteration,
)
from textloop_ops import cli, entity_gold

NER = "ENTITY_RECOGNIZER"
SEED, HELD_OUT = 40, 40
# The classifier's seed when this module runs without test_loop.py before it (the same rows).
CLASSIFIER_SEED_ROWS = 400


@pytest.fixture(scope="module")
def gold():
    return entity_gold.split(entity_gold.gold_documents(), held_out=HELD_OUT, seed=SEED)


@pytest.fixture(scope="module")
def bootstrapped(stack, api, gold, localstack_endpoint, tmp_path_factory):
    """The seed imported from its manifest lines by the CLI, then the bootstrap iteration."""
    manifest = tmp_path_factory.mktemp("entity-seed") / "seed.manifest"
    manifest.write_text(entity_gold.manifest_of(gold.seed), encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        # The CLI's AWS target: the default credential chain, pointed at this LocalStack.
        for name, value in {
            "AWS_ENDPOINT_URL": localstack_endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            env.setenv(name, value)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        code = cli.main(
            [
                "--api-url",
                stack["api_url"],
                "--api-key",
                stack["api_key"],
                "--bucket",
                stack["data_lake_bucket"],
                "import-dataset",
                str(manifest),
                "--format",
                "groundtruth",
                "--model-type",
                NER,
            ]
        )
    assert code == 0
    started = api(
        "POST", "/iterations", {"model_type": NER, "config": {"min_new_items": 0}}, expect=202
    ).json()
    assert started["iteration_id"].startswith("ner-")
    result = wait_for_iteration(api, started["iteration_id"])
    failure = (result.get("audit") or {}).get("failure")
    assert result["status"] == "SUCCEEDED", (result["error"], failure)
    assert result["audit"]["status"] == "PROMOTED", result["audit"]["decision"]
    return api("GET", f"/models/active?model_type={NER}", expect=200).json()


def test_the_manifest_seed_bootstraps_the_first_recogniser(bootstrapped):
    pointer = bootstrapped["pointer"]
    assert pointer["model_type"] == NER
    assert pointer["backend"] == "local"
    assert "mode" not in pointer
    evaluation = bootstrapped["evaluation"]
    assert set(evaluation["labels"]) == {"SERVICE", "VERSION"}
    assert evaluation["MicroF1Score"] >= 0.5


def test_detection_traffic_returns_entities_and_records_the_unsure(
    bootstrapped, api, gold, stack, aws_client
):
    version = bootstrapped["pointer"]["model_version"]
    routed, found = [], 0
    for document in gold.traffic:
        text = document["text"]
        body = api("POST", "/classify", {"model_type": NER, "text": text}, expect=200).json()
        assert body["model_type"] == NER and body["model_version"] == version
        for entity in body["entities"]:
            assert 0 <= entity["begin_offset"] < entity["end_offset"] <= len(text)
            assert entity["type"] in ("SERVICE", "VERSION")
            assert 0 <= entity["score"] <= 1
        found += len(body["entities"])
        # Routed iff an entity is below 0.9, the recognisers' default threshold.
        assert body["routed_to_review"] == any(e["score"] < 0.9 for e in body["entities"])
        if body["routed_to_review"]:
            routed.append(body["feedback_id"])
    assert found, "a recogniser trained on 32 documents finds services in AWS announcements"
    assert len(routed) >= 10, "the seed recogniser must be unsure of some traffic"
    # Through the queue, into the recognisers' partitions.
    wait_for_feedback(aws_client, stack["data_lake_bucket"], routed, model_type=NER)


def test_a_classifier_and_the_recogniser_answer_side_by_side(
    bootstrapped, api, stack, aws_client, ag_news
):
    status = api("GET", "/models/active?model_type=DOCUMENT_CLASSIFIER").status_code
    if status == 404:  # this module alone: the classifier test_loop.py trains is not there
        bootstrap_classifier(stack, api, aws_client, ag_news[:CLASSIFIER_SEED_ROWS])
    # The classifier gets an AG News text: what it routes to review becomes feedback a later
    # module's classifier iteration may select, and its simulated reviewer knows AG News only.
    classified = api("POST", "/classify", {"text": ag_news[-1][1]}, expect=200).json()
    text = "Amazon SageMaker now supports PyTorch 1.6 in all regions."
    detected = api("POST", "/classify", {"model_type": NER, "text": text}, expect=200).json()
    assert classified["model_type"] == "DOCUMENT_CLASSIFIER"
    assert classified["predicted_labels"] and "entities" not in classified
    assert detected["model_type"] == NER
    assert detected["model_version"] == bootstrapped["pointer"]["model_version"]
    assert {"SERVICE"} <= {e["type"] for e in detected["entities"]}
    assert classified["model_version"] != detected["model_version"]


def test_an_entity_iteration_reviews_spans_retrains_promotes_and_serves(bootstrapped, api, gold):
    truth = gold.truth
    before = bootstrapped["pointer"]["model_version"]
    started = api(
        "POST",
        "/iterations",
        {
            "model_type": NER,
            "config": {
                "min_new_items": 5,
                "review_budget": 40,
                "review_batch_size": 10,
                "random_share": 0.0,
                "per_label_tolerance": 0.1,
            },
        },
        expect=202,
    ).json()
    iteration_id = started["iteration_id"]
    # One iteration per model type at a time: a second recogniser iteration is refused.
    refused = api("POST", "/iterations", {"model_type": NER}, expect=409)
    assert started["executionArn"] in refused.text

    traffic = {d["text"] for d in gold.traffic}
    spans = span_answer(truth)

    def answer_of(item):
        # Every selected document came from the traffic, with the model's spans.
        assert item["text"] in traffic
        for span in item["suggestion"]["entities"]:
            assert 0 <= span["score"] <= 1
        return spans(item)

    answered, tasks = answer_reviews(api, iteration_id, answer_of)
    for task in tasks:
        assert set(task["entity_types"]) >= {"SERVICE", "VERSION"}
    assert answered >= 10, "the iteration offered too few documents for review"

    result = wait_for_iteration(api, iteration_id)
    failure = (result.get("audit") or {}).get("failure")
    assert result["status"] == "SUCCEEDED", (result["error"], failure)
    audit = result["audit"]
    assert audit["model_type"] == NER
    assert audit["status"] == "PROMOTED", audit["decision"]
    assert REVIEWER in audit["reviewers"]
    candidate, active = (
        audit["models"]["candidate"]["metrics"],
        audit["models"]["active"]["metrics"],
    )
    # Both recognisers on the same frozen test set; the candidate, trained on the reviewed
    # spans too, is the better one.
    assert candidate["test_set_hash"] == active["test_set_hash"]
    assert candidate["MicroF1Score"] > active["MicroF1Score"]

    after = api("GET", f"/models/active?model_type={NER}", expect=200).json()
    version = after["pointer"]["model_version"]
    assert version != before
    assert after["evaluation"]["MicroF1Score"] == candidate["MicroF1Score"]
    listed = api("GET", f"/iterations?model_type={NER}", expect=200).json()["iterations"]
    assert iteration_id in {i["iteration_id"] for i in listed}
    assert {i["model_type"] for i in listed} == {NER}

    # The classify function re-reads the pointer within 5 s (envs/local): the new recogniser
    # answers, and on the held-out documents (never sent before) it finds the gold spans.
    held_out = gold.held_out[:10]
    deadline = time.monotonic() + 30
    served = None
    while time.monotonic() < deadline and served != version:
        body = {"model_type": NER, "text": held_out[0]["text"]}
        served = api("POST", "/classify", body, expect=200).json()["model_version"]
        time.sleep(1)
    assert served == version
    predicted = [
        api("POST", "/classify", {"model_type": NER, "text": d["text"]}, expect=200).json()[
            "entities"
        ]
        for d in held_out
    ]
    f1 = evaluate_entities([d["entities"] for d in held_out], predicted)["MicroF1Score"]
    print(f"\nserved recogniser {version}: micro F1 {f1:.4f} on {len(held_out)} held-out documents")
    assert f1 >= 0.5
