"""Active-model pointer (SSM), per-process model cache, artefact store (S3) — with moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from textloop.adapters.active_model import (
    ActiveModelPointer,
    ActiveModelPointerStore,
    ActiveModelProvider,
    backend_loader,
    pointer_parameter_name,
)
from textloop.adapters.artefacts import ArtefactStoreError, ModelArtefactStore
from textloop.adapters.comprehend_endpoint import ComprehendBackend
from textloop.domain import local_model
from textloop.domain.validation import InvalidInput

BUCKET = "textloop-unit-lake"
PARAMETER = pointer_parameter_name("/textloop/test", "DOCUMENT_CLASSIFIER")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ssm(aws):
    return boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def tiny_models():
    texts = ["great match", "won the cup", "stocks fell", "markets rose", "new chip", "fast cpu"]
    labels = ["Sports", "Sports", "Business", "Business", "SciTech", "SciTech"]
    when = datetime(2025, 11, 1, tzinfo=UTC)
    first = local_model.fit(texts, labels, "MULTI_CLASS", model_version="tiny-1", now=when)
    second = local_model.fit(
        texts,
        labels,
        "MULTI_CLASS",
        model_version="tiny-2",
        now=when,
        thresholds={"per_label": {"Sports": 0.9}},
    )
    return first, second


def comprehend_pointer(version="cmp-1", **extra) -> ActiveModelPointer:
    return ActiveModelPointer(
        model_version=version,
        backend="comprehend",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        endpoint_arn="arn:aws:comprehend:us-east-1:123456789012:document-classifier-endpoint/news",
        **extra,
    )


# --------------------------------------------------------------------------- pointer


def test_parameter_name():
    assert PARAMETER == "/textloop/test/active-model/DOCUMENT_CLASSIFIER"
    with pytest.raises(ValueError):
        pointer_parameter_name("/x", "SENTIMENT")


def test_pointer_round_trip_and_cache(ssm):
    clock = Clock()
    store = ActiveModelPointerStore(ssm, PARAMETER, max_age_seconds=30, clock=clock)
    assert store.put(comprehend_pointer()) == 1
    pointer, version = store.get()
    assert pointer == comprehend_pointer() and version == 1
    assert json.loads(ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"])["backend"] == (
        "comprehend"
    )
    reads = store.reads
    clock.now += 29
    store.get()
    assert store.reads == reads  # within max_age: no SSM call
    ssm.put_parameter(
        Name=PARAMETER, Value=comprehend_pointer("cmp-2").to_json(), Type="String", Overwrite=True
    )
    assert store.get()[0].model_version == "cmp-1"  # still cached
    clock.now += 2
    pointer, version = store.get()
    assert (pointer.model_version, version, store.reads) == ("cmp-2", 2, reads + 1)


def test_invalid_pointer_names_the_field(ssm):
    ssm.put_parameter(
        Name=PARAMETER,
        Value=json.dumps(
            {
                "model_version": "v1",
                "backend": "local",
                "model_type": "DOCUMENT_CLASSIFIER",
                "mode": "MULTI_CLASS",
            }
        ),
        Type="String",
    )
    with pytest.raises(InvalidInput) as raised:
        ActiveModelPointerStore(ssm, PARAMETER).get()
    assert [e.field for e in raised.value.errors] == ["artefact_uri"]
    with pytest.raises(InvalidInput):
        ActiveModelPointer.from_json("not json")


def test_provider_reloads_only_when_the_pointer_moves(ssm):
    clock = Clock()
    store = ActiveModelPointerStore(ssm, PARAMETER, max_age_seconds=5, clock=clock)
    store.put(comprehend_pointer(thresholds={"default": 0.7}))
    loaded: list[str] = []

    def loader(pointer):
        loaded.append(pointer.model_version)
        return backend_loader(comprehend_client=object())(pointer)

    provider = ActiveModelProvider(store, loader, threshold_override={"band": 0.2})
    active = provider.current()
    assert isinstance(active.backend, ComprehendBackend)
    assert active.thresholds.default == 0.7 and active.thresholds.band == 0.2
    assert provider.current() is active
    # Re-writing the same value bumps the SSM Version but must not reload the model.
    store.put(comprehend_pointer(thresholds={"default": 0.7}))
    clock.now += 10
    assert provider.current().backend is active.backend
    store.put(comprehend_pointer("cmp-2"))
    clock.now += 10
    moved = provider.current()
    assert moved.pointer.model_version == "cmp-2" and moved.version == 3
    assert loaded == ["cmp-1", "cmp-2"]


# --------------------------------------------------------------------------- artefacts


def test_artefact_store_round_trip_and_local_provider(ssm, s3, tiny_models):
    first, second = tiny_models
    store = ModelArtefactStore(s3, BUCKET)
    uri = store.put("tiny-1", local_model.save(first), first.metadata)
    assert uri == f"s3://{BUCKET}/models/tiny-1/model.joblib"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == ["models/tiny-1/metadata.json", "models/tiny-1/model.joblib"]
    assert "artefact_sha256" in store.get_metadata("tiny-1")

    pointers = ActiveModelPointerStore(ssm, PARAMETER, max_age_seconds=0)
    pointers.put(
        ActiveModelPointer(
            model_version="tiny-1",
            backend="local",
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            artefact_uri=uri,
        )
    )
    provider = ActiveModelProvider(pointers, backend_loader(artefact_store=store))
    active = provider.current()
    (prediction,) = active.backend.predict(["the cup match"])
    assert prediction.model_version == "tiny-1" and prediction.top.label == "Sports"

    uri2 = store.put("tiny-2", local_model.save(second), second.metadata)
    pointers.put(
        ActiveModelPointer(
            model_version="tiny-2",
            backend="local",
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            artefact_uri=uri2,
        )
    )
    moved = provider.current()
    assert moved.backend.model_version == "tiny-2"
    assert moved.thresholds.for_label("Sports") == 0.9  # from the model's metadata


def test_a_version_is_written_once(s3, tiny_models):
    first, _ = tiny_models
    store = ModelArtefactStore(s3, BUCKET)
    data = local_model.save(first)
    store.put("tiny-1", data, first.metadata)
    store.put("tiny-1", data, first.metadata)  # a retry with identical bytes is fine
    with pytest.raises(ArtefactStoreError, match="exists with other content"):
        store.put("tiny-1", data + b"x", first.metadata)
    with pytest.raises(ArtefactStoreError, match="differs"):
        store.put("tiny-9", data, first.metadata)


def test_corrupted_artefact_and_foreign_uris_are_refused(s3, tiny_models):
    first, _ = tiny_models
    store = ModelArtefactStore(s3, BUCKET)
    store.put("tiny-1", local_model.save(first), first.metadata)
    s3.put_object(Bucket=BUCKET, Key="models/tiny-1/model.joblib", Body=b"truncated")
    with pytest.raises(ArtefactStoreError, match="sha256"):
        store.load_local_model(store.artefact_uri("tiny-1"))
    with pytest.raises(ArtefactStoreError, match="not an artefact of"):
        store.load_local_model("s3://someone-elses-bucket/models/tiny-1/model.joblib")
