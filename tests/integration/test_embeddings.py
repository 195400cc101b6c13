"""An iteration on ``local_model = "tfidf+embeddings"`` on LocalStack, over HTTP: started with
the setting, reviews answered through the review API, the candidate trained with sentence
embeddings (the encoder Terraform uploaded, read from the lake by its sha256; the training
texts' embeddings kept in the lake's embedding cache), promoted over the TF-IDF model, and
served by classify."""

import hashlib
import json
import time

import numpy as np
import pytest
from textloop.domain import embedding_cache, layout
from textloop.domain.sentence_encoder import ENCODER_NAME

from tests.support.client_api import (
    answer_reviews,
    bootstrap_classifier,
    label_answer,
    lake_objects,
    wait_for_feedback,
    wait_for_iteration,
)
from textloop_ops.encoder import built_artefact

SEED_ROWS = 400
TRAFFIC = slice(3000, 3160)


@pytest.fixture(scope="module")
def active_tfidf(stack, api, aws_client, ag_news):
    """The classifier serving before the embeddings iteration: the session's (the loop's, when
    the whole suite runs), or a TF-IDF bootstrap model from AG News when this module runs
    alone."""
    active = api("GET", "/models/active?model_type=DOCUMENT_CLASSIFIER")
    if active.status_code == 404:
        active = bootstrap_classifier(stack, api, aws_client, ag_news[:SEED_ROWS])
    else:
        assert active.status_code == 200, active.text
        active = active.json()
    return active.get("pointer", active)


def metadata(stack, aws_client, model_version: str) -> dict:
    body = aws_client("s3").get_object(
        Bucket=stack["data_lake_bucket"], Key=layout.metadata_key(model_version)
    )["Body"]
    return json.loads(body.read())


def test_an_iteration_trains_promotes_and_serves_a_tfidf_embeddings_model(
    stack, api, aws_client, ag_news, active_tfidf
):
    bucket = stack["data_lake_bucket"]
    before = metadata(stack, aws_client, active_tfidf["model_version"])
    assert before.get("local_model", "tfidf") == "tfidf"

    # New feedback: the texts the serving model is unsure of.
    routed = []
    for _, text in ag_news[TRAFFIC]:
        body = api("POST", "/classify", {"text": text}, expect=200).json()
        if body["routed_to_review"]:
            routed.append(body["feedback_id"])
    assert len(routed) >= 5, "the serving model must be unsure of some AG News texts"
    wait_for_feedback(aws_client, bucket, routed)

    started = api(
        "POST",
        "/iterations",
        {
            "model_type": "DOCUMENT_CLASSIFIER",
            "config": {
                "local_model": "tfidf+embeddings",
                "min_new_items": 5,
                "review_budget": 20,
                "review_batch_size": 10,
                "per_label_tolerance": 0.1,
            },
        },
        expect=202,
    ).json()
    iteration_id = started["iteration_id"]

    truth = {text: label for label, text in ag_news}
    answered, _ = answer_reviews(api, iteration_id, label_answer(truth), timeout=600)
    assert answered > 0, "the iteration never offered a review batch"

    result = wait_for_iteration(api, iteration_id, timeout=900)
    assert result["status"] == "SUCCEEDED", json.dumps(result, indent=1, default=str)
    audit = result["audit"]
    assert audit["inputs"]["config"]["local_model"] == "tfidf+embeddings"
    candidate = audit["models"]["candidate"]["model_version"]

    # The candidate is the new kind, naming the encoder Terraform uploaded.
    sha = hashlib.sha256(built_artefact().read_bytes()).hexdigest()
    trained = metadata(stack, aws_client, candidate)
    assert trained["local_model"] == "tfidf+embeddings"
    assert trained["encoder"] == {"name": ENCODER_NAME, "sha256": sha}
    assert trained["embedding_weight"]["weight"] > 0
    assert layout.encoder_artefact_key(ENCODER_NAME, sha) in lake_objects(
        aws_client, bucket, layout.ENCODER_ARTEFACTS_PREFIX
    )
    # Train kept every training text's embedding (Evaluate the test set's) in the cache.
    s3 = aws_client("s3")
    cached = set()
    for key in lake_objects(aws_client, bucket, layout.embedding_cache_prefix(ENCODER_NAME, sha)):
        digests, vectors = embedding_cache.read_segment(
            s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        )
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        cached.update(digests)
    assert len(cached) >= trained["n_documents"]

    # Better than TF-IDF alone on the same frozen test set: promoted, and served.
    assert audit["status"] == "PROMOTED", audit["decision"]
    deadline, served = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        served = api(
            "POST",
            "/classify",
            {"text": "The striker scored twice as the home side won the league title."},
            expect=200,
        ).json()
        if served["model_version"] == candidate:
            break
        time.sleep(1)
    assert served["model_version"] == candidate
    assert served["predicted_labels"] == ["Sports"]
    scores = [item["score"] for item in served["prediction"]["labels"]]
    assert len(scores) == 4 and sum(scores) == pytest.approx(1.0, abs=1e-3)
