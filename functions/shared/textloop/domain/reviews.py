"""Human review of one batch: the task people see and the answers they give back.

A *task* (``layout.review_task_key``) holds the batch's items (id,
text, the active model's suggestion and confidence, or, for an untrusted application's
correction, that correction as the suggestion), the label options and the Step Functions
task token that the iteration waits on. Two ways complete it, both through ``check_submission``
and ``answers_document``: the local review API (a person or the CLI posts answers) and the A2I
callback (a worker's ``answerContent`` in the human loop's output.json).

Entity recognisers: the task also carries ``entity_types`` (the types a reviewer may give a
span; ``options`` holds the same list), and an item's suggestion is the model's spans with their
scores, ``{"entities": [{begin_offset, end_offset, type, score}], "confidence": lowest score}``
(``confidence`` is None when the model found no entity). An answer is
``{"item_id", "entities": [{begin_offset, end_offset, type}]}``: offsets are Python string
indexes, end exclusive; ``[]`` says the text has no entities.

Rules for a submission, checked against the task: every item id belongs to the batch and is
answered at most once, every label is one of the options, MULTI_CLASS answers name exactly one
label; an entity recogniser's answers give spans (not labels) that lie inside the item's text,
are not empty or only blanks, do not overlap and have one of the task's entity types. A batch
may be answered partly: unanswered items are not settled and come back as candidates in a
later iteration.

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
from textloop.domain.names import Mode, ModelType
from textloop.domain.predictions import span_dict, span_tuple
from textloop.domain.timestamps import format_timestamp
from textloop.domain.validation import FieldError, InvalidInput, loads, validator

REVIEW_SUBMISSION = "review-submission.v1"
TASK_SCHEMA_VERSION = 1
ANSWERS_SCHEMA_VERSION = 1
# A2I: HumanLoopInput.InputContent is at most 3,145,728 characters (StartHumanLoop API reference).
A2I_MAX_INPUT_CHARS = 3_145_728
# crowd-entity-annotation is a self-contained widget for ONE text, and may not sit inside a
# crowd-form (https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-crowd-entity-annotation.html):
# an entity batch reaches its A2I worker as its texts joined by a blank line, and the spans come
# back to their items by offset (``submissions_from_a2i_output``).
A2I_TEXT_SEPARATOR = "\n\n"
# The element's name, which keys its answer in answerContent.
A2I_ENTITY_ELEMENT = "crowd-entity-annotation"


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


def entity_suggestion_of(prediction: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What an entity recogniser proposes for an item: its spans with their scores (None
    without a prediction; an empty list when it found no entity)."""
    if not prediction or prediction.get("entities") is None:
        return None
    spans = sorted(
        (
            {**span_dict(span_tuple(e)), "score": round(float(e["score"]), 6)}
            if e.get("score") is not None
            else span_dict(span_tuple(e))
            for e in prediction["entities"]
        ),
        key=lambda e: (e["begin_offset"], e["end_offset"], e["type"]),
    )
    scores = [e["score"] for e in spans if "score" in e]
    return {"entities": spans, "confidence": min(scores) if scores else None}


