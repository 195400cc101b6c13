"""Feedback records: the one shape every piece of feedback takes, from intake to the pool.

Every writer goes through the builders here, so every record matches
``schemas/feedback-record.v1.json`` (see its description for the field list and the id rule):

* ``build_implicit_record``      classify path, prediction routed to review (source implicit)
* ``parse_feedback_request`` + ``build_explicit_api_record``    POST /feedback (explicit-api)
* ``build_batch_record``         one item of an uploaded batch feedback file (explicit-batch)

A record is a ``FeedbackRecord``: typed fields, and ``to_dict``/``to_json`` for exactly the JSON
that is stored. It travels as one through the loop: written to the lake, read back by Prepare,
re-scored by Select (``with_prediction``), chosen for review, and, for an explicit correction
from a trusted application (``trusted``, set from the verified caller when the record is built),
turned into the pool's ``Answer``; an untrusted correction is reviewed like any other record.
Records reach the lake in files of many (``feedback_file``: lines sorted by id, named by the
digest of their bytes), so a batch written twice is one object, written with
``If-None-Match: *``; a record that lands in two files is one record to every reader (by id).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from textloop.domain.hashing import canonical_json, canonical_json_plain
from textloop.domain.names import (
    DEFAULT_MAX_TEXT_BYTES,
    Mode,
    ModelType,
    Reason,
    Source,
)
from textloop.domain.predictions import EntitySpan, LabelScore, Prediction
from textloop.domain.thresholds import RoutingDecision, Thresholds
from textloop.domain.timestamps import format_timestamp, parse_timestamp
from textloop.domain.validation import (
    FEEDBACK_RECORD,
    FEEDBACK_REQUEST,
    FieldError,
    InvalidInput,
    check_string,
    check_text,
    parse_json_object,
    request_errors,
    validator,
)

SCHEMA_VERSION = 1
ID_VERSION = 1
# Clients' clocks drift; beyond this, an observed_at "in the future" is a bug, not drift.
MAX_CLOCK_SKEW = timedelta(minutes=10)


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True, slots=True)
class RecordedPrediction:
    """A record's ``prediction``: what the model said, and whether it was routed to review.

    ``labels`` for document classifiers (by descending score), ``entities`` for entity
    recognisers (by offset); the other is None.
    """

    routed_to_review: bool
    labels: tuple[LabelScore, ...] | None = None
    entities: tuple[EntitySpan, ...] | None = None

    @classmethod
    def of(cls, prediction: Prediction, *, routed_to_review: bool) -> RecordedPrediction:
        if prediction.model_type == ModelType.ENTITY_RECOGNIZER:
            return cls(routed_to_review, entities=prediction.entities)
        return cls(routed_to_review, labels=prediction.labels)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordedPrediction:
        labels = data.get("labels")
        entities = data.get("entities")
        return cls(
            routed_to_review=bool(data["routed_to_review"]),
            labels=None
            if labels is None
            else tuple(LabelScore(ls["label"], ls["score"]) for ls in labels),
            entities=None if entities is None else tuple(EntitySpan.from_dict(e) for e in entities),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"routed_to_review": self.routed_to_review}
        if self.labels is not None:
            out["labels"] = [ls.to_dict() for ls in self.labels]
        if self.entities is not None:
            out["entities"] = [e.to_dict() for e in self.entities]
        return out

    def scores(self) -> dict[str, float]:
        """``{label: score}`` of a document classifier's prediction."""
        return {ls.label: float(ls.score) for ls in self.labels or ()}


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """One piece of feedback (see ``schemas/feedback-record.v1.json`` for every field).

    ``corrected_labels`` holds label names (document classifiers) or spans (entity recognisers);
    None means the record corrects nothing, an empty tuple that no label (or entity) applies.
    ``thresholds``, ``submitter`` and ``origin`` are the stored JSON objects.
    """

    id: str
    source: str
    reason: str
    text: str
    model_type: str
    created_at: str
    observed_at: str
    mode: str | None = None
    model_version: str | None = None
    prediction: RecordedPrediction | None = None
    thresholds: Mapping[str, Any] | None = None
    corrected_labels: tuple[str, ...] | tuple[EntitySpan, ...] | None = None
    submitter: Mapping[str, str] | None = None
    origin: Mapping[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION
    # Whether the submitting application was trusted when the record was written (the schema's
    # ``trusted``); None for implicit records and records from before trust existed.
    trusted: bool | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeedbackRecord:
        """The record of a stored (or just built) JSON object. Not validated: use
        ``validate_record`` first for anything that did not come from a builder."""
        prediction = data.get("prediction")
        corrected = data.get("corrected_labels")
        if corrected is not None:
            if data["model_type"] == ModelType.ENTITY_RECOGNIZER:
                corrected = tuple(EntitySpan.from_dict(s) for s in corrected)
            else:
                corrected = tuple(corrected)
        return cls(
            id=data["id"],
            source=data["source"],
            reason=data["reason"],
            text=data["text"],
            model_type=data["model_type"],
            created_at=data["created_at"],
            observed_at=data["observed_at"],
            mode=data.get("mode"),
            model_version=data.get("model_version"),
            prediction=None if prediction is None else RecordedPrediction.from_dict(prediction),
            thresholds=data.get("thresholds"),
            corrected_labels=corrected,
            submitter=data.get("submitter"),
            origin=data.get("origin"),
            schema_version=data.get("schema_version", SCHEMA_VERSION),
            trusted=data.get("trusted"),
        )

    @classmethod
    def from_json(cls, line: str | bytes) -> FeedbackRecord:
        return cls.from_dict(json.loads(line))

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON object (absent fields are left out, as the schema wants)."""
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "id": self.id,
            "source": self.source,
            "reason": self.reason,
            "text": self.text,
            "model_type": self.model_type,
            "created_at": self.created_at,
            "observed_at": self.observed_at,
        }
        if self.mode is not None:
            out["mode"] = self.mode
        if self.model_version is not None:
            out["model_version"] = self.model_version
        if self.prediction is not None:
            out["prediction"] = self.prediction.to_dict()
        if self.thresholds is not None:
            out["thresholds"] = dict(self.thresholds)
        if self.corrected_labels is not None:
            out["corrected_labels"] = [
                c.to_dict() if isinstance(c, EntitySpan) else c for c in self.corrected_labels
            ]
        if self.submitter is not None:
            out["submitter"] = dict(self.submitter)
        if self.origin is not None:
            out["origin"] = dict(self.origin)
        if self.trusted is not None:
            out["trusted"] = self.trusted
        return out

    def to_json(self) -> bytes:
        """The stored bytes: one canonical JSON line (so objects concatenate as JSON Lines and
        the same record always serialises to the same bytes)."""
        return canonical_json(self.to_dict()) + b"\n"

    @property
    def is_correction(self) -> bool:
        """The submitter states the labels (also "no label applies")."""
        return self.corrected_labels is not None

    @property
    def skips_review(self) -> bool:
        """A correction from a trusted application: its answer goes straight into the pool.
        An untrusted correction (the default) is a review candidate like any other record."""
        return self.is_correction and self.trusted is True

    @property
    def submitted_by(self) -> str:
        """Who made the statement: the user, else the application, else "anonymous"."""
        submitter = self.submitter or {}
        return submitter.get("user_id") or submitter.get("application_id") or "anonymous"

    def with_prediction(self, prediction: Prediction) -> FeedbackRecord:
        """The record as the model ``prediction`` sees it now (Select re-scores candidates with
        the active model); the id stays, it names the piece of feedback, not the score."""
        return replace(
            self,
            prediction=RecordedPrediction.of(prediction, routed_to_review=True),
            model_version=prediction.model_version,
            mode=prediction.mode,
        )


# The fields ``FeedbackRecord.from_dict`` needs: a stored line without one is not a record.
_STORED_FIELDS = ("id", "source", "reason", "text", "model_type", "created_at", "observed_at")


def stored_row(line: bytes | str) -> dict[str, Any]:
    """One stored JSON line as its dict, without building a ``FeedbackRecord``: the iteration's
    steps look at a few fields of every new record (id, model type, text, stored scores) and
    build records only for the few they keep. orjson parses a line about 5x faster than the
    stdlib; what it refuses and ``json`` accepts (lone surrogates, NaN) goes through ``json``,
    so a line reads as it did before. A line that is not a record raises ValueError."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in _STORED_FIELDS if name not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    return data


def stored_is_correction(data: Mapping[str, Any]) -> bool:
    """``FeedbackRecord.is_correction`` of a stored dict."""
    return data.get("corrected_labels") is not None


def stored_skips_review(data: Mapping[str, Any]) -> bool:
    """``FeedbackRecord.skips_review`` of a stored dict."""
    return data.get("corrected_labels") is not None and data.get("trusted") is True


def record_id(record: Mapping[str, Any] | FeedbackRecord) -> str:
    """The stable content hash described in the schema's ``id`` field."""
    if isinstance(record, FeedbackRecord):
        record = record.to_dict()
    return hashlib.sha256(canonical_json(_id_basis(record))).hexdigest()


def _id_basis(record: Mapping[str, Any]) -> dict[str, Any]:
    """What ``record_id`` hashes: the fields that make two records the same feedback."""
    submitter = record.get("submitter")
    return {
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


# --------------------------------------------------------------------------- validation


def validate_record(
    record: Any, *, max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
) -> list[FieldError]:
    """Schema errors, then the checks a schema cannot express (UTF-8, size, spans, id)."""
    if isinstance(record, FeedbackRecord):
        record = record.to_dict()
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
        # The schema's type pattern lets a zero-width or control character through: two types
        # that print alike would become two entity types.
        errors += check_string(span["type"], f"{field}[{i}].type")
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


def _check_or_raise(record: dict[str, Any], max_text_bytes: int) -> FeedbackRecord:
    errors = validate_record(record, max_text_bytes=max_text_bytes)
    if errors:
        raise InvalidInput(errors)
    return FeedbackRecord.from_dict(record)


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
    application_id: str | None = None,
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
) -> FeedbackRecord:
    """The record the classify path writes when ``thresholds.route`` sent the prediction to
    review. ``application_id``: the client application whose request it was (origin only: an
    implicit record has no submitter, and the same text routed for two applications is one
    review item)."""
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
        "created_at": format_timestamp(created_at or observed_at),
        "observed_at": format_timestamp(observed_at),
    }
    if prediction.mode is not None:
        record["mode"] = prediction.mode
    origin = {"request_id": request_id} if request_id else {}
    if application_id:
        origin["application_id"] = application_id
    if origin:
        record["origin"] = origin
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

    ``application_id``, when the handler knows it from the caller's identity (the API key), is
    the submitter's application: a body that names another one is refused
    (``submitter.application_id``), one that names none gets it. Answer
    ``validation.http_status(errors)`` (413 for a too long text, else 400) with
    ``validation.error_body(errors)``.
    """
    data, errors = parse_json_object(body)
    if data is None:
        return None, errors
    if application_id is not None:
        submitter = data.get("submitter")
        claimed = submitter.get("application_id") if isinstance(submitter, dict) else None
        if claimed is not None and claimed != application_id:
            return None, [
                FieldError(
                    "submitter.application_id",
                    "must be the application of the API key the request was sent with, or left out",
                )
            ]
        data["submitter"] = {
            **(submitter if isinstance(submitter, dict) else {}),
            "application_id": application_id,
        }
    errors = request_errors(FEEDBACK_REQUEST, data, max_text_bytes=max_text_bytes)
    if errors:
        return None, errors
    data.setdefault("model_type", ModelType.DOCUMENT_CLASSIFIER.value)
    text = data["text"]
    # The identity pattern lets a zero-width space through as a name; nobody can be that.
    for name, value in data["submitter"].items():
        errors += check_string(value, f"submitter.{name}")
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
    trusted: bool = False,
) -> FeedbackRecord:
    """The record for a request returned by ``parse_feedback_request``.

    observed_at is the client's (when sent, which keeps a retried request's key stable across
    midnight), else ``now``. ``thresholds``: the ones in force, recorded for context.
    ``trusted``: the calling application's trust (``applications.Application.trusted``).
    """
    observed_at = (
        format_timestamp(request["observed_at"])
        if "observed_at" in request
        else format_timestamp(now)
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
        "created_at": format_timestamp(now),
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
    record["trusted"] = bool(trusted)
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
    trusted: bool = False,
) -> FeedbackRecord:
    """The record for one checked item of a batch file (feedback_files.py checks before calling).
    ``trusted``: the uploading application's trust.

    Not re-validated here: the batch path is hot (a million lines) and its inputs are checked
    field by field first; the unit tests validate its output against the schema.
    """
    upload = BatchRecords(
        model_type=model_type,
        mode=mode,
        observed_at=observed_at,
        created_at=created_at,
        trusted=trusted,
    )
    record = upload.record_dict(text, corrected_labels, dict(submitter), dict(origin))
    record["id"] = record_id(record)
    return FeedbackRecord.from_dict(record)


class BatchRecords:
    """The records of one upload: what they share is set once, ``line`` makes each one's stored
    JSON line (``build_batch_record(...).to_json()``, the same bytes) without the
    ``FeedbackRecord`` round trip: the batch path's hot loop, a million lines an upload."""

    def __init__(
        self,
        *,
        model_type: str,
        mode: str | None,
        observed_at: datetime | str,
        created_at: datetime | str,
        trusted: bool = False,
    ):
        common: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "source": Source.EXPLICIT_BATCH.value,
            "model_type": model_type,
            # The batch path formats its per-file timestamps once and passes strings.
            "created_at": (
                created_at if isinstance(created_at, str) else format_timestamp(created_at)
            ),
            "observed_at": (
                observed_at if isinstance(observed_at, str) else format_timestamp(observed_at)
            ),
            "trusted": bool(trusted),
        }
        if mode is not None:
            common["mode"] = mode
        self._common = common
        # A document classifier's record (and its id basis) holds only strings, integers and
        # booleans, which canonical_json_plain writes as canonical_json does. An entity
        # recogniser's spans go through FeedbackRecord as before (it makes offsets integers).
        self._plain = model_type == ModelType.DOCUMENT_CLASSIFIER

    def record_dict(
        self,
        text: str,
        corrected_labels: list[Any] | None,
        submitter: dict[str, str],
        origin: dict[str, Any],
    ) -> dict[str, Any]:
        """The record's JSON object without its id; ``submitter`` and ``origin`` are kept."""
        record = self._common.copy()
        record["text"] = text
        record["submitter"] = submitter
        record["origin"] = origin
        if corrected_labels is None:
            record["reason"] = Reason.REVIEW_REQUESTED.value
        else:
            record["reason"] = Reason.CORRECTION.value
            record["corrected_labels"] = corrected_labels
        return record

    def line(
        self,
        text: str,
        corrected_labels: list[Any] | None,
        submitter: dict[str, str],
        origin: dict[str, Any],
    ) -> bytes:
        """The stored line of the record of one checked item."""
        record = self.record_dict(text, corrected_labels, submitter, origin)
        if not self._plain:
            record["id"] = record_id(record)
            return FeedbackRecord.from_dict(record).to_json()
        record["id"] = hashlib.sha256(canonical_json_plain(_id_basis(record))).hexdigest()
        return canonical_json_plain(record) + b"\n"


# --------------------------------------------------------------------------- files of records


def feedback_file(records: Iterable[FeedbackRecord]) -> tuple[str, bytes]:
    """``(name, body)`` of one file of the buffered lake: JSON Lines, each record once, sorted by
    id, and the name the first 32 hex digits of the body's SHA-256. The same records in any
    order (a re-delivered batch) give the same name and bytes."""
    by_id: dict[str, FeedbackRecord] = {}
    for record in records:
        by_id.setdefault(record.id, record)
    if not by_id:
        raise ValueError("a feedback file holds at least one record")
    body = b"".join(by_id[record_id].to_json() for record_id in sorted(by_id))
    return hashlib.sha256(body).hexdigest()[:32], body
