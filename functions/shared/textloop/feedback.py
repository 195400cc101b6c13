"""Feedback records: build them, give them a stable id, validate them, place them in the lake.

Every writer goes through the builders here, so every record matches
``schemas/feedback-record.v1.json`` (see its description for the field list and the id rule):

* ``build_implicit_record``      classify path, prediction routed to review (source implicit)
* ``parse_feedback_request`` + ``build_explicit_api_record``    POST /feedback (explicit-api)
* ``build_batch_record``         one item of an uploaded file (explicit-batch; see batch.py)

Writing the same record twice is a no-op: the key is derived from the id and observed_at only,
and the S3 writer puts with ``If-None-Match: *`` (adapters/feedback_writer.py).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from textloop.backends.base import Prediction
from textloop.names import (
    DEFAULT_MAX_TEXT_BYTES,
    FEEDBACK_PREFIX,
    Mode,
    ModelType,
    Reason,
    Source,
)
from textloop.thresholds import RoutingDecision, Thresholds
from textloop.validation import (
    FEEDBACK_RECORD,
    FEEDBACK_REQUEST,
    FieldError,
    InvalidInput,
    check_text,
    parse_json_body,
    validator,
)

SCHEMA_VERSION = 1
ID_VERSION = 1
# Hive's (and Athena's) spelling of a NULL partition value: batch records without a prediction
# have no model_version.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# Clients' clocks drift; beyond this, an observed_at "in the future" is a bug, not drift.
MAX_CLOCK_SKEW = timedelta(minutes=10)


# --------------------------------------------------------------------------- time


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds: the only timestamp spelling in records."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (use datetime.now(UTC))")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 date-time with an offset (``Z`` included) into an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    if moment.tzinfo is None:
        raise ValueError("timestamp has no UTC offset")
    return moment.astimezone(UTC)


def _ts(value: datetime | str) -> str:
    # Batch code formats its (per-file constant) timestamps once and passes strings.
    return value if isinstance(value, str) else utc_timestamp(value)


# --------------------------------------------------------------------------- id, bytes, key


# One encoder for the process: json.dumps with options builds a new encoder on every call,
# which is a third of the batch path's cost per line.
_CANONICAL_ENCODER = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, UTF-8 (not ASCII-escaped)."""
    return _CANONICAL_ENCODER.encode(value).encode("utf-8")


def record_id(record: Mapping[str, Any]) -> str:
    """The stable content hash described in the schema's ``id`` field."""
    submitter = record.get("submitter")
    canonical = {
        "v": ID_VERSION,
        "text": record["text"],
        "model_type": record["model_type"],
        "model_version": record.get("model_version"),
        "predicted": _predicted_key(record),
        "reason": record["reason"],
        "corrected": _corrected_key(record),
        "submitter": (
            [submitter.get("user_id"), submitter.get("application_id")] if submitter else None
        ),
    }
    return hashlib.sha256(canonical_json(canonical)).hexdigest()


def _span_key(span: Mapping[str, Any]) -> list[Any]:
    return [span["begin_offset"], span["end_offset"], span["type"]]


def _predicted_key(record: Mapping[str, Any]) -> Any:
    prediction = record.get("prediction")
    if not prediction:
        return None
    if record["model_type"] == ModelType.ENTITY_RECOGNIZER:
        return sorted(_span_key(e) for e in prediction.get("entities", ()))
    labels = prediction.get("labels") or ()
    # max() keeps the first of equal scores, like the stable descending sort of Prediction.
    return max(labels, key=lambda ls: ls["score"])["label"] if labels else None


def _corrected_key(record: Mapping[str, Any]) -> Any:
    if "corrected_labels" not in record:
        return None
    corrected = record["corrected_labels"]
    if record["model_type"] == ModelType.ENTITY_RECOGNIZER:
        return sorted(_span_key(s) for s in corrected)
    return sorted(corrected)


def record_to_json(record: Mapping[str, Any]) -> bytes:
    """The stored bytes of a record: one canonical JSON line (so objects concatenate as JSONL
    and the same record always serialises to the same bytes)."""
    return canonical_json(record) + b"\n"


def partition_prefix(model_version: str | None, observed_at: str) -> str:
    """``feedback/model_version=<v>/dt=<YYYY-MM-DD>/`` for a record observed at ``observed_at``."""
    return (
        f"{FEEDBACK_PREFIX}model_version={model_version or NULL_PARTITION}/dt={observed_at[:10]}/"
    )


def record_key(record: Mapping[str, Any]) -> str:
    """Where a single record lives: a function of its content, so a retry lands on the same key."""
    return partition_prefix(record.get("model_version"), record["observed_at"]) + (
        f"{record['id']}.json"
    )


# --------------------------------------------------------------------------- validation


