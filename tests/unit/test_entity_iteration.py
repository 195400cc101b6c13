"""An entity recogniser's iteration through the iteration state machine in moto, every step
Lambda in process: a pool of gold AWS-service annotations, no review (budget 0), the local CRF
trained, both models scored on the frozen test set, the gate, the pointer."""

from __future__ import annotations

import io
import json

import boto3
import pytest

from tests.support.iteration_stack import BUCKET, PREFIX, deploy_iteration_stack
from tests.support.ner import gold_documents

ENTITY_INPUT = {"model_type": "ENTITY_RECOGNIZER", "config": {"min_new_items": 0}}


@pytest.fixture(scope="module")
def gold():
    return gold_documents()


def put_pool(documents, iteration_id: str = "seed-pool") -> str:
    """The gold documents as one annotation pool version, published as the current one."""
    from textloop.adapters.lake import DataLake
    from textloop.adapters.pool_store import PoolStore
    from textloop.domain.annotations import merge_answers

    answers = [
        {
            "item_id": f"gold-{n}",
            "text": d["text"],
            "entities": d["entities"],
            "reviewer_id": "gold",
            "answered_at": "2020-06-24T01:26:53Z",
            "source": "review",
        }
        for n, d in enumerate(documents)
    ]
    pool = merge_answers(None, answers, model_type="ENTITY_RECOGNIZER")
    PoolStore(DataLake(boto3.client("s3"), BUCKET)).publish(pool, iteration_id=iteration_id)
    return pool.pool_version


def pointer() -> dict:
    value = boto3.client("ssm").get_parameter(Name=f"{PREFIX}/active-model/ENTITY_RECOGNIZER")
    return json.loads(value["Parameter"]["Value"])


def put_active(model) -> None:
    from textloop.adapters.active_model import (
        ActiveModelPointer,
        ActiveModelPointerStore,
        pointer_parameter_name,
    )
    from textloop.adapters.artefacts import ModelArtefactStore
    from textloop.domain import entity_model

    uri = ModelArtefactStore(boto3.client("s3"), BUCKET).put(
        model.model_version, entity_model.save(model), model.metadata
    )
    ActiveModelPointerStore(
        boto3.client("ssm"), pointer_parameter_name(PREFIX, "ENTITY_RECOGNIZER")
    ).put(
        ActiveModelPointer(
            model_version=model.model_version,
            backend="local",
            model_type="ENTITY_RECOGNIZER",
            artefact_uri=uri,
        )
    )


def test_first_entity_iteration_trains_scores_and_promotes_the_crf(lambdas, gold):
    from PIL import Image
    from textloop.adapters.artefacts import ModelArtefactStore
    from textloop.domain.entity_model import EntityBackend

    stack = deploy_iteration_stack(lambdas, defaults={"review_budget": 0})
    put_pool(gold)
    described = stack.wait(stack.start("it-ner", ENTITY_INPUT))
    assert described["status"] == "SUCCEEDED", stack.get_json("audit/iterations/it-ner.json").get(
        "failure"
    )
    output = json.loads(described["output"])
    assert output["iteration"]["model_type"] == "ENTITY_RECOGNIZER"
    assert output["iteration"]["mode"] is None
    dataset = output["dataset"]
    version = dataset["dataset_version"]
    assert dataset["train_uri"] == f"s3://{BUCKET}/datasets/{version}/train.txt"
    assert dataset["test_uri"] == f"s3://{BUCKET}/datasets/{version}/test.txt"
    assert sorted(stack.keys(f"datasets/{version}/")) == [
        f"datasets/{version}/{name}"
        for name in (
            "manifest.json",
            "test-annotations.csv",
            "test.txt",
            "train-annotations.csv",
            "train.txt",
        )
    ]

    model_version = output["training"]["model_version"]
    metadata = stack.get_json(f"models/{model_version}/metadata.json")
    assert metadata["model_type"] == "ENTITY_RECOGNIZER" and metadata["labels"] == [
        "SERVICE",
        "VERSION",
    ]
    assert metadata["dataset_version"] == version
    assert metadata["n_documents"] == output["dataset"]["counts"]["train"]

    evaluation = stack.get_json(output["evaluation"]["candidate_key"])
    assert evaluation["model_type"] == "ENTITY_RECOGNIZER"
    assert evaluation["test_set_hash"] == dataset["test_set_hash"]
    assert evaluation["n"] == dataset["counts"]["test"]
    assert set(evaluation["per_label"]) == {"SERVICE", "VERSION"}
    # The held-out figures of the README (0.77-0.88 micro F1) on another split.
    assert evaluation["MicroF1Score"] >= 0.7
    assert evaluation["predictions"] == {"kind": "in_process", "backend": "local"}
    decision = output["evaluation"]["decision"]
    assert decision["outcome"] == "promote" and decision["metric"] == "MicroF1Score"
    assert output["promotion"]["promoted"] is True

    assert evaluation["figures"] == {"entity_f1": f"models/{model_version}/entity-f1.png"}
    obj = boto3.client("s3").get_object(Bucket=BUCKET, Key=evaluation["figures"]["entity_f1"])
    assert obj["ContentType"] == "image/png"
    assert Image.open(io.BytesIO(obj["Body"].read())).format == "PNG"

    active = pointer()
    assert active["model_version"] == model_version
    assert active["model_type"] == "ENTITY_RECOGNIZER" and active["backend"] == "local"
    backend = ModelArtefactStore(boto3.client("s3"), BUCKET).load_local_backend(
        active["artefact_uri"]
    )
    assert isinstance(backend, EntityBackend)
    [prediction] = backend.predict(["What's new in AWS X-Ray on 2019-04-26"])
    assert {e.type for e in prediction.entities} == {"SERVICE", "VERSION"}
    status, body = stack.api(
        "classify",
        "/classify",
        "POST",
        {"text": "Amazon Sumerian Service Update on 2019-04-26", "model_type": "ENTITY_RECOGNIZER"},
    )
    assert status == 200 and body["model_version"] == model_version, body
    # The served model finds both spans, sure of them: nothing routed to review.
    assert [
        (e["begin_offset"], e["end_offset"], e["type"]) for e in body["prediction"]["entities"]
    ] == [(0, 15, "SERVICE"), (34, 44, "VERSION")]
    assert all(e["score"] > 0.9 for e in body["prediction"]["entities"])
    assert body["routed_to_review"] is False
    audit = stack.get_json("audit/iterations/it-ner.json")
    assert audit["status"] == "PROMOTED"
    # The classifier's pointer was never touched: the two model types live side by side.
    with pytest.raises(boto3.client("ssm").exceptions.ParameterNotFound):
        boto3.client("ssm").get_parameter(Name=f"{PREFIX}/active-model/DOCUMENT_CLASSIFIER")


