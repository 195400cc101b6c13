"""The classify path, minus AWS: parse the request, predict, route, build implicit feedback.

``api.classify`` does::

    request, errors = inference.parse_classify_request(event["body"])
    if errors: answer validation.http_status(errors), validation.error_body(errors)
    active = providers[request["model_type"]].current()        # adapters.active_model
    outcome = inference.classify(request["text"], active.backend, active.thresholds,
                                 now=datetime.now(UTC), request_id=...)
    if outcome.record: queue.send(outcome.record)                # adapters.feedback_queue
    answer 200, inference.classify_response(outcome)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from textloop.domain.backends import ModelBackend
from textloop.domain.feedback import FeedbackRecord, build_implicit_record
from textloop.domain.names import DEFAULT_MAX_TEXT_BYTES, ModelType
from textloop.domain.predictions import Prediction
from textloop.domain.thresholds import RoutingDecision, Thresholds, route
from textloop.domain.validation import (
    CLASSIFY_REQUEST,
    FieldError,
    InvalidInput,
    check_text,
    parse_json_object,
    request_errors,
)


def parse_classify_request(
    body: str | bytes | bytearray | Mapping[str, Any] | None,
    *,
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """``(request with model_type defaulted, [])`` or ``(None, errors)``; a too long text is
    the one error with ``limit_bytes`` set (HTTP 413 via ``validation.http_status``)."""
    data, errors = parse_json_object(body)
    if data is None:
        return None, errors
    errors = request_errors(CLASSIFY_REQUEST, data, max_text_bytes=max_text_bytes)
    if errors:
        return None, errors
    data.setdefault("model_type", ModelType.DOCUMENT_CLASSIFIER.value)
    return data, []


@dataclass(frozen=True)
class ClassifyOutcome:
    prediction: Prediction
    decision: RoutingDecision
    thresholds: Thresholds
    record: FeedbackRecord | None  # the implicit feedback record to write, when routed


def classify(
    text: str,
    backend: ModelBackend,
    thresholds: Thresholds,
    *,
    now: datetime,
    request_id: str | None = None,
    application_id: str | None = None,
) -> ClassifyOutcome:
    errors = check_text(text, max_bytes=backend.max_text_bytes)
    if errors:
        raise InvalidInput(errors)
    prediction = backend.predict([text])[0]
    decision = route(prediction, thresholds)
    record = None
    if decision.routed:
        record = build_implicit_record(
            text=text,
            prediction=prediction,
            decision=decision,
            thresholds=thresholds,
            observed_at=now,
            request_id=request_id,
            application_id=application_id,
            max_text_bytes=backend.max_text_bytes,
        )
    return ClassifyOutcome(prediction, decision, thresholds, record)


def classify_response(outcome: ClassifyOutcome) -> dict[str, Any]:
    """The POST /classify answer. ``model_type``, ``mode``, ``model_version`` and
    ``prediction`` have the names and shapes of the feedback record, so a client echoes them
    unchanged in POST /feedback. ``predicted_labels``: the labels assigned under the
    thresholds (see thresholds.route; an entity recogniser's: the types it found);
    ``entities`` (entity recognisers): ``[{begin_offset, end_offset, type, score}]`` by offset;
    ``feedback_id``: the implicit record's id, if routed."""
    p = outcome.prediction
    body: dict[str, Any] = {
        "model_type": p.model_type,
        "model_version": p.model_version,
        "prediction": p.prediction_dict(routed_to_review=outcome.decision.routed),
        "predicted_labels": list(outcome.decision.predicted_labels),
    }
    if p.mode is not None:
        body["mode"] = p.mode
    if p.model_type == ModelType.ENTITY_RECOGNIZER:
        # The spans with offsets, types and scores, at the top for clients that only read them
        # (the same list as prediction.entities, which a client echoes in POST /feedback).
        body["entities"] = [e.to_dict() for e in p.entities]
    if outcome.record is not None:
        body["feedback_id"] = outcome.record.id
    return body