def validate_record(
    record: Any, *, max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
) -> list[FieldError]:
    """Schema errors, then the checks a schema cannot express (UTF-8, size, spans, id)."""
    errors = validator(FEEDBACK_RECORD).errors(record)
    if errors:
        return errors
    errors = check_text(record["text"], max_bytes=max_text_bytes)
    for name in ("created_at", "observed_at"):
        try:
            parse_timestamp(record[name])
        except ValueError:
            errors.append(FieldError(name, "is not a valid date-time"))
    text = record["text"]
    if record["model_type"] == ModelType.ENTITY_RECOGNIZER:
        if "prediction" in record:
            errors += check_spans(record["prediction"]["entities"], text, "prediction.entities")
        if "corrected_labels" in record:
            errors += check_spans(record["corrected_labels"], text, "corrected_labels")
    if not errors and record["id"] != record_id(record):
        errors.append(FieldError("id", "does not match the record's content"))
    return errors


def check_spans(spans: Sequence[Mapping[str, Any]], text: str, field: str) -> list[FieldError]:
    """Entity spans must lie inside the text, be non-empty and not overlap (Comprehend's rules
    for annotations; a prediction that breaks them is a client bug worth a 400)."""
    errors: list[FieldError] = []
    length = len(text)
    for i, span in enumerate(spans):
        begin, end = span["begin_offset"], span["end_offset"]
        if end <= begin:
            errors.append(
                FieldError(f"{field}[{i}].end_offset", "must be greater than begin_offset")
            )
        elif end > length:
            errors.append(
                FieldError(f"{field}[{i}].end_offset", f"must be <= {length} (the length of text)")
            )
    if errors:
        return errors
    order = sorted(
        range(len(spans)), key=lambda i: (spans[i]["begin_offset"], spans[i]["end_offset"])
    )
    for previous, current in itertools.pairwise(order):
        if spans[current]["begin_offset"] < spans[previous]["end_offset"]:
            errors.append(FieldError(f"{field}[{current}]", f"overlaps {field}[{previous}]"))
    return errors


def check_corrected_labels(
    corrected: Any,
    *,
    model_type: str,
    mode: str | None,
    text: str,
    known_labels: Collection[str] | None = None,
    field: str = "corrected_labels",
) -> list[FieldError]:
    """The model-dependent rules for corrected labels (the batch line schema cannot know the
    active model): classifier items are label names, MULTI_CLASS exactly one; recogniser items
    are spans inside the text; with ``known_labels``, labels must be known."""
    if not isinstance(corrected, list):
        return [FieldError(field, "must be an array")]
    if model_type == ModelType.ENTITY_RECOGNIZER:
        for i, item in enumerate(corrected):
            if not isinstance(item, dict):
                return [FieldError(f"{field}[{i}]", "must be an entity span for ENTITY_RECOGNIZER")]
        errors = check_spans(corrected, text, field)
        if known_labels is not None:
            errors += [
                FieldError(f"{field}[{i}].type", "is not an entity type of the model")
                for i, s in enumerate(corrected)
                if s["type"] not in known_labels
            ]
        return errors
    for i, item in enumerate(corrected):
        if not isinstance(item, str):
            return [FieldError(f"{field}[{i}]", "must be a label name for DOCUMENT_CLASSIFIER")]
    if mode == Mode.MULTI_CLASS and len(corrected) != 1:
        return [FieldError(field, "must name exactly one label for a MULTI_CLASS model")]
    if len(set(corrected)) != len(corrected):
        return [FieldError(field, "must not contain duplicates")]
    if known_labels is not None:
        return [
            FieldError(
                f"{field}[{i}]", f"is not a label of the model ({', '.join(sorted(known_labels))})"
            )
            for i, label in enumerate(corrected)
            if label not in known_labels
        ]
    return []


def _check_or_raise(record: dict[str, Any], max_text_bytes: int) -> dict[str, Any]:
    errors = validate_record(record, max_text_bytes=max_text_bytes)
    if errors:
        raise InvalidInput(errors)
    return record


# --------------------------------------------------------------------------- builders


def build_implicit_record(
    *,
    text: str,
    prediction: Prediction,
    decision: RoutingDecision,
    thresholds: Thresholds,
    observed_at: datetime,
    created_at: datetime | None = None,
    request_id: str | None = None,
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
) -> dict[str, Any]:
    """The record the classify path writes when ``decide`` routed the prediction to review."""
    if not decision.routed or decision.reason is None:
        raise ValueError("only a routed prediction becomes implicit feedback")
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "source": Source.IMPLICIT.value,
        "reason": decision.reason,
        "text": text,
        "model_type": prediction.model_type,
        "model_version": prediction.model_version,
        "prediction": prediction.prediction_dict(routed_to_review=True),
        "thresholds": thresholds.to_dict(),
        "created_at": utc_timestamp(created_at or observed_at),
        "observed_at": utc_timestamp(observed_at),
    }
    if prediction.mode is not None:
        record["mode"] = prediction.mode
    if request_id:
        record["origin"] = {"request_id": request_id}
    record["id"] = record_id(record)
    return _check_or_raise(record, max_text_bytes)


