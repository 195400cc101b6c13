"""The audit record: one per iteration, complete on success, still useful on failure."""

import json
import random

import pytest
from textloop.domain.annotations import merge_answers
from textloop.domain.audit import (
    MAX_CAUSE_CHARS,
    audit_record_json,
    build_audit_record,
    failure_info,
    validate_audit_record,
)
from textloop.domain.datasets.build import build_datasets
from textloop.domain.datasets.formats import parse_entity_files
from textloop.domain.evaluation import evaluate
from textloop.domain.feedback import FeedbackRecord
from textloop.domain.layout import audit_key
from textloop.domain.promotion import decide
from textloop.domain.selection import select_for_review
from textloop.domain.validation import InvalidInput

from textloop_ops.data import NER_ANNOTATIONS, NER_DOCUMENTS

ARN = "arn:aws:states:eu-west-1:123456789012:execution:textloop-iteration:it-0042"
TOPICS = {
    "Sports": "match goal league cup final team coach season",
    "World": "election minister border treaty embassy summit capital",
    "Business": "shares profit merger quarterly market investors bank",
}


def feedback(n, text, scores):
    return FeedbackRecord.from_dict(
        {
            "id": f"{n:064x}",
            "text": text,
            "source": "implicit",
            "reason": "below_threshold",
            "model_type": "DOCUMENT_CLASSIFIER",
            "mode": "MULTI_CLASS",
            "prediction": {
                "labels": [{"label": k, "score": v} for k, v in scores.items()],
                "routed_to_review": True,
            },
            "created_at": "2025-11-23T02:27:03.324Z",
            "observed_at": "2025-11-23T02:27:03.324Z",
        }
    )


@pytest.fixture(scope="module")
def iteration():
    """A whole small iteration through the domain code, as the handlers will chain it."""
    rng = random.Random(4)
    records, truth = [], {}
    for n in range(45):
        label = list(TOPICS)[n % 3]
        filler = " ".join(f"{rng.getrandbits(32):08x}" for _ in range(4))
        text = " ".join(rng.sample(TOPICS[label].split(), 5)) + f" {filler}"
        raw = [rng.random() for _ in TOPICS]
        records.append(
            feedback(n, text, {k: v / sum(raw) for k, v in zip(TOPICS, raw, strict=True)})
        )
        truth[records[-1].id] = label
    selection = select_for_review(records, {"budget": 45, "random_share": 0.2, "seed": "it-0042"})
    answers = []
    for item in selection.selected:
        for reviewer in ("alice", "bob") if item.rank % 2 else ("carol",):
            answers.append(
                {
                    "item_id": item.id,
                    "text": item.text,
                    "labels": [truth[item.id]],
                    "reviewer_id": reviewer,
                    "answered_at": "2025-04-01T12:00:00.000Z",
                    "source": "review",
                }
            )
    pool = merge_answers(None, answers, model_type="DOCUMENT_CLASSIFIER")
    build = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        pool=pool,
        config={"seed": 1, "test_share": 0.34, "rules": {"min_docs_per_label": 5}},
    )
    truth_lists = [d["labels"] for d in build.test]

    def scores(correct_every):
        out = []
        for i, labels in enumerate(truth_lists):
            wrong = list(TOPICS)[(list(TOPICS).index(labels[0]) + 1) % 3]
            top = labels[0] if i % correct_every else wrong
            out.append({k: (0.8 if k == top else 0.1) for k in TOPICS})
        return out

    candidate = evaluate(
        truth_lists,
        scores(50),
        mode="MULTI_CLASS",
        test_set_hash=build.test_set_hash,
        model_version="cand-2",
    )
    active = evaluate(
        truth_lists,
        scores(3),
        mode="MULTI_CLASS",
        test_set_hash=build.test_set_hash,
        model_version="active-1",
    )
    decision = decide(candidate, active, {"min_improvement": 0.01, "per_label_tolerance": 0.05})
    return selection, answers, pool, build, candidate, active, decision


