"""The project's vocabulary: one name for one idea, used by records, schemas, steps and the API.

The values are plain strings (``StrEnum``) so they serialise as themselves in JSON and compare
equal to the strings found in events, SSM values and schemas.
"""

from enum import StrEnum


class ModelType(StrEnum):
    DOCUMENT_CLASSIFIER = "DOCUMENT_CLASSIFIER"
    ENTITY_RECOGNIZER = "ENTITY_RECOGNIZER"


class Mode(StrEnum):
    MULTI_CLASS = "MULTI_CLASS"
    MULTI_LABEL = "MULTI_LABEL"


class Source(StrEnum):
    IMPLICIT = "implicit"
    EXPLICIT_API = "explicit-api"
    EXPLICIT_BATCH = "explicit-batch"


class Reason(StrEnum):
    # implicit: the classify path routed the prediction to review (see thresholds.py)
    BELOW_THRESHOLD = "below_threshold"
    NEAR_THRESHOLD = "near_threshold"
    # explicit-api: the user's reaction to a prediction they saw
    LIKE = "like"
    DISLIKE = "dislike"
    # explicit-batch: a line with corrected labels, or a bare text sent for human review
    CORRECTION = "correction"
    REVIEW_REQUESTED = "review_requested"


class Trigger(StrEnum):
    """What started an iteration (the audit record says it): the EventBridge schedule, the
    iterations API, or someone calling StartExecution directly (console, CLI)."""

    SCHEDULE = "schedule"
    API = "api"
    MANUAL = "manual"


class LocalModelKind(StrEnum):
    """Which document classifier the local back-end trains (the ``local_model`` setting)."""

    TFIDF = "tfidf"
    TFIDF_EMBEDDINGS = "tfidf+embeddings"


class Backend(StrEnum):
    LOCAL = "local"
    COMPREHEND = "comprehend"


# Comprehend's multi-label CSV joins labels with "|" (its default LabelDelimiter).
LABEL_DELIMITER = "|"

# Amazon Comprehend real-time custom analysis (ClassifyDocument and DetectEntities against an
# endpoint) accepts plain-text documents of at most 10 KB of UTF-8; the page also says "no more
# than 10,000 characters". 10,000 bytes satisfies both readings. Source, checked 2026-11:
# https://docs.aws.amazon.com/comprehend/latest/dg/idp-inputs-sync.html ("Maximum document sizes").
# The local back-end uses the same limit so switching back-ends never changes the API's answers.
COMPREHEND_REALTIME_MAX_TEXT_BYTES = 10_000
DEFAULT_MAX_TEXT_BYTES = COMPREHEND_REALTIME_MAX_TEXT_BYTES

DEFAULT_THRESHOLD = 0.5
# An entity recogniser's scores are per span and mostly high (a sequence model is sure of most
# tokens it tags): below 0.9 a span is doubtful enough for a person to look at. Per type, and
# per deployment (THRESHOLD_OVERRIDE), it can be set otherwise.
DEFAULT_ENTITY_THRESHOLD = 0.9
DEFAULT_UNCERTAINTY_BAND = 0.1
