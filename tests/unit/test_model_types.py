"""Both model types in one deployment (issue 12, item 8): a classifier and a recogniser each
have their own lock, iterations, iteration settings, thresholds and active-model pointer."""

from __future__ import annotations

import json

import boto3
import pytest
from textloop.adapters.active_model import (
    ActiveModelPointer,
    ActiveModelPointerStore,
    ActiveModelProvider,
    pointer_parameter_name,
)
from textloop.adapters.registry import Registry
from textloop.domain.errors import InvalidIterationInput
from textloop.domain.iteration import IterationConfig, IterationInput, deployment_config
from textloop.domain.predictions import EntitySpan, Prediction
from textloop.domain.thresholds import (
    default_thresholds,
    parse_override,
    resolve_thresholds,
    route,
)
from textloop.domain.validation import InvalidInput

from tests.support.hostile import call, fields
from tests.support.iteration_stack import deploy_iteration_stack, function_name
from tests.support.stack import create_registry_table

DOC, NER = "DOCUMENT_CLASSIFIER", "ENTITY_RECOGNIZER"


# --------------------------------------------------------------------------- settings


def test_iteration_defaults_have_a_section_per_model_type():
    deployment = deployment_config(
        json.dumps({"review_budget": 40, "random_share": 0.3, NER: {"review_budget": 7}})
    )
    doc = IterationInput.parse({"model_type": DOC}, deployment).config
    ner = IterationInput.parse({"model_type": NER}, deployment).config
    assert (doc.review_budget, doc.random_share) == (40, 0.3)
    # The section wins for its type only; the common settings still apply under it.
    assert (ner.review_budget, ner.random_share) == (7, 0.3)
    # The execution's own config wins over both.
    given = {"model_type": NER, "config": {"review_budget": 3}}
    assert IterationInput.parse(given, deployment).config.review_budget == 3
    # Without a model type the input is a classifier's, as before.
    assert IterationInput.parse({}, deployment).config.review_budget == 40
    # A plain IterationConfig still works as the deployment's settings.
    assert IterationInput.parse({"model_type": NER}, IterationConfig()).config.review_budget == 50


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (json.dumps({NER: {"review_budget": -1}}), "ITERATION_DEFAULTS.ENTITY_RECOGNIZER is inv"),
        (json.dumps({NER: 3}), "ENTITY_RECOGNIZER: must be a JSON object"),
        (json.dumps({"ENTITY": {"review_budget": 1}}), "ITERATION_DEFAULTS is invalid"),
    ],
)
def test_a_bad_model_type_section_fails_loudly(raw, message):
    with pytest.raises(InvalidIterationInput, match=message):
        deployment_config(raw)


def test_entity_thresholds_default_to_0_9():
    assert default_thresholds(DOC).default == 0.5
    assert default_thresholds(NER).default == 0.9
    assert resolve_thresholds(None, model_type=NER).for_label("SERVICE") == 0.9
    # The model's metadata and the pointer still win over the type's default.
    assert resolve_thresholds({"per_label": {"SERVICE": 0.8}}, model_type=NER).for_label(
        "SERVICE"
    ) == (0.8)


def test_a_recognisers_entity_scored_0_85_is_routed_a_classifiers_label_is_not():
    entities = Prediction(
        model_type=NER,
        model_version="ner-1",
        mode=None,
        entities=(EntitySpan(0, 10, "SERVICE", 0.85),),
    )
    assert route(entities, resolve_thresholds(model_type=NER)).routed


# --------------------------------------------------------------------------- lock and pointer


def test_each_model_type_has_its_own_lock(aws):
    registry = Registry(boto3.client("dynamodb"), create_registry_table("textloop-test-registry"))

    def take(model_type: str, holder: str):
        return registry.acquire(
            model_type, holder=holder, iteration_id=holder, ttl_seconds=600, is_running=bool
        )

    assert take(DOC, "doc-1").acquired
    assert take(NER, "ner-1").acquired
    refused = take(DOC, "doc-2")
    assert not refused.acquired and refused.holder == "doc-1"
    assert not take(NER, "ner-2").acquired
    assert registry.release(DOC, holder="doc-1")
    assert registry.lock_holder(NER)["holder"] == "ner-1"


