"""The facts feedback is checked against (adapters.model_catalog), read from moto's SSM, S3 and
DynamoDB: where each fact comes from, and how often it is read."""

from __future__ import annotations

import json

import boto3
import pytest
from textloop.adapters.active_model import (
    ActiveModelPointer,
    ActiveModelPointerStore,
    pointer_parameter_name,
)
from textloop.adapters.model_catalog import ModelCatalog
from textloop.adapters.registry import Registry
from textloop.domain import layout

from tests.support.stack import create_bucket, create_registry_table

BUCKET = "textloop-test-catalog"
TABLE = "textloop-test-registry"
PREFIX = "/textloop/test"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store(model_type: str = "DOCUMENT_CLASSIFIER") -> ActiveModelPointerStore:
    return ActiveModelPointerStore(boto3.client("ssm"), pointer_parameter_name(PREFIX, model_type))


def promote(version: str) -> None:
    store().put(
        ActiveModelPointer(
            model_version=version,
            backend="local",
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            artefact_uri=f"s3://{BUCKET}/models/{version}/model.joblib",
        )
    )


def put_document(key: str, document: dict) -> None:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(document).encode())


@pytest.fixture
def catalog(aws):
    create_bucket(BUCKET)
    create_registry_table(TABLE)
    clock = Clock()
    made = ModelCatalog(
        pointer_store=store,
        s3_client=boto3.client("s3"),
        bucket=BUCKET,
        registry=Registry(boto3.client("dynamodb"), TABLE),
        ttl_seconds=60,
        min_refresh_seconds=5,
        clock=clock,
    )
    return made, clock


def test_no_model_yet_knows_no_version_and_no_labels(catalog):
    models, _ = catalog
    facts = models.facts("DOCUMENT_CLASSIFIER")
    assert facts.active_version is None and facts.labels is None
    assert facts.known_versions == frozenset()


def test_facts_come_from_the_pointer_the_metadata_and_the_registry(catalog):
    models, _ = catalog
    promote("agnews-2")
    put_document(layout.metadata_key("agnews-2"), {"labels": ["Business", "Sports"]})
    Registry(boto3.client("dynamodb"), TABLE).record(
        "DOCUMENT_CLASSIFIER",
        "it-1",
        {"model_version": "agnews-1", "promoted_at": "2025-11-01T00:00:00.000Z"},
    )
    facts = models.facts("DOCUMENT_CLASSIFIER")
    assert facts.active_version == "agnews-2"
    assert facts.known_versions == {"agnews-1", "agnews-2"}
    assert facts.labels == {"Business", "Sports"}


def test_a_comprehend_version_has_its_labels_in_its_evaluation(catalog):
    models, _ = catalog
    put_document(layout.evaluation_key("cmp-3"), {"labels": ["World", "SciTech"], "n": 3})
    assert models.labels_of("cmp-3") == {"World", "SciTech"}
    assert models.labels_of("never-trained") is None


def test_reads_are_cached_and_a_new_version_is_picked_up_early_but_not_per_request(catalog):
    models, clock = catalog
    promote("agnews-1")
    assert models.facts("DOCUMENT_CLASSIFIER").active_version == "agnews-1"
    promote("agnews-2")
    clock.now = 1
    # Within the TTL: cached, even when asked about a version it does not know...
    assert (
        "agnews-2" not in models.facts("DOCUMENT_CLASSIFIER", expecting="agnews-2").known_versions
    )
    assert models.reads == 1
    # ...until min_refresh_seconds passed: then one early re-read finds it.
    clock.now = 6
    assert "agnews-2" in models.facts("DOCUMENT_CLASSIFIER", expecting="agnews-2").known_versions
    assert models.reads == 2
    # A flood of made-up versions costs one read per interval, not one per request.
    for _ in range(50):
        models.facts("DOCUMENT_CLASSIFIER", expecting="made-up")
    assert models.reads == 2
    clock.now = 70
    models.facts("DOCUMENT_CLASSIFIER")
    assert models.reads == 3


def test_feedback_errors_name_the_version_and_each_unknown_label(catalog):
    models, _ = catalog
    promote("agnews-2")
    put_document(layout.metadata_key("agnews-2"), {"labels": ["Business", "Sports"]})
    request = {
        "model_type": "DOCUMENT_CLASSIFIER",
        "model_version": "agnews-2",
        "prediction": {
            "labels": [{"label": "Business", "score": 0.6}, {"label": "Cooking", "score": 0.4}],
            "routed_to_review": False,
        },
        "corrected_labels": ["Weather"],
    }
    assert [e.as_tuple() for e in models.feedback_errors(request)] == [
        ("prediction.labels[1].label", "is not a label of the model"),
        ("corrected_labels[0]", "is not a label of the model (Business, Sports)"),
    ]
    assert [e.field for e in models.feedback_errors({**request, "model_version": "x"})] == [
        "model_version"
    ]
