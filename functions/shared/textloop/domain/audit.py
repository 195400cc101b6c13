"""The audit record: one JSON document per iteration that says what happened and why.

It is written once, at ``layout.audit_key(iteration_id)``, by the last state of the
iteration (success or failure), and answers an auditor's questions without other files: which
configuration ran, which items were selected and why, who reviewed them, which path each explicit
correction took (``selection.correction_paths`` counts them: a trusted application's straight
into the pool, an untrusted one's to review; each reviewed item that was a correction says so in
``correction``, and ``selection.corrections_key`` lists every one), which pool and data set
versions were used (with their hashes), how both models scored on which test set, what the gate
decided and why, and, when a step failed, which one and with what error.

The shape is ``schemas/audit-record.v1.json``; ``validate_audit_record`` checks it.

A rollback of the active model (POST /models/rollback) is a decision outside any iteration: it
gets its own record (``build_rollback_record``, ``schemas/rollback-audit-record.v1.json``) at
``layout.rollback_audit_key``, with the operator who asked.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from textloop.domain.annotations import Answer, PoolVersion
from textloop.domain.layout import audit_key, rollback_audit_key, selection_key
from textloop.domain.timestamps import format_timestamp, now_timestamp
from textloop.domain.validation import InvalidInput, validator

SCHEMA_NAME = "audit-record.v1"
ROLLBACK_SCHEMA_NAME = "rollback-audit-record.v1"
SCHEMA_VERSION = 1
MAX_CAUSE_CHARS = 32_768
STATUSES = ("PROMOTED", "REJECTED", "REFUSED", "FAILED", "NO_DECISION")


def failure_info(
    state: str, error: str | None = None, cause: str | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``{state, error, cause, error_message?}`` from what a Step Functions ``Catch`` passes on
    (``{"Error": ..., "Cause": ...}``). A Lambda's cause is a JSON string; its ``errorMessage``
    is lifted out so the record reads without unpacking. Long causes are truncated."""
    if isinstance(cause, Mapping):
        cause = json.dumps(cause, ensure_ascii=False, sort_keys=True)
    out: dict[str, Any] = {"state": state, "error": error or "Unknown", "cause": cause}
    if cause:
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping) and isinstance(parsed.get("errorMessage"), str):
            out["error_message"] = parsed["errorMessage"]
        if len(cause) > MAX_CAUSE_CHARS:
            out["cause"] = cause[:MAX_CAUSE_CHARS]
            out["cause_truncated"] = True
    return out


def _failure(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    state = value.get("state") or value.get("State") or "unknown"
    error = value.get("error") or value.get("Error")
    cause = value.get("cause") or value.get("Cause")
    return failure_info(str(state), error, cause)


def _timestamp(value: str | datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def _reviewed_items(
    selection: Mapping[str, Any] | None, answers: Iterable[Answer | Mapping[str, Any]]
) -> list[dict[str, Any]]:
    by_item: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"reviewer_ids": set(), "answers": 0, "sources": set()}
    )
    for raw in answers:
        answer = raw.to_dict() if isinstance(raw, Answer) else raw
        entry = by_item[str(answer["item_id"])]
        entry["reviewer_ids"].add(str(answer["reviewer_id"]))
        entry["answers"] += 1
        entry["sources"].add(str(answer.get("source", "review")))
    items: list[dict[str, Any]] = []
    selected_ids = set()
    corrections = {c["id"]: c for c in (selection or {}).get("corrections", [])}
    for item in (selection or {}).get("selected", []):
        selected_ids.add(item["id"])
        entry = by_item.get(item["id"])
        items.append(
            {
                "item_id": item["id"],
                "selected_because": item.get("reason"),
                "uncertainty": item.get("uncertainty"),
                "measure": item.get("measure"),
                "reviewer_ids": sorted(entry["reviewer_ids"]) if entry else [],
                "answers": entry["answers"] if entry else 0,
                "source": "review",
                **_correction(corrections.get(item["id"])),
            }
        )
    # Answers to items this iteration did not select: explicit corrections that skipped review.
    for item_id in sorted(set(by_item) - selected_ids):
        entry = by_item[item_id]
        items.append(
            {
                "item_id": item_id,
                "selected_because": None,
                "uncertainty": None,
                "measure": None,
                "reviewer_ids": sorted(entry["reviewer_ids"]),
                "answers": entry["answers"],
                "source": "explicit-correction"
                if entry["sources"] == {"explicit-correction"}
                else "review",
                **_correction(corrections.get(item_id)),
            }
        )
    return items


