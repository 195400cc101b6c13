"""Human review of one batch: the task people see and the answers they give back.

A *task* (``layout.review_task_key``) holds the batch's items (id,
text, the active model's suggestion and confidence, or, for an untrusted application's
correction, that correction as the suggestion), the label options and the Step Functions
task token that the iteration waits on. Two ways complete it, both through ``check_submission``
and ``answers_document``: the local review API (a person or the CLI posts answers) and the A2I
callback (a worker's ``answerContent`` in the human loop's output.json).

Rules for a submission, checked against the task: every item id belongs to the batch and is
answered at most once, every label is one of the options, MULTI_CLASS answers name exactly one
label. A batch may be answered partly: unanswered items are not settled and come back as
candidates in a later iteration.

The answers are stored once (``answers.json``, conditional put). A second submission with the
same content is a duplicate (nothing changes); with other content it is refused: the first
answer already went into the iteration.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from textloop.domain.annotations import Answer
from textloop.domain.hashing import content_hash
from textloop.domain.names import Mode
from textloop.domain.timestamps import format_timestamp
from textloop.domain.validation import FieldError, InvalidInput, loads, validator

REVIEW_SUBMISSION = "review-submission.v1"
TASK_SCHEMA_VERSION = 1
ANSWERS_SCHEMA_VERSION = 1
# A2I: HumanLoopInput.InputContent is at most 3,145,728 characters (StartHumanLoop API reference).
A2I_MAX_INPUT_CHARS = 3_145_728


def suggestion_of(prediction: Mapping[str, Any] | None, mode: str | None) -> dict[str, Any] | None:
    """What the model proposes for an item: its label(s) and its confidence in them."""
    labels = (prediction or {}).get("labels") or []
    if not labels:
        return None
    ranked = sorted(labels, key=lambda ls: -float(ls["score"]))
    if mode == Mode.MULTI_LABEL:
        chosen = [ls for ls in ranked if float(ls["score"]) >= 0.5]
        return {
            "labels": [ls["label"] for ls in chosen],
            "confidence": round(min((float(ls["score"]) for ls in chosen), default=0.0), 6),
            "scores": {ls["label"]: float(ls["score"]) for ls in ranked},
        }
    return {
        "labels": [ranked[0]["label"]],
        "confidence": round(float(ranked[0]["score"]), 6),
        "scores": {ls["label"]: float(ls["score"]) for ls in ranked},
    }


def item_suggestion(item: Mapping[str, Any], mode: str | None) -> dict[str, Any] | None:
    """The suggestion a reviewer sees for a selected item: an untrusted correction's labels
    (``from: correction``, with who sent them and the model's own suggestion beside), else the
    model's (``suggestion_of``)."""
    model = suggestion_of(item.get("prediction"), mode)
    correction = item.get("correction")
    if not correction:
        return model
    return {
        "from": "correction",
        "labels": list(correction["labels"]),
        "submitted_by": correction.get("submitted_by"),
        "source": correction.get("source"),
        "scores": (model or {}).get("scores", {}),
        "model": model,
    }


def build_task(
    *,
    batch: Mapping[str, Any],
    iteration_id: str,
    model_type: str,
    mode: str | None,
    options: Sequence[str],
    task_token: str,
    created_at: str | datetime,
    deadline: str | datetime,
    review_backend: str,
    execution_arn: str | None = None,
) -> dict[str, Any]:
    """The review task of one batch. ``execution_arn``: the iteration's execution, which the
    completion path asks whether it still waits before storing answers."""
    items = [
        {
            "item_id": item["id"],
            "text": item["text"],
            "suggestion": item_suggestion(item, mode),
            "selected_because": item.get("reason"),
            "uncertainty": item.get("uncertainty"),
        }
        for item in batch["items"]
    ]
    return {
        "schema_version": TASK_SCHEMA_VERSION,
        "batch_id": batch["batch_id"],
        "iteration_id": iteration_id,
        "model_type": model_type,
        "mode": mode,
        "options": sorted(options),
        "items": items,
        "created_at": format_timestamp(created_at),
        "deadline": format_timestamp(deadline),
        "review_backend": review_backend,
        "task_token": task_token,
        "execution_arn": execution_arn,
    }


def public_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """The task without its token: the token completes the iteration's wait, so only the
    completion path may read it, never a reviewer's browser."""
    return {k: v for k, v in task.items() if k != "task_token"}


def a2i_input_content(task: Mapping[str, Any]) -> str:
    """``HumanLoopInput.InputContent`` of a batch: what the worker template renders.

    The worker template must answer ``{"answers": [{"item_id", "labels": [...]}]}`` in
    ``answerContent`` (see ``submissions_from_a2i_output``).
    """
    content = json.dumps(
        {
            "batch_id": task["batch_id"],
            "mode": task["mode"],
            "options": task["options"],
            "items": [
                {"item_id": i["item_id"], "text": i["text"], "suggestion": i["suggestion"]}
                for i in task["items"]
            ],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return content


@dataclass(frozen=True)
class Submission:
    reviewer_id: str
    answers: tuple[tuple[str, tuple[str, ...]], ...]  # (item_id, labels), sorted by item id

    def to_dict(self) -> dict[str, Any]:
        return {
            "reviewer_id": self.reviewer_id,
            "answers": [{"item_id": i, "labels": list(lbs)} for i, lbs in self.answers],
        }


def parse_submission(
    body: Any, *, reviewer_id: str | None = None, field_prefix: str = ""
) -> Submission:
    """A submission body checked against its schema (not yet against a batch).

    ``reviewer_id``: who answers, from a verified identity (the review API's bearer token); it
    wins over the body's ``reviewer_id``, which is then ignored. Without it (an A2I worker's
    answer, where the worker id is put in the body), the body must name the reviewer."""
    errors = validator(REVIEW_SUBMISSION).errors(body)
    if not errors and reviewer_id is None and not str(body.get("reviewer_id", "")).strip():
        errors = [FieldError("reviewer_id", "is required")]
    if errors:
        if field_prefix:
            errors = [FieldError(f"{field_prefix}.{e.field}", e.message) for e in errors]
        raise InvalidInput(errors)
    answers = sorted((a["item_id"], tuple(sorted(a["labels"]))) for a in body["answers"])
    who = reviewer_id if reviewer_id is not None else body["reviewer_id"]
    return Submission(reviewer_id=who.strip(), answers=tuple(answers))


def check_submission(task: Mapping[str, Any], submission: Submission) -> None:
    """Raise ``InvalidInput`` naming every answer that does not fit the batch."""
    item_ids = {item["item_id"] for item in task["items"]}
    options = set(task["options"])
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, (item_id, labels) in enumerate(submission.answers):
        where = f"answers[{index}]"
        if item_id not in item_ids:
            errors.append(FieldError(f"{where}.item_id", f"{item_id!r} is not in this batch"))
        if item_id in seen:
            errors.append(FieldError(f"{where}.item_id", f"{item_id!r} is answered twice"))
        seen.add(item_id)
        unknown = [lb for lb in labels if lb not in options]
        if unknown:
            errors.append(
                FieldError(
                    f"{where}.labels",
                    f"{unknown} not among the options {sorted(options)}",
                )
            )
        if task.get("mode") == Mode.MULTI_CLASS and len(labels) != 1:
            errors.append(
                FieldError(f"{where}.labels", "a MULTI_CLASS answer names exactly one label")
            )
    if errors:
        raise InvalidInput(errors)


def submission_hash(submissions: Iterable[Submission]) -> str:
    """What makes two deliveries "the same answers": reviewers and labels, not the time."""
    return content_hash(sorted((s.to_dict() for s in submissions), key=json.dumps))


def answers_document(
    task: Mapping[str, Any],
    submissions: Sequence[Submission],
    *,
    source: str,
    answered_at: str | datetime,
) -> dict[str, Any]:
    """The ``answers.json`` of a batch: pool answers (``annotations.Answer``, with text) of
    every submission, and the hash that recognises a re-delivery."""
    texts = {item["item_id"]: item["text"] for item in task["items"]}
    at = format_timestamp(answered_at)
    answers = []
    for submission in submissions:
        for item_id, labels in submission.answers:
            answer = Answer(
                item_id=item_id,
                text=texts[item_id],
                reviewer_id=submission.reviewer_id,
                answered_at=at,
                source="review",
                labels=labels,
            )
            answers.append({**answer.to_dict(), "text": answer.text})
    return {
        "schema_version": ANSWERS_SCHEMA_VERSION,
        "batch_id": task["batch_id"],
        "iteration_id": task["iteration_id"],
        "source": source,
        "answered_at": at,
        "submission_hash": submission_hash(submissions),
        "reviewers": sorted({s.reviewer_id for s in submissions}),
        "answered_items": len({a["item_id"] for a in answers}),
        "submissions": [s.to_dict() for s in submissions],
        "answers": answers,
    }


def completion_output(document: Mapping[str, Any]) -> dict[str, Any]:
    """What SendTaskSuccess hands to the state machine (the Map item's result)."""
    return {
        "batch_id": document["batch_id"],
        "status": "answered",
        "answered": document["answered_items"],
    }


def submissions_from_a2i_output(output: Any) -> list[Submission]:
    """One submission per worker of an A2I output.json (``humanAnswers[].answerContent``).

    The output is written by a worker's browser: every level may hold the wrong type, and
    ``InvalidInput`` names where."""
    if not isinstance(output, Mapping):
        raise InvalidInput([FieldError("$", "must be an object")])
    humans = output.get("humanAnswers") or []
    if not isinstance(humans, list):
        raise InvalidInput([FieldError("humanAnswers", "must be an array")])
    submissions = []
    for index, human in enumerate(humans):
        where = f"humanAnswers[{index}]"
        if not isinstance(human, Mapping):
            raise InvalidInput([FieldError(where, "must be an object")])
        content = _json_field(human.get("answerContent") or {}, f"{where}.answerContent")
        if not isinstance(content, Mapping):
            raise InvalidInput([FieldError(f"{where}.answerContent", "must be an object")])
        metadata = human.get("workerMetadata")
        identity = metadata.get("identityData") if isinstance(metadata, Mapping) else None
        worker = human.get("workerId") or (
            identity.get("sub") if isinstance(identity, Mapping) else None
        )
        # A crowd-form submits its fields as strings: the worker templates in
        # terraform/modules/textloop/templates/ put the answers list in one hidden field.
        answers = _json_field(content.get("answers"), f"{where}.answerContent.answers")
        body = {"reviewer_id": worker or "", "answers": answers}
        submissions.append(parse_submission(body, field_prefix=where))
    if not submissions:
        raise InvalidInput([FieldError("humanAnswers", "must have at least 1 item(s)")])
    return submissions


def _json_field(value: Any, field: str) -> Any:
    if not isinstance(value, str):
        return value
    parsed, errors = loads(value, field=field)
    if errors:
        raise InvalidInput(
            [
                e
                if e.field == field
                else FieldError(
                    field + ("" if e.field.startswith("[") else ".") + e.field, e.message
                )
                for e in errors
            ]
        )
    return parsed


__all__ = [
    "A2I_MAX_INPUT_CHARS",
    "Submission",
    "a2i_input_content",
    "answers_document",
    "build_task",
    "check_submission",
    "completion_output",
    "item_suggestion",
    "parse_submission",
    "public_task",
    "submissions_from_a2i_output",
]