def test_each_model_type_serves_its_own_active_model(aws):
    ssm = boto3.client("ssm")
    pointers = {
        DOC: ActiveModelPointer(
            model_version="doc-v1",
            backend="local",
            model_type=DOC,
            mode="MULTI_CLASS",
            artefact_uri="s3://textloop-test-data/models/doc-v1/model.joblib",
        ),
        # A local recogniser: the pointer schema takes it (the artefact's metadata names the
        # loader); recognisers have no mode.
        NER: ActiveModelPointer(
            model_version="ner-v1",
            backend="local",
            model_type=NER,
            artefact_uri="s3://textloop-test-data/models/ner-v1/model.joblib",
        ),
    }
    loaded = []

    class Loaded:
        thresholds = None

        def __init__(self, pointer):
            self.pointer = pointer

    def loader(pointer):
        loaded.append(pointer.model_version)
        return Loaded(pointer)

    providers = {}
    for model_type, pointer in pointers.items():
        store = ActiveModelPointerStore(ssm, pointer_parameter_name("/textloop/test", model_type))
        store.put(pointer)
        providers[model_type] = ActiveModelProvider(
            store, loader, threshold_override=parse_override('{"default": 0.6}')
        )
    doc, ner = providers[DOC].current(), providers[NER].current()
    assert (doc.pointer.model_version, ner.pointer.model_version) == ("doc-v1", "ner-v1")
    assert sorted(loaded) == ["doc-v1", "ner-v1"]
    assert doc.thresholds.default == ner.thresholds.default == 0.6
    # Without an override each type keeps its own default.
    plain = ActiveModelProvider(providers[NER].store, loader)
    assert plain.current().thresholds.default == 0.9
    with pytest.raises(InvalidInput):
        ActiveModelPointer.from_dict({**pointers[NER].to_dict(), "mode": "MULTI_CLASS"})


# --------------------------------------------------------------------------- iterations API


def test_iterations_of_both_types_run_and_are_listed_by_type(lambdas):
    stack = deploy_iteration_stack(lambdas, defaults={NER: {"review_budget": 7}})
    started = {}
    for model_type in (DOC, NER):
        status, answer = stack.api("iterations", "/iterations", "POST", {"model_type": model_type})
        assert status == 202, answer
        started[model_type] = answer
    assert started[DOC]["iteration_id"].startswith("doc-")
    assert started[NER]["iteration_id"].startswith("ner-")
    # Started by hand, under a name the API did not give: its input says its model type.
    by_hand = stack.start("by-hand-1", {"model_type": NER})

    for model_type, answer in started.items():
        described = stack.wait(answer["executionArn"])
        assert described["status"] == "SUCCEEDED", described
        audit = stack.get_json(f"audit/iterations/{answer['iteration_id']}.json")
        # An empty data lake: a recorded no-op of its own model type, with its own settings.
        assert audit["inputs"]["outcome"] == "NO_OP"
        assert audit["inputs"]["config"]["review_budget"] == (7 if model_type == NER else 12)
        assert audit["model_type"] == model_type
    stack.wait(by_hand)

    status, listed = stack.api("iterations", "/iterations")
    assert status == 200
    types = {i["iteration_id"]: i["model_type"] for i in listed["iterations"]}
    assert types == {
        started[DOC]["iteration_id"]: DOC,
        started[NER]["iteration_id"]: NER,
        "by-hand-1": NER,
    }
    status, only = call(
        function_name("iterations"), "/iterations", "GET", query={"model_type": NER}
    )
    assert status == 200, only
    assert {i["iteration_id"] for i in only["iterations"]} == {
        started[NER]["iteration_id"],
        "by-hand-1",
    }
    status, bad = call(
        function_name("iterations"), "/iterations", "GET", query={"model_type": "NER"}
    )
    assert status == 400 and fields(bad) == ["model_type"], bad