def test_an_entity_candidate_is_judged_against_the_active_recogniser(lambdas, gold):
    """A weak active model (trained on 12 documents, no VERSION spans among most) is scored on
    the same frozen test documents; the candidate beats it and replaces it, both evaluations
    carry the same test set hash and the figure shows both."""
    from textloop.domain import entity_model

    weak = entity_model.fit(gold[:12], model_version="ner-weak-1")
    stack = deploy_iteration_stack(lambdas, defaults={"review_budget": 0})
    put_active(weak)
    put_pool(gold)
    described = stack.wait(stack.start("it-ner-2", ENTITY_INPUT))
    assert described["status"] == "SUCCEEDED", stack.get_json("audit/iterations/it-ner-2.json").get(
        "failure"
    )
    output = json.loads(described["output"])
    decision = output["evaluation"]["decision"]
    assert decision["active_model_version"] == "ner-weak-1"
    assert decision["delta"] > 0 and decision["regressions"] == []
    assert decision["outcome"] == "promote"
    active_evaluation = stack.get_json(output["evaluation"]["active_key"])
    candidate_evaluation = stack.get_json(output["evaluation"]["candidate_key"])
    assert active_evaluation["model_version"] == "ner-weak-1"
    assert active_evaluation["test_set_hash"] == candidate_evaluation["test_set_hash"]
    assert active_evaluation["MicroF1Score"] < candidate_evaluation["MicroF1Score"]
    assert active_evaluation["figures"] == candidate_evaluation["figures"]
    assert pointer()["model_version"] == output["training"]["model_version"]


def test_a_second_iteration_on_the_same_data_ties_and_keeps_the_active_recogniser(lambdas, gold):
    """Nothing new: the same data set trains the same CRF (training is deterministic), so the
    candidate ties the active model on the frozen test set; a tie is not worth a deployment."""
    stack = deploy_iteration_stack(
        lambdas, defaults={"review_budget": 0, "per_label_tolerance": 0.0}
    )
    put_pool(gold)
    first = json.loads(stack.wait(stack.start("it-ner-a", ENTITY_INPUT))["output"])
    assert first["promotion"]["promoted"] is True
    again = stack.wait(stack.start("it-ner-b", ENTITY_INPUT))
    assert again["status"] == "SUCCEEDED"
    output = json.loads(again["output"])
    decision = output["evaluation"]["decision"]
    assert decision["outcome"] == "reject" and decision["delta"] == 0
    assert "not enough" in decision["reason"]
    assert pointer()["model_version"] == first["training"]["model_version"]


def test_the_artefact_store_and_the_active_model_load_by_model_type(aws, gold):
    """One store, one key per version: the metadata's model_type picks the loader, and a
    pointer naming the wrong model type is refused before the model serves."""
    from textloop.adapters.active_model import (
        ActiveModelPointer,
        ActiveModelPointerStore,
        ActiveModelProvider,
        backend_loader,
        pointer_parameter_name,
    )
    from textloop.adapters.artefacts import ModelArtefactStore
    from textloop.domain import entity_model
    from textloop.domain.backends import BackendUnavailable
    from textloop.domain.entity_model import EntityBackend, EntityModel

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    ssm = boto3.client("ssm", region_name="us-east-1")
    model = entity_model.fit(gold[:40], model_version="ner-store-1")
    store = ModelArtefactStore(s3, BUCKET)
    uri = store.put("ner-store-1", entity_model.save(model), model.metadata)
    loaded = store.load_local_model(uri)
    assert isinstance(loaded, EntityModel) and loaded.data == model.data
    assert store.get_metadata("ner-store-1")["model_type"] == "ENTITY_RECOGNIZER"

    entity_pointer = ActiveModelPointer(
        model_version="ner-store-1",
        backend="local",
        model_type="ENTITY_RECOGNIZER",
        artefact_uri=uri,
    )
    pointers = ActiveModelPointerStore(
        ssm, pointer_parameter_name(PREFIX, "ENTITY_RECOGNIZER"), max_age_seconds=0
    )
    pointers.put(entity_pointer)
    active = ActiveModelProvider(pointers, backend_loader(artefact_store=store)).current()
    assert isinstance(active.backend, EntityBackend)
    assert active.thresholds.default == 0.9  # the recogniser's metadata
    [prediction] = active.backend.predict(["Amazon Sumerian Service Update on 2019-04-26"])
    assert prediction.entities and prediction.model_version == "ner-store-1"

    misfiled = ActiveModelPointer(
        model_version="ner-store-1",
        backend="local",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        artefact_uri=uri,
    )
    with pytest.raises(BackendUnavailable, match="holds model type ENTITY_RECOGNIZER"):
        backend_loader(artefact_store=store)(misfiled)