def _correction(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """A reviewed item's ``correction`` (the path an explicit correction took), or nothing."""
    if entry is None or entry.get("path") not in ("pool", "review"):
        return {}
    return {
        "correction": {
            name: entry.get(name)
            for name in ("path", "trusted", "source", "submitted_by", "application_id")
        }
    }


def _selection_summary(iteration_id: str, selection: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "counts": dict(selection.get("counts", {})),
        "config": dict(selection.get("config", {})),
    }
    if "correction_paths" in selection:
        out["correction_paths"] = dict(selection["correction_paths"])
        out["corrections_key"] = selection_key(iteration_id)
    if "prerank" in selection:
        out["prerank"] = dict(selection["prerank"])
    return out


def _pool_summary(
    pool: PoolVersion | Mapping[str, Any] | None, previous_pool_version: str | None
) -> dict[str, Any] | None:
    if pool is None:
        return None
    if isinstance(pool, PoolVersion):
        data = {
            "pool_version": pool.pool_version,
            "content_hash": pool.content_hash,
            "parent_pool_version": pool.parent_pool_version,
            "annotations": len(pool.annotations),
            "changes": list(pool.changes),
        }
    else:
        data = {
            "pool_version": pool.get("pool_version"),
            "content_hash": pool.get("content_hash"),
            "parent_pool_version": pool.get("parent_pool_version"),
            "annotations": len(pool.get("annotations", [])),
            "changes": list(pool.get("changes", [])),
        }
    changes = Counter(c.get("change") for c in data["changes"])
    return {
        "pool_version": data["pool_version"],
        "content_hash": data["content_hash"],
        "previous_pool_version": previous_pool_version or data["parent_pool_version"],
        "annotations": data["annotations"],
        "changes": {name: changes.get(name, 0) for name in ("added", "relabelled", "votes-added")},
    }


def _dataset_summary(manifest: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if manifest is None:
        return None
    return {
        "dataset_version": manifest["dataset_version"],
        "content_hash": manifest.get("content_hash"),
        "source_pool_version": manifest.get("source_pool_version"),
        "test_set_hash": manifest["test_set_hash"],
        "previous_test_set_hash": manifest.get("previous_test_set_hash"),
        "train": _dataset_part(manifest["train"]),
        "test": _dataset_part(manifest["test"]),
    }


def _dataset_part(part: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "sha256": part["sha256"],
        "documents": part["documents"],
        "per_label": dict(part.get("per_label", {})),
    }
    if "annotations_sha256" in part:  # entity recognisers: spans live in a second file
        out["annotations_sha256"] = part["annotations_sha256"]
    return out


def _model(evaluation: Mapping[str, Any] | None, model_version: str | None) -> dict | None:
    if evaluation is None and model_version is None:
        return None
    return {
        "model_version": model_version or (evaluation or {}).get("model_version"),
        "metrics": dict(evaluation) if evaluation is not None else None,
    }


def flywheel_summary(job: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a flywheel iteration was given and what Comprehend said of it (its own metrics of
    the model it trained and of the one it evaluated against), from the training job; None for
    any other job."""
    if not job or job.get("training") != "flywheel":
        return None
    reported = job.get("flywheel_metrics") or {}
    return {
        "flywheel_arn": job.get("flywheel_arn"),
        "flywheel_iteration_id": job.get("flywheel_iteration_id"),
        "status": job.get("comprehend_status"),
        "message": job.get("message"),
        "manifest_key": job.get("manifest_key"),
        "new_documents": dict(job.get("new_documents") or {}),
        "relabelled_not_sent": job.get("relabelled_not_sent", 0),
        "datasets": [
            {"name": d.get("name"), "type": d.get("type"), "arn": d.get("arn")}
            for d in job.get("datasets") or []
        ],
        "trained_model_arn": reported.get("trained_model_arn"),
        "trained_model_metrics": reported.get("trained_model_metrics"),
        "evaluated_model_arn": reported.get("evaluated_model_arn"),
        "evaluated_model_metrics": reported.get("evaluated_model_metrics"),
    }


def build_audit_record(
    *,
    iteration_id: str,
    execution_arn: str | None,
    started_at: str | datetime,
    finished_at: str | datetime | None = None,
    model_type: str,
    mode: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    selection: Mapping[str, Any] | None = None,
    answers: Iterable[Answer | Mapping[str, Any]] = (),
    pool: PoolVersion | Mapping[str, Any] | None = None,
    previous_pool_version: str | None = None,
    dataset_manifest: Mapping[str, Any] | None = None,
    candidate_evaluation: Mapping[str, Any] | None = None,
    candidate_model_version: str | None = None,
    active_evaluation: Mapping[str, Any] | None = None,
    active_model_version: str | None = None,
    decision: Mapping[str, Any] | None = None,
    failure: Mapping[str, Any] | None = None,
    status: str | None = None,
    flywheel: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The audit record of one iteration. Every part is optional except the identity, so a
    failed iteration still gets a record with whatever was done before the failure.

    ``selection``: ``Selection.to_dict()``; ``answers``: this iteration's review answers
    (``annotations.Answer`` or their dicts); ``pool``: the pool version after the merge;
    ``dataset_manifest``: ``DatasetBuild.manifest``; evaluations: ``evaluation.evaluate``
    results; ``decision``: ``promotion.decide``; ``failure``: ``{state, error, cause}`` or a
    Step Functions error output ``{Error, Cause}`` with ``state`` added; ``flywheel``:
    ``flywheel_summary`` of a flywheel training job (kept beside the models, absent otherwise).
    """
    key = audit_key(iteration_id)
    failure_out = _failure(failure)
    if status is None:
        if failure_out is not None:
            status = "FAILED"
        elif decision is not None:
            status = {"promote": "PROMOTED", "reject": "REJECTED", "refuse": "REFUSED"}[
                decision.get("outcome") or ("promote" if decision.get("promote") else "reject")
            ]
        else:
            status = "NO_DECISION"
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    answers = list(answers)
    reviewed = _reviewed_items(selection, answers)
    decision_out = None
    if decision is not None:
        decision_out = {
            name: decision.get(name)
            for name in (
                "promote",
                "outcome",
                "reason",
                "metric",
                "candidate",
                "active",
                "delta",
                "regressions",
                "test_set_hash",
            )
        }
        decision_out["regressions"] = list(decision_out["regressions"] or [])
    record = {
        "schema_version": SCHEMA_VERSION,
        "key": key,
        "iteration_id": iteration_id,
        "execution_arn": execution_arn,
        "status": status,
        "model_type": model_type,
        "mode": mode,
        "started_at": _timestamp(started_at),
        "finished_at": _timestamp(finished_at) or now_timestamp(),
        "inputs": dict(inputs or {}),
        "selection": (
            _selection_summary(iteration_id, selection) if selection is not None else None
        ),
        "reviewed_items": reviewed,
        "reviewers": sorted({r for item in reviewed for r in item["reviewer_ids"]}),
        "annotation_pool": _pool_summary(pool, previous_pool_version),
        "dataset": _dataset_summary(dataset_manifest),
        "models": {
            "candidate": _model(candidate_evaluation, candidate_model_version),
            "active": _model(active_evaluation, active_model_version),
        },
        "decision": decision_out,
        "failure": failure_out,
    }
    if flywheel is not None:
        record["models"]["flywheel"] = dict(flywheel)
    # Round-trip through JSON: numpy scalars or tuples sneaking in fail here, not at write time.
    return json.loads(json.dumps(record, allow_nan=False))


def validate_audit_record(record: Mapping[str, Any]) -> None:
    """Raise ``validation.InvalidInput`` naming every field at fault."""
    errors = validator(SCHEMA_NAME).errors(record)
    if errors:
        raise InvalidInput(errors)


def audit_record_json(record: Mapping[str, Any]) -> bytes:
    """The bytes to store: indented for people reading the object in the console."""
    return (json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


# --------------------------------------------------------------------------- the state machine


# Where the state machine keeps each step's result, in execution order.
_STEPS = (
    ("selection", "SelectForReview"),
    ("reviews", "Review"),
    ("pool", "MergeAnswers"),
    ("dataset", "BuildDatasets"),
    ("training", "Train"),
    ("test_predictions", "PredictTestSet"),
    ("evaluation", "Evaluate"),
)
# Polling loops: a result that is still running names the poll step, not the next step.
_POLLS = {
    "training": ("TRAINED", "DescribeTraining"),
    "test_predictions": ("COMPLETED", "DescribeTestPredictions"),
}


def failed_state(progress: dict[str, Any], error: str | None) -> str:
    """The step that failed, from which results the state holds (``$$.State.Name`` in a Catch
    target names the target, not the step that failed)."""
    if error == "Textloop.IterationAlreadyRunning":
        # Prepare found the per-model lock held by another execution: nothing else ran.
        return "Prepare"
    if error in ("Textloop.TrainingFailed", "Textloop.TrainingTimedOut"):
        return "DescribeTraining"
    if error in ("Textloop.TestPredictionsFailed", "Textloop.TestPredictionsTimedOut"):
        return "DescribeTestPredictions"
    for key, state in _STEPS:
        if key not in progress:
            return state
        done, poll_state = _POLLS.get(key, (None, None))
        if done is not None and progress[key].get("status") != done:
            return poll_state
    if "promotion" not in progress:
        manual = progress.get("iteration", {}).get("config", {}).get("manual_approval")
        return "WaitForApproval" if manual and "approval" not in progress else "PromoteCandidate"
    return "RecordDecision"


def record_status(
    outcome: str, decision: Mapping[str, Any] | None, promotion: Mapping[str, Any] | None
) -> str | None:
    """The record's status from the Record step's ``outcome`` (NO_OP, DECIDED, FAILED), the
    gate's decision and the promotion; None when undecided (the record derives it)."""
    if outcome == "FAILED":
        return "FAILED"
    if outcome == "NO_OP":
        return "NO_DECISION"
    if decision is None:
        return None
    if decision.get("outcome") == "refuse":
        return "REFUSED"
    if decision.get("promote") and (promotion or {}).get("promoted"):
        return "PROMOTED"
    return "REJECTED"


def summary_of(record: dict[str, Any]) -> str:
    head = (
        f"textloop iteration {record['iteration_id']} ({record['model_type']}): {record['status']}"
    )
    lines = [head]
    if record["inputs"].get("outcome") == "NO_OP":
        lines.append(f"No iteration run: {record['inputs'].get('reason')}.")
    if record["decision"]:
        lines.append(record["decision"]["reason"])
    if record["failure"]:
        failure = record["failure"]
        message = failure.get("error_message") or (failure.get("cause") or "")[:500]
        lines.append(f"Failed in {failure['state']}: {failure['error']}: {message}")
    paths = (record["selection"] or {}).get("correction_paths")
    if paths and any(paths.values()):
        lines.append(
            f"Explicit corrections: {paths['pool']} into the pool (trusted), {paths['review']} "
            f"to review (untrusted), {paths['duplicate'] + paths['skipped'] + paths['deferred']} "
            "left for later."
        )
    if record["reviewed_items"]:
        lines.append(
            f"{len(record['reviewed_items'])} item(s) answered by {len(record['reviewers'])} "
            "reviewer(s)."
        )
    lines.append(f"Audit record: {record['key']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- rollbacks


def build_rollback_record(
    entry: Mapping[str, Any],
    *,
    model_type: str,
    operator: str,
    recorded_at: str | datetime | None = None,
) -> dict[str, Any]:
    """The audit record of a rollback: ``entry`` is the registry's rollback event
    (``active_model.move_pointer``), ``operator`` who asked for it."""
    record = {
        "schema_version": SCHEMA_VERSION,
        "key": rollback_audit_key(model_type, entry["event_id"]),
        "kind": "rollback",
        "event_id": entry["event_id"],
        "model_type": model_type,
        "operator": operator,
        "reason": entry["reason"],
        "model_version": entry["model_version"],
        "previous_model_version": entry.get("previous_model_version"),
        "pointer_version": entry.get("pointer_version"),
        "classifier_arn": entry.get("classifier_arn"),
        "rolled_back_at": format_timestamp(entry["promoted_at"]),
        "recorded_at": _timestamp(recorded_at) or now_timestamp(),
    }
    if entry.get("recognizer_arn"):
        record["recognizer_arn"] = entry["recognizer_arn"]
    errors = validator(ROLLBACK_SCHEMA_NAME).errors(record)
    if errors:
        raise InvalidInput(errors)
    return record


def rollback_summary(record: Mapping[str, Any]) -> str:
    """The notification's text."""
    return "\n".join(
        [
            f"textloop {record['model_type']}: rolled back from "
            f"{record['previous_model_version']} to {record['model_version']}",
            f"By: {record['operator']}",
            f"Reason: {record['reason']}",
            f"Audit record: {record['key']}",
        ]
    )
