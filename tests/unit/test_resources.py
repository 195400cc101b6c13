"""The decisions of `textloop resources` (domain.resources): which run-time resources are active
or in use, what `prune --keep N` deletes and keeps, and the order `remove --all` follows."""

from __future__ import annotations

import pytest
from textloop.domain import layout
from textloop.domain.iteration import candidate_version_prefix, model_version_for
from textloop.domain.resources import (
    BATCH_OUTPUT,
    CLASSIFIER_VERSION,
    DATASET,
    ENDPOINT,
    FLYWHEEL,
    RECOGNIZER_VERSION,
    Facts,
    Resource,
    annotate,
    cost,
    plan_prune,
    plan_removal,
    tags_parameter,
)

ACCOUNT = "arn:aws:comprehend:us-east-1:123456789012"
CLASSIFIER = f"{ACCOUNT}:document-classifier/tl-dev-classifier/version/"
RECOGNIZER = f"{ACCOUNT}:entity-recognizer/tl-dev-recognizer/version/"


def classifier(version: str, day: int, status: str = "TRAINED") -> Resource:
    return Resource(
        CLASSIFIER_VERSION,
        CLASSIFIER + version,
        model_type="DOCUMENT_CLASSIFIER",
        status=status,
        created=f"2026-11-{day:02d}T10:00:00.000Z",
        version=version,
    )


def recognizer(version: str, day: int, status: str = "TRAINED") -> Resource:
    return Resource(
        RECOGNIZER_VERSION,
        RECOGNIZER + version,
        model_type="ENTITY_RECOGNIZER",
        status=status,
        created=f"2026-11-{day:02d}T10:00:00.000Z",
        version=version,
    )


def output(version: str, model_type: str = "DOCUMENT_CLASSIFIER") -> Resource:
    return Resource(
        BATCH_OUTPUT,
        layout.test_predictions_root(version),
        model_type=model_type,
        version=version,
        size_bytes=2048,
    )


def endpoint(name: str, model: str, desired: str | None = None, units: int = 1) -> Resource:
    return Resource(
        ENDPOINT,
        f"{ACCOUNT}:document-classifier-endpoint/{name}",
        model_type="DOCUMENT_CLASSIFIER",
        status="IN_SERVICE",
        model_arn=model,
        desired_model_arn=desired or model,
        inference_units=units,
    )


def deleted(steps) -> list[str]:
    return [s.resource.id for s in steps if s.action == "delete"]


def kept(steps) -> dict[str, str]:
    return {s.resource.version: s.reason for s in steps if s.action == "keep"}


def test_prune_keeps_the_newest_n_of_each_model_type_and_deletes_their_older_siblings():
    versions = [classifier(f"c{day}", day) for day in range(1, 6)]
    versions += [recognizer(f"r{day}", day) for day in range(1, 4)]
    steps = plan_prune(annotate(versions, Facts()), keep=2)
    newest_first = [CLASSIFIER + "c3", CLASSIFIER + "c2", CLASSIFIER + "c1", RECOGNIZER + "r1"]
    assert deleted(steps) == newest_first
    assert kept(steps) == {}
    assert plan_prune(annotate(versions, Facts()), keep=10) == []
    # keep 0: every version that is neither active nor in use.
    assert len(deleted(plan_prune(annotate(versions, Facts()), keep=0))) == 8
    with pytest.raises(ValueError, match="keep"):
        plan_prune(versions, keep=-1)


@pytest.mark.parametrize(
    "facts_or_extra",
    [
        Facts(active_versions={"DOCUMENT_CLASSIFIER": "c1"}),  # the active-model pointer
        Facts(active_arns=frozenset({CLASSIFIER + "c1"})),  # the registry's latest promotion
        [endpoint("tl-dev-classifier", CLASSIFIER + "c1")],  # an endpoint serves it
        [endpoint("tl-dev-classifier", CLASSIFIER + "c5", desired=CLASSIFIER + "c1")],  # moving
        [Resource(FLYWHEEL, f"{ACCOUNT}:flywheel/fw", model_arn=CLASSIFIER + "c1")],
    ],
    ids=["pointer", "registry", "endpoint", "desired-model", "flywheel"],
)
def test_prune_never_deletes_the_active_version(facts_or_extra):
    versions = [classifier(f"c{day}", day) for day in range(1, 6)] + [output("c1"), output("c2")]
    facts = facts_or_extra if isinstance(facts_or_extra, Facts) else Facts()
    extra = facts_or_extra if isinstance(facts_or_extra, list) else []
    steps = plan_prune(annotate(versions + extra, facts), keep=2)
    assert CLASSIFIER + "c1" not in deleted(steps)
    assert layout.test_predictions_root("c1") not in deleted(steps)
    assert kept(steps)["c1"].startswith("active")
    assert deleted(steps) == [
        CLASSIFIER + "c3",
        CLASSIFIER + "c2",
        layout.test_predictions_root("c2"),
    ]