def test_a_complete_iteration_gives_a_valid_self_explaining_record(iteration):
    selection, answers, pool, build, candidate, active, decision = iteration
    assert decision["promote"] is True
    record = build_audit_record(
        iteration_id="it-0042",
        execution_arn=ARN,
        started_at="2025-04-01T11:00:00Z",
        finished_at="2025-04-01T13:00:00Z",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        inputs={"selection": selection.config.to_dict(), "gate": decision["config"]},
        selection=selection.to_dict(),
        answers=answers,
        pool=pool,
        dataset_manifest=build.manifest,
        candidate_evaluation=candidate,
        active_evaluation=active,
        decision=decision,
    )
    validate_audit_record(record)
    assert record["key"] == "audit/iterations/it-0042.json"
    assert record["status"] == "PROMOTED"
    assert record["started_at"] == "2025-04-01T11:00:00.000Z"
    assert record["decision"]["reason"] == decision["reason"]
    assert record["reviewers"] == ["alice", "bob", "carol"]
    reviewed = {item["item_id"]: item for item in record["reviewed_items"]}
    assert set(reviewed) == set(selection.item_ids)
    for item in selection.selected:
        expected = ["alice", "bob"] if item.rank % 2 else ["carol"]
        assert reviewed[item.id]["reviewer_ids"] == expected
        assert reviewed[item.id]["selected_because"] == item.reason
    assert record["selection"]["counts"]["random"] == 9
    assert record["annotation_pool"]["pool_version"] == pool.pool_version
    assert record["annotation_pool"]["changes"] == {"added": 45, "relabelled": 0, "votes-added": 0}
    assert record["dataset"]["dataset_version"] == build.dataset_version
    assert record["dataset"]["source_pool_version"] == pool.pool_version
    assert record["dataset"]["test_set_hash"] == build.test_set_hash
    assert record["dataset"]["train"]["sha256"] == build.manifest["train"]["sha256"]
    assert record["models"]["candidate"]["model_version"] == "cand-2"
    assert record["models"]["active"]["metrics"]["F1Score"] == active["F1Score"]
    assert record["failure"] is None
    # Fixed inputs, fixed bytes: the record can be rebuilt and compared.
    again = build_audit_record(
        iteration_id="it-0042",
        execution_arn=ARN,
        started_at="2025-04-01T11:00:00Z",
        finished_at="2025-04-01T13:00:00Z",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        inputs={"selection": selection.config.to_dict(), "gate": decision["config"]},
        selection=selection.to_dict(),
        answers=list(reversed(answers)),
        pool=pool.to_dict(),
        dataset_manifest=build.manifest,
        candidate_evaluation=candidate,
        active_evaluation=active,
        decision=decision,
    )
    assert audit_record_json(again) == audit_record_json(record)
    assert json.loads(audit_record_json(record)) == record


def test_a_failed_iteration_records_where_and_why(iteration):
    selection, answers, pool, *_ = iteration
    cause = json.dumps(
        {
            "errorMessage": "training data set is invalid (1 problem(s))",
            "errorType": "DatasetValidationError",
            "stackTrace": ["..."],
        }
    )
    record = build_audit_record(
        iteration_id="it-0043",
        execution_arn=ARN.replace("it-0042", "it-0043"),
        started_at="2025-04-02T11:00:00Z",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        selection=selection.to_dict(),
        answers=answers,
        pool=pool,
        failure={"state": "BuildDatasets", "Error": "DatasetValidationError", "Cause": cause},
    )
    validate_audit_record(record)
    assert record["status"] == "FAILED"
    assert record["failure"]["state"] == "BuildDatasets"
    assert record["failure"]["error"] == "DatasetValidationError"
    assert record["failure"]["error_message"].startswith("training data set is invalid")
    assert record["dataset"] is None and record["decision"] is None
    assert record["models"] == {"candidate": None, "active": None}


def test_explicit_corrections_show_up_as_such():
    answers = [
        {
            "item_id": "e1",
            "text": "a corrected text",
            "labels": ["World"],
            "reviewer_id": "user-7",
            "answered_at": "2025-04-01T00:00:00Z",
            "source": "explicit-correction",
        }
    ]
    record = build_audit_record(
        iteration_id="it-1",
        execution_arn=None,
        started_at="2025-04-01T00:00:00Z",
        finished_at="2025-04-01T00:00:01Z",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        answers=answers,
    )
    validate_audit_record(record)
    assert record["status"] == "NO_DECISION"
    assert record["reviewed_items"] == [
        {
            "item_id": "e1",
            "selected_because": None,
            "uncertainty": None,
            "measure": None,
            "reviewer_ids": ["user-7"],
            "answers": 1,
            "source": "explicit-correction",
        }
    ]


def test_long_causes_are_truncated_and_plain_causes_kept():
    info = failure_info("Train", "States.Timeout", "x" * (MAX_CAUSE_CHARS + 10))
    assert len(info["cause"]) == MAX_CAUSE_CHARS and info["cause_truncated"] is True
    plain = failure_info("Train", None, "not json")
    assert plain == {"state": "Train", "error": "Unknown", "cause": "not json"}


def test_audit_keys_are_stable_and_safe():
    assert audit_key("it-0042") == "audit/iterations/it-0042.json"
    for bad in ("", "../etc", "a/b", "x" * 81, "it 1", "-leading"):
        with pytest.raises(ValueError, match="iteration_id"):
            audit_key(bad)