def item_suggestion(
    item: Mapping[str, Any], mode: str | None, model_type: str = ModelType.DOCUMENT_CLASSIFIER
) -> dict[str, Any] | None:
    """The suggestion a reviewer sees for a selected item: an untrusted correction's labels
    (``from: correction``, with who sent them and the model's own suggestion beside), else the
    model's (``suggestion_of``; ``entity_suggestion_of`` for entity recognisers)."""
    if model_type == ModelType.ENTITY_RECOGNIZER:
        model = entity_suggestion_of(item.get("prediction"))
        correction = item.get("correction")
        if not correction:
            return model
        return {
            "from": "correction",
            "entities": sorted(
                (span_dict(span_tuple(e)) for e in correction["labels"]),
                key=lambda e: (e["begin_offset"], e["end_offset"], e["type"]),
            ),
            "submitted_by": correction.get("submitted_by"),
            "source": correction.get("source"),
            "model": model,
        }
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
    completion path asks whether it still waits before storing answers. ``options``: the
    labels, or for an entity recogniser the entity types (also the task's ``entity_types``)."""
    items = [
        {
            "item_id": item["id"],
            "text": item["text"],
            "suggestion": item_suggestion(item, mode, model_type),
            "selected_because": item.get("reason"),
            "uncertainty": item.get("uncertainty"),
        }
        for item in batch["items"]
    ]
    entity = model_type == ModelType.ENTITY_RECOGNIZER
    return {
        "schema_version": TASK_SCHEMA_VERSION,
        "batch_id": batch["batch_id"],
        "iteration_id": iteration_id,
        "model_type": model_type,
        "mode": None if entity else mode,
        "options": sorted(options),
        **({"entity_types": sorted(options)} if entity else {}),
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


def is_entity_task(task: Mapping[str, Any]) -> bool:
    return task.get("model_type") == ModelType.ENTITY_RECOGNIZER


def a2i_input_content(task: Mapping[str, Any]) -> str:
    """``HumanLoopInput.InputContent`` of a batch: what the worker template renders.

    Classifiers: the worker template must answer ``{"answers": [{"item_id", "labels": [...]}]}``
    in ``answerContent`` (see ``submissions_from_a2i_output``). Entity recognisers
    (``a2i_entity_input``): ``{"crowd-entity-annotation": {"entities": [...]}}``.
    """
    if is_entity_task(task):
        return json.dumps(a2i_entity_input(task), ensure_ascii=False, separators=(",", ":"))
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


def a2i_entity_input(task: Mapping[str, Any]) -> dict[str, Any]:
    """The A2I input of an entity batch: one text for the one ``crowd-entity-annotation``
    widget (the items' texts joined by ``A2I_TEXT_SEPARATOR``), where each item sits in it
    (``begin_offset``/``end_offset``), the model's spans moved there as the widget's
    ``initial_value`` (``label``, ``startOffset``, ``endOffset``: the element's documented
    shape) and the entity types as its ``labels``. The items keep their suggestions, so the
    template can show each span's score."""
    types = list(task.get("entity_types") or task["options"])
    text_parts, items, initial = [], [], []
    at = 0
    for index, item in enumerate(task["items"]):
        if index:
            text_parts.append(A2I_TEXT_SEPARATOR)
            at += len(A2I_TEXT_SEPARATOR)
        text_parts.append(item["text"])
        suggestion = item.get("suggestion") or {}
        proposed = suggestion.get("entities") or []
        items.append(
            {
                "item_id": item["item_id"],
                "begin_offset": at,
                "end_offset": at + len(item["text"]),
                "text": item["text"],
                "suggestion": suggestion or None,
            }
        )
        initial += [
            {
                "label": e["type"],
                "startOffset": at + e["begin_offset"],
                "endOffset": at + e["end_offset"],
            }
            # The widget's initial value may only use its labels (a client's correction could
            # name a type the batch does not offer: the worker sees it listed, not pre-filled).
            for e in proposed
            if e["type"] in types
        ]
        at += len(item["text"])
    return {
        "batch_id": task["batch_id"],
        "model_type": task["model_type"],
        # A browser turns CR and CR LF into LF as it parses the page: that would move every
        # later offset. A space keeps the length (the worker sees a blank instead of a CR).
        "text": "".join(text_parts).replace("\r", " "),
        "items": items,
        "labels": [{"label": t, "shortDisplayName": t[:4]} for t in types],
        "initial_value": initial,
    }


@dataclass(frozen=True)
class Submission:
    """One reviewer's answers. ``answers``: (item_id, labels) sorted by item id; for an entity
    recogniser (``kind == "entities"``) (item_id, spans), the spans ``(begin, end, type)`` in
    the order given (so that errors name them as the reviewer sent them)."""

    reviewer_id: str
    answers: tuple[tuple[str, tuple[Any, ...]], ...]
    kind: str = "labels"

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "entities":
            answers = [
                {"item_id": i, "entities": [span_dict(s) for s in sorted(set(spans))]}
                for i, spans in self.answers
            ]
        else:
            answers = [{"item_id": i, "labels": list(lbs)} for i, lbs in self.answers]
        return {"reviewer_id": self.reviewer_id, "answers": answers}


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
    kinds = set()
    for index, answer in enumerate([] if errors else body["answers"]):
        given = [k for k in ("labels", "entities") if k in answer]
        if len(given) != 1:
            errors.append(
                FieldError(
                    f"answers[{index}]",
                    "needs labels (a document classifier) or entities (an entity recogniser), "
                    "not " + ("both" if given else "neither"),
                )
            )
        kinds.update(given)
    if not errors and len(kinds) > 1:
        errors = [FieldError("answers", "answers are all labels or all entities, not a mix")]
    if errors:
        if field_prefix:
            errors = [FieldError(f"{field_prefix}.{e.field}", e.message) for e in errors]
        raise InvalidInput(errors)
    who = reviewer_id if reviewer_id is not None else body["reviewer_id"]
    if kinds == {"entities"}:
        spans = sorted(
            ((a["item_id"], tuple(span_tuple(e) for e in a["entities"])) for a in body["answers"]),
            key=lambda pair: pair[0],
        )
        return Submission(reviewer_id=who.strip(), answers=tuple(spans), kind="entities")
    answers = sorted((a["item_id"], tuple(sorted(a["labels"]))) for a in body["answers"])
    return Submission(reviewer_id=who.strip(), answers=tuple(answers))


def check_submission(task: Mapping[str, Any], submission: Submission) -> None:
    """Raise ``InvalidInput`` naming every answer that does not fit the batch."""
    item_ids = {item["item_id"] for item in task["items"]}
    entity = is_entity_task(task)
    if entity != (submission.kind == "entities"):
        wanted = "entities" if entity else "labels"
        raise InvalidInput(
            [
                FieldError(
                    f"answers[{i}].{wanted}",
                    f"is required: this batch reviews a {task.get('model_type')}",
                )
                for i in range(len(submission.answers))
            ]
        )
    if entity:
        _check_entity_answers(task, submission)
        return
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


def _check_entity_answers(task: Mapping[str, Any], submission: Submission) -> None:
    texts = {item["item_id"]: item["text"] for item in task["items"]}
    types = set(task.get("entity_types") or task["options"])
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, (item_id, spans) in enumerate(submission.answers):
        where = f"answers[{index}]"
        text = texts.get(item_id)
        if text is None:
            errors.append(FieldError(f"{where}.item_id", f"{item_id!r} is not in this batch"))
        if item_id in seen:
            errors.append(FieldError(f"{where}.item_id", f"{item_id!r} is answered twice"))
        seen.add(item_id)
        for n, (begin, end, kind) in enumerate(spans):
            at = f"{where}.entities[{n}]"
            if kind not in types:
                errors.append(
                    FieldError(
                        f"{at}.type", f"{kind!r} is not among the entity types {sorted(types)}"
                    )
                )
            if end <= begin:
                errors.append(FieldError(f"{at}.end_offset", "must be greater than begin_offset"))
            elif text is not None and end > len(text):
                errors.append(
                    FieldError(f"{at}.end_offset", f"must be <= {len(text)} (the length of text)")
                )
            elif text is not None and not text[begin:end].strip():
                errors.append(FieldError(at, "covers only blanks"))
        # Overlaps among the well-formed spans, each named by its position in the answer.
        ordered = sorted(
            (n for n, (b, e, _) in enumerate(spans) if b < e),
            key=lambda n: (spans[n][0], spans[n][1]),
        )
        reach, holder = -1, -1
        for n in ordered:
            begin, end, _ = spans[n]
            if begin < reach:
                errors.append(
                    FieldError(f"{where}.entities[{n}]", f"overlaps {where}.entities[{holder}]")
                )
            if end > reach:
                reach, holder = end, n
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
    model_type = task.get("model_type")
    answers = []
    for submission in submissions:
        entity = submission.kind == "entities"
        for item_id, choice in submission.answers:
            answer = Answer(
                item_id=item_id,
                text=texts[item_id],
                reviewer_id=submission.reviewer_id,
                answered_at=at,
                source="review",
                labels=() if entity else choice,
                entities=choice if entity else (),
            )
            answers.append({**answer.to_dict(model_type), "text": answer.text})
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


def submissions_from_a2i_output(
    output: Any, task: Mapping[str, Any] | None = None
) -> list[Submission]:
    """One submission per worker of an A2I output.json (``humanAnswers[].answerContent``).

    Classifier batches: ``answerContent.answers`` (the templates' hidden field). Entity batches
    (``task`` is an entity task): ``answerContent["crowd-entity-annotation"].entities``, spans
    ``{startOffset, endOffset, label}`` in the joined text of ``a2i_entity_input``, which go
    back to their items; every item is answered (no span in its text: no entities).

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
        if task is not None and is_entity_task(task):
            answers: Any = _entity_answers_from_a2i(content, task, f"{where}.answerContent")
        else:
            # A crowd-form submits its fields as strings: the worker templates in
            # terraform/modules/textloop/templates/ put the answers list in one hidden field.
            answers = _json_field(content.get("answers"), f"{where}.answerContent.answers")
        body = {"reviewer_id": worker or "", "answers": answers}
        submissions.append(parse_submission(body, field_prefix=where))
    if not submissions:
        raise InvalidInput([FieldError("humanAnswers", "must have at least 1 item(s)")])
    return submissions


def _entity_answers_from_a2i(
    content: Mapping[str, Any], task: Mapping[str, Any], where: str
) -> list[dict[str, Any]]:
    """The per-item answers of one worker's ``crowd-entity-annotation`` output."""
    field = f"{where}.{A2I_ENTITY_ELEMENT}"
    result = _json_field(content.get(A2I_ENTITY_ELEMENT), field)
    if not isinstance(result, Mapping):
        raise InvalidInput([FieldError(field, "must be an object")])
    entities = result.get("entities")
    if entities is None:
        entities = []  # nothing highlighted: no entity in any text
    if not isinstance(entities, list):
        raise InvalidInput([FieldError(f"{field}.entities", "must be an array")])
    shown = a2i_entity_input(task)
    placed, joined = shown["items"], shown["text"]
    answers: dict[str, list[dict[str, Any]]] = {i["item_id"]: [] for i in placed}
    errors: list[FieldError] = []
    for n, entity in enumerate(entities):
        at = f"{field}.entities[{n}]"
        if not isinstance(entity, Mapping):
            errors.append(FieldError(at, "must be an object"))
            continue
        start, end, label = entity.get("startOffset"), entity.get("endOffset"), entity.get("label")
        bad = [
            FieldError(f"{at}.{name}", message)
            for name, value, message in (
                ("startOffset", start, "must be an integer >= 0"),
                ("endOffset", end, "must be an integer >= 0"),
            )
            if isinstance(value, bool) or not isinstance(value, int) or value < 0
        ]
        if not isinstance(label, str) or not label.strip():
            bad.append(FieldError(f"{at}.label", "must be a non-empty string"))
        if bad:
            errors += bad
            continue
        # A highlight that caught the blank line between two texts is the words it covers.
        while start < end and start < len(joined) and joined[start].isspace():
            start += 1
        while end > start and end <= len(joined) and joined[end - 1].isspace():
            end -= 1
        home = next(
            (i for i in placed if i["begin_offset"] <= start and end <= i["end_offset"]), None
        )
        if home is None:
            errors.append(FieldError(at, "does not lie within one of the batch's texts"))
            continue
        offset = home["begin_offset"]
        answers[home["item_id"]].append(
            {"begin_offset": start - offset, "end_offset": end - offset, "type": label}
        )
    if errors:
        raise InvalidInput(errors)
    return [{"item_id": item_id, "entities": spans} for item_id, spans in answers.items()]


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
    "A2I_ENTITY_ELEMENT",
    "A2I_MAX_INPUT_CHARS",
    "A2I_TEXT_SEPARATOR",
    "Submission",
    "a2i_entity_input",
    "a2i_input_content",
    "answers_document",
    "build_task",
    "check_submission",
    "completion_output",
    "entity_suggestion_of",
    "is_entity_task",
    "item_suggestion",
    "parse_submission",
    "public_task",
    "submissions_from_a2i_output",
]