def parse_feedback_request(
    body: str | bytes | bytearray | Mapping[str, Any] | None,
    *,
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
    application_id: str | None = None,
    known_labels: Collection[str] | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """Parse and check a POST /feedback body: ``(request, [])`` or ``(None, errors)``.

    ``application_id``, when the handler knows it from the caller's identity (API key, JWT),
    replaces whatever the body claims. Answer ``validation.http_status(errors)`` (413 for a too
    long text, else 400) with ``validation.error_body(errors)``.
    """
    if isinstance(body, Mapping):
        data: Any = dict(body)
    else:
        data, errors = parse_json_body(body)
        if errors:
            return None, errors
    if not isinstance(data, dict):
        return None, [FieldError("body", "must be a JSON object")]
    if application_id is not None:
        submitter = data.get("submitter")
        data["submitter"] = {
            **(submitter if isinstance(submitter, dict) else {}),
            "application_id": application_id,
        }
    errors = validator(FEEDBACK_REQUEST).errors(data)
    if not any(e.field == "text" for e in errors) and "text" in data:
        errors = check_text(data["text"], max_bytes=max_text_bytes) + errors
    if errors:
        return None, errors
    data.setdefault("model_type", ModelType.DOCUMENT_CLASSIFIER.value)
    text = data["text"]
    if data["model_type"] == ModelType.ENTITY_RECOGNIZER:
        errors += check_spans(data["prediction"]["entities"], text, "prediction.entities")
    if "corrected_labels" in data:
        errors += check_corrected_labels(
            data["corrected_labels"],
            model_type=data["model_type"],
            mode=data.get("mode"),
            text=text,
            known_labels=known_labels,
        )
    if "observed_at" in data:
        errors += _check_observed_at(data["observed_at"], now or datetime.now(UTC))
    labels = data["prediction"].get("labels", ())
    seen: set[str] = set()
    for i, ls in enumerate(labels):
        if ls["label"] in seen:
            errors.append(FieldError(f"prediction.labels[{i}].label", "must not repeat a label"))
        seen.add(ls["label"])
    return (None, errors) if errors else (data, [])


def _check_observed_at(value: str, now: datetime) -> list[FieldError]:
    try:
        moment = parse_timestamp(value)
    except ValueError:
        return [FieldError("observed_at", "is not a valid date-time")]
    if moment > now + MAX_CLOCK_SKEW:
        return [FieldError("observed_at", "must not be in the future")]
    return []


def build_explicit_api_record(
    request: Mapping[str, Any],
    *,
    now: datetime,
    request_id: str | None = None,
    thresholds: Thresholds | None = None,
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
) -> dict[str, Any]:
    """The record for a request returned by ``parse_feedback_request``.

    observed_at is the client's (when sent, which keeps a retried request's key stable across
    midnight), else ``now``. ``thresholds``: the ones in force, recorded for context.
    """
    observed_at = (
        utc_timestamp(parse_timestamp(request["observed_at"]))
        if "observed_at" in request
        else utc_timestamp(now)
    )
    prediction = dict(request["prediction"])
    if "labels" in prediction:
        prediction["labels"] = sorted(prediction["labels"], key=lambda ls: -ls["score"])
    if "entities" in prediction:
        prediction["entities"] = sorted(
            prediction["entities"], key=lambda e: (e["begin_offset"], e["end_offset"])
        )
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "source": Source.EXPLICIT_API.value,
        "reason": request["reason"],
        "text": request["text"],
        "model_type": request.get("model_type", ModelType.DOCUMENT_CLASSIFIER.value),
        "model_version": request["model_version"],
        "prediction": prediction,
        "created_at": utc_timestamp(now),
        "observed_at": observed_at,
        "submitter": dict(request["submitter"]),
    }
    if "mode" in request:
        record["mode"] = request["mode"]
    if "corrected_labels" in request:
        record["corrected_labels"] = list(request["corrected_labels"])
    if thresholds is not None:
        record["thresholds"] = thresholds.to_dict()
    if request_id:
        record["origin"] = {"request_id": request_id}
    record["id"] = record_id(record)
    return _check_or_raise(record, max_text_bytes)


def build_batch_record(
    *,
    text: str,
    corrected_labels: list[Any] | None,
    model_type: str,
    mode: str | None,
    submitter: Mapping[str, str],
    origin: Mapping[str, Any],
    observed_at: datetime | str,
    created_at: datetime | str,
) -> dict[str, Any]:
    """The record for one checked item of a batch file (batch.py checks before calling).

    Not re-validated here: the batch path is hot (a million lines) and its inputs are checked
    field by field first; the unit tests validate its output against the schema.
    """
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "source": Source.EXPLICIT_BATCH.value,
        "reason": (
            Reason.CORRECTION.value
            if corrected_labels is not None
            else Reason.REVIEW_REQUESTED.value
        ),
        "text": text,
        "model_type": model_type,
        "created_at": _ts(created_at),
        "observed_at": _ts(observed_at),
        "submitter": dict(submitter),
        "origin": dict(origin),
    }
    if mode is not None:
        record["mode"] = mode
    if corrected_labels is not None:
        record["corrected_labels"] = corrected_labels
    record["id"] = record_id(record)
    return record
