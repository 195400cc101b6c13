"""The data lake's key layout: every key, as the bucket (and its IAM prefixes) has them."""

from __future__ import annotations

import pytest
from textloop.domain import layout


def test_every_key_of_the_lake():
    it, batch = "doc-20251123T022703-ab12cd", "doc-20251123t022703-ab12cd-0000-0123456789ab"
    assert layout.feedback_record_key("f" * 64, "v7", "2025-11-23T02:27:03.324Z") == (
        f"feedback/model_version=v7/dt=2025-11-23/{'f' * 64}.json"
    )
    assert layout.feedback_upload_key("DOCUMENT_CLASSIFIER", "news-app", "f.csv") == (
        "uploads/feedback/DOCUMENT_CLASSIFIER/news-app/f.csv"
    )
    assert layout.upload_errors_key("uploads/feedback/DOCUMENT_CLASSIFIER/a/f.csv") == (
        "uploads/errors/feedback/DOCUMENT_CLASSIFIER/a/f.csv.errors.json"
    )
    assert layout.new_feedback_key(it) == f"reviews/{it}/new-feedback.jsonl.gz"
    assert layout.selection_key(it) == f"reviews/{it}/selection.json"
    assert layout.merge_result_key(it) == f"reviews/{it}/merge.json"
    assert layout.review_task_key(it, batch) == f"reviews/{it}/batches/{batch}/task.json"
    assert layout.review_answers_key(it, batch) == f"reviews/{it}/batches/{batch}/answers.json"
    assert layout.review_expired_key(it, batch) == f"reviews/{it}/batches/{batch}/expired.json"
    assert layout.review_index_key(batch) == f"reviews/index/{batch}.json"
    assert layout.approval_key(it) == f"reviews/{it}/approval.json"
    assert layout.approval_response_key(it) == f"reviews/{it}/approval-response.json"
    assert layout.pool_key("0123456789abcdef") == "annotations/pool/0123456789abcdef.json"
    assert layout.current_pool_key("ENTITY_RECOGNIZER") == (
        "annotations/current/ENTITY_RECOGNIZER.json"
    )
    assert layout.seed_key("DOCUMENT_CLASSIFIER") == "datasets/seed/DOCUMENT_CLASSIFIER/train.csv"
    assert layout.split_state_key("DOCUMENT_CLASSIFIER") == (
        "datasets/split-state/DOCUMENT_CLASSIFIER.json"
    )
    assert layout.dataset_key("0123", "test.csv") == "datasets/0123/test.csv"
    assert layout.artefact_key("m-1") == "models/m-1/model.joblib"
    assert layout.metadata_key("m-1") == "models/m-1/metadata.json"
    assert layout.evaluation_key("m-1") == "models/m-1/evaluation.json"
    assert layout.comprehend_output_prefix("m-1") == "models/m-1/comprehend-output/"
    assert layout.test_predictions_prefix("m-1", "0123") == "models/m-1/test-predictions/0123/"
    assert layout.audit_key(it) == f"audit/iterations/{it}.json"
    assert layout.iteration_document_key(it, "decision.json") == (
        f"audit/iterations/{it}/decision.json"
    )
    assert layout.rollback_audit_key("DOCUMENT_CLASSIFIER", "rollback-0a1b") == (
        "audit/rollbacks/DOCUMENT_CLASSIFIER/rollback-0a1b.json"
    )


def test_keys_name_only_what_they_may():
    for bad in ("", "../x", "it 1", "it/1", "-it", "x" * 81):
        with pytest.raises(ValueError, match="iteration_id must match"):
            layout.audit_key(bad)
        with pytest.raises(ValueError):
            layout.selection_key(bad)
    with pytest.raises(ValueError):
        layout.seed_key("SENTIMENT")
    for bad in ("", "../x", "a/b", "-x"):
        with pytest.raises(ValueError, match="event_id must match"):
            layout.rollback_audit_key("DOCUMENT_CLASSIFIER", bad)
    assert layout.model_version_of_artefact("models/m-1/model.joblib") == "m-1"
    for other in ("models/m-1/metadata.json", "models/a/b/model.joblib", "uploads/model.joblib"):
        assert layout.model_version_of_artefact(other) is None
    assert layout.is_upload("uploads/feedback/DOCUMENT_CLASSIFIER/a/f.csv")
    assert not layout.is_upload("uploads/errors/feedback/a/f.csv.errors.json")
    assert layout.is_feedback_object("feedback/model_version=v/dt=2025-11-23/x.jsonl")
    assert not layout.is_feedback_object("feedback/model_version=v/dt=2025-11-23/notes.txt")


def test_feedback_files_are_partitioned_by_model_type_and_hour():
    hour = layout.feedback_hour("2026-12-01T22:59:59.123456Z")
    assert hour == "2026-12-01T22"
    key = layout.feedback_file_key("ENTITY_RECOGNIZER", hour, "0f1e2d")
    assert key == "feedback/model_type=ENTITY_RECOGNIZER/dt=2026-12-01/hour=22/0f1e2d.jsonl.gz"
    assert key.startswith(layout.feedback_model_type_prefix("ENTITY_RECOGNIZER"))
    assert layout.feedback_file_partition(key) == ("ENTITY_RECOGNIZER", hour)
    for other in (
        "feedback/model_type=SENTIMENT/dt=2026-12-01/hour=22/x.jsonl.gz",
        "feedback/model_type=ENTITY_RECOGNIZER/dt=2026-12-01/hour=22/x.jsonl",
        "feedback/model_version=v/dt=2026-12-01/x.json",
        "feedback/model_type=ENTITY_RECOGNIZER/dt=2026-12-01/hour=22/a/b.jsonl.gz",
    ):
        assert layout.feedback_file_partition(other) is None
    for bad in ("", "../x", "a/b", "x" * 129, "-x"):
        with pytest.raises(ValueError, match="feedback file name"):
            layout.feedback_file_key("DOCUMENT_CLASSIFIER", hour, bad)
    for bad in ("2026-12-01", "2026-12-01T2", "yesterday"):
        with pytest.raises(ValueError):
            layout.feedback_hour_prefix("DOCUMENT_CLASSIFIER", bad)
    with pytest.raises(ValueError):
        layout.feedback_hour("2026-12-01")


def test_added_annotations_are_partitioned_by_model_type_and_day():
    assert (
        layout.annotations_added_key("ENTITY_RECOGNIZER", "2026-12-01", "it-1")
        == "annotations/added/model_type=ENTITY_RECOGNIZER/dt=2026-12-01/it-1.jsonl.gz"
    )
    for model_type, day, iteration_id in [
        ("CLASSIFIER", "2026-12-01", "it-1"),
        ("ENTITY_RECOGNIZER", "2026-12-01T00", "it-1"),
        ("ENTITY_RECOGNIZER", "2026-12-01", "../it"),
    ]:
        with pytest.raises(ValueError):
            layout.annotations_added_key(model_type, day, iteration_id)