def test_the_schema_rejects_inconsistent_records():
    good = build_audit_record(
        iteration_id="it-2",
        execution_arn=None,
        started_at="2025-04-01T00:00:00Z",
        finished_at="2025-04-01T00:00:01Z",
        model_type="ENTITY_RECOGNIZER",
    )
    validate_audit_record(good)
    cases = {
        "decision": {**good, "status": "PROMOTED"},
        "failure": {**good, "status": "FAILED"},
        "started_at": {**good, "started_at": "2025-04-01 00:00"},
        "mode": {**good, "mode": "MULTI_CLASS"},
        "execution_arn": {**good, "execution_arn": "arn:aws:lambda:x"},
    }
    for field, record in cases.items():
        with pytest.raises(InvalidInput) as caught:
            validate_audit_record(record)
        assert any(e.field == field for e in caught.value.errors), (field, caught.value.errors)
    with pytest.raises(ValueError, match="status must be one of"):
        build_audit_record(
            iteration_id="it-3",
            execution_arn=None,
            started_at="2025-04-01T00:00:00Z",
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            status="DONE",
        )


def test_entity_recogniser_records_carry_both_file_hashes():
    documents = parse_entity_files(
        NER_DOCUMENTS.read_text(encoding="utf-8"),
        NER_ANNOTATIONS.read_text(encoding="utf-8"),
        "train.csv",
    )
    build = build_datasets(model_type="ENTITY_RECOGNIZER", original_documents=documents)
    record = build_audit_record(
        iteration_id="ner-1",
        execution_arn=None,
        started_at="2025-04-01T00:00:00Z",
        finished_at="2025-04-01T00:00:01Z",
        model_type="ENTITY_RECOGNIZER",
        dataset_manifest=build.manifest,
    )
    validate_audit_record(record)
    assert record["mode"] is None
    assert (
        record["dataset"]["train"]["annotations_sha256"]
        == (build.manifest["files"]["train-annotations.csv"]["sha256"])
    )
    assert record["dataset"]["test"]["per_label"] == build.manifest["test"]["per_label"]


def test_the_record_says_which_path_each_correction_took():
    def correction(n, text, *, trusted):
        return FeedbackRecord.from_dict(
            {
                "id": f"{n:064x}",
                "text": text,
                "source": "explicit-batch",
                "reason": "correction",
                "model_type": "DOCUMENT_CLASSIFIER",
                "mode": "MULTI_CLASS",
                "corrected_labels": ["Sports"],
                "submitter": {"application_id": "news-app" if trusted else "partner"},
                "origin": {"bucket": "lake", "key": "uploads/f.jsonl", "line": n},
                "trusted": trusted,
                "created_at": "2025-11-23T02:27:03.324Z",
                "observed_at": "2025-11-23T02:27:03.324Z",
            }
        )

    records = [
        correction(1, "the final went to extra time", trusted=True),
        correction(2, "the minister resigned on friday", trusted=False),
        correction(3, "quarterly profit beat forecasts", trusted=False),
    ]
    selection = select_for_review(records, {"budget": 1}).to_dict()
    chosen = selection["selected"][0]["id"]
    record = build_audit_record(
        iteration_id="it-0042",
        execution_arn=ARN,
        started_at="2025-11-23T02:00:00Z",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        selection=selection,
        answers=[
            {
                "item_id": f"{1:064x}",
                "reviewer_id": "news-app",
                "answered_at": "2025-11-23T02:27:03.324Z",
                "source": "explicit-correction",
                "labels": ["Sports"],
            },
            {
                "item_id": chosen,
                "reviewer_id": "rev-1",
                "answered_at": "2025-11-23T03:00:00.000Z",
                "source": "review",
                "labels": ["World"],
            },
        ],
    )
    validate_audit_record(record)
    assert record["selection"]["correction_paths"] == {
        "pool": 1,
        "review": 1,
        "duplicate": 0,
        "skipped": 0,
        "deferred": 1,
    }
    assert record["selection"]["corrections_key"] == "reviews/it-0042/selection.json"
    items = {item["item_id"]: item for item in record["reviewed_items"]}
    assert set(items) == {f"{1:064x}", chosen}
    assert items[f"{1:064x}"]["source"] == "explicit-correction"
    assert items[f"{1:064x}"]["correction"] == {
        "path": "pool",
        "trusted": True,
        "source": "explicit-batch",
        "submitted_by": "news-app",
        "application_id": "news-app",
    }
    assert items[chosen]["source"] == "review" and items[chosen]["reviewer_ids"] == ["rev-1"]
    assert items[chosen]["correction"]["path"] == "review"
    assert items[chosen]["correction"]["trusted"] is False
    # The deferred one waits for a later iteration: counted, listed in the selection, not here.
    (deferred,) = {f"{2:064x}", f"{3:064x}"} - {chosen}
    assert {c["id"]: c["path"] for c in selection["corrections"]}[deferred] == "deferred"
    assert deferred not in items


def test_a_selection_from_before_trust_still_makes_a_valid_record():
    selection = select_for_review([], {"budget": 1}).to_dict()
    del selection["correction_paths"], selection["corrections"]
    record = build_audit_record(
        iteration_id="it-0043",
        execution_arn=ARN,
        started_at="2025-11-23T02:00:00Z",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        selection=selection,
    )
    validate_audit_record(record)
    assert "correction_paths" not in record["selection"]