def test_the_serving_endpoint_is_named_as_the_reason():
    serving = endpoint("tl-dev-classifier", CLASSIFIER + "c1")
    steps = plan_prune(annotate([classifier("c1", 1), classifier("c2", 2), serving], Facts()), 1)
    assert kept(steps) == {"c1": f"active (endpoint {serving.id})"}


def test_prune_keeps_the_version_a_running_iteration_is_training():
    iteration_id = "scheduled-DOCUMENT_CLASSIFIER-2026-11-01"
    candidate = model_version_for(iteration_id, "ds-9")
    lock = {
        "iteration_id": iteration_id,
        "acquired_at": "2026-11-20T09:00:00.000Z",
        "candidate_prefix": candidate_version_prefix(iteration_id),
    }
    versions = [
        classifier("c1", 1),
        classifier("c2", 2),
        # The candidate, trained and awaiting its evaluation, older by its clock than c3.
        classifier(candidate, 3),
        classifier("c4", 4),
        # A flywheel names its versions itself: created after the lock was taken.
        classifier("flywheel-made", 21),
        # Anything still training belongs to someone.
        classifier("c0", 0, status="TRAINING"),
        output(candidate),
    ]
    facts = Facts(locks={"DOCUMENT_CLASSIFIER": lock})
    steps = plan_prune(annotate(versions, facts), keep=0)
    assert kept(steps) == {
        candidate: "a running iteration is using it",
        "flywheel-made": "a running iteration is using it",
        "c0": "a running iteration is using it",
    }
    assert deleted(steps) == [CLASSIFIER + "c4", CLASSIFIER + "c2", CLASSIFIER + "c1"]
    # The lock of the other model type protects nothing here.
    other = Facts(locks={"ENTITY_RECOGNIZER": lock})
    assert CLASSIFIER + candidate in deleted(plan_prune(annotate(versions, other), keep=0))


def test_a_version_being_deleted_or_stopping_is_left_alone():
    versions = [classifier("c1", 1, status="DELETING"), classifier("c2", 2, "STOP_REQUESTED")]
    steps = plan_prune(annotate(versions, Facts()), keep=0)
    assert deleted(steps) == []
    assert kept(steps) == {
        "c1": "status DELETING: not deletable yet",
        "c2": "a running iteration is using it",
    }


def test_remove_deletes_endpoints_then_flywheels_then_versions_then_batch_outputs():
    flywheel = Resource(FLYWHEEL, f"{ACCOUNT}:flywheel/tl-dev-classifier", status="ACTIVE")
    dataset = Resource(DATASET, f"{flywheel.id}/dataset/it-1-train", parent=flywheel.id)
    resources = [
        output("c1"),
        classifier("c1", 1),
        classifier("c2", 2, status="TRAINING"),
        recognizer("r1", 1),
        dataset,
        flywheel,
        endpoint("tl-dev-classifier", CLASSIFIER + "c1"),
        Resource(ENDPOINT, f"{ACCOUNT}:entity-recognizer-endpoint/x", status="DELETING"),
    ]
    steps = plan_removal(annotate(resources, Facts()))
    assert [(s.action, s.resource.kind) for s in steps] == [
        ("delete", ENDPOINT),
        ("keep", ENDPOINT),
        ("delete", FLYWHEEL),
        ("delete", RECOGNIZER_VERSION),
        ("delete", CLASSIFIER_VERSION),
        ("stop", CLASSIFIER_VERSION),
        ("delete", CLASSIFIER_VERSION),
        ("delete", BATCH_OUTPUT),
    ]
    # Active or not, everything goes: this is the path before `terraform destroy`.
    assert CLASSIFIER + "c1" in deleted(steps)
    assert plan_removal([]) == []


def test_costs_name_the_pricing_dimension():
    assert cost(endpoint("e", CLASSIFIER + "c1", units=2)) == (
        "2 IU x $0.0005/IU-s = $3.60/h while provisioned, with or without traffic"
    )
    assert cost(classifier("c1", 1)) == "$0.50/month model management"
    assert cost(output("c1")) == "S3 storage (2 KiB)"
    listed = annotate([classifier("c1", 1)], Facts(active_versions={"DOCUMENT_CLASSIFIER": "c1"}))
    row = listed[0].to_dict()
    assert row["active"] is True and row["cost"] == "$0.50/month model management"


def test_batch_output_keys_parse_back_to_their_version():
    key = layout.test_predictions_prefix("it-1-abc", "ds-1") + "123-CLN-job/output/output.tar.gz"
    assert layout.test_predictions_of(key) == ("it-1-abc", "ds-1")
    assert layout.test_predictions_root("it-1-abc") == "models/it-1-abc/test-predictions/"
    for other in ("models/it-1/metadata.json", "models/it-1/test-predictions/", "audit/x/y/z/w"):
        assert layout.test_predictions_of(other) is None


def test_tags_parameter_sends_tags_only_when_there_are_some():
    tags = [{"Key": "textloop:stack", "Value": "tl-dev"}]
    assert tags_parameter(tags) == {"Tags": tags}
    assert tags_parameter(()) == {}
