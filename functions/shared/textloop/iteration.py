"""One active-learning iteration: its input, its configuration and the rules shared by its steps.

The iteration state machine (``statemachines/iteration.asl.json``) passes ``$.iteration`` to
every step: ``{iteration_id, execution_arn, started_at, model_type, mode, config, lock,
new_items}``. ``config`` is ``ITERATION_DEFAULTS`` (the deployment's environment) overlaid with
the execution input's ``config``; nothing else decides a setting, so the audit record's copy of
it is the whole truth.

Errors a step raises on purpose carry the name Step Functions shows (``Textloop.<Name>``). The
Lambda runtime reports ``type(exc).__name__`` as the ``errorType`` and Step Functions uses that
as the error name, so the classes are renamed to the dotted names after definition.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from textloop.annotations import PoolVersion, text_key
from textloop.names import AUDIT_PREFIX, DATASETS_PREFIX, MODELS_PREFIX, Mode, ModelType
from textloop.validation import InvalidInput, validator

ITERATION_INPUT = "iteration-input.v1"

DEFAULTS: dict[str, Any] = {
    "min_new_items": 10,
    "review_budget": 50,
    "review_batch_size": 10,
    "random_share": 0.2,
    # Labels (seed data and pool) after which the random share halves: exploration matters
    # while the model knows little (bench: reports/selection-study.md).
    "random_share_half_life": 250,
    "selection_strategy": "margin",
    "near_duplicate_similarity": 0.9,
    "review_timeout_seconds": 86_400,
    "approval_timeout_seconds": 86_400,
    "training_poll_seconds": 300,
    "training_max_polls": 72,
    # Comprehend batch classification jobs over the test set (candidate and active model).
    "test_predictions_poll_seconds": 120,
    "test_predictions_max_polls": 90,
    "promotion_metric": None,
    "promotion_min_improvement": 0.0,
    "per_label_tolerance": 0.02,
    "promotion_min_absolute": 0.5,
    "manual_approval": False,
    "test_share": 0.2,
    "min_docs_per_label": None,
    "model_backend": "local",
    "classifier_mode": "MULTI_CLASS",
}
DEFAULT_MODEL_TYPE = ModelType.DOCUMENT_CLASSIFIER.value
# A lock outlives the longest legitimate iteration; a crashed one frees it after this margin.
LOCK_MARGIN_SECONDS = 3_600
_VERSION_SAFE = re.compile(r"[^a-z0-9]+")


class TextloopError(Exception):
    """Base of the errors the iteration's steps raise on purpose."""


def _named(name: str):
    def rename(cls: type) -> type:
        cls.__name__ = name
        cls.__qualname__ = name
        return cls

    return rename


@_named("Textloop.InvalidIterationInput")
class InvalidIterationInput(TextloopError):
    """The execution input or the deployment's ITERATION_DEFAULTS break the input schema."""


@_named("Textloop.DatasetInvalid")
class DatasetInvalid(TextloopError):
    """The data set breaks a Comprehend rule; the message and the stored report list every one."""


@_named("Textloop.EvaluationUnsupported")
class EvaluationUnsupported(TextloopError):
    """The candidate comes from a training back-end whose predictions cannot be obtained."""


@_named("Textloop.ReviewInputTooLarge")
class ReviewInputTooLarge(TextloopError):
    """A review batch does not fit A2I's InputContent limit."""


@_named("Textloop.TrainingSetupFailed")
class TrainingSetupFailed(TextloopError):
    """The training job could not be started (for example a missing role or data set)."""


@dataclass(frozen=True)
class IterationInput:
    model_type: str
    config: dict[str, Any]

    @property
    def mode(self) -> str | None:
        if self.model_type == ModelType.ENTITY_RECOGNIZER:
            return None
        return Mode(self.config["classifier_mode"]).value


def parse_defaults(raw: str | None) -> dict[str, Any]:
    """``DEFAULTS`` overlaid with ``ITERATION_DEFAULTS`` (JSON), checked against the schema."""
    overrides: Any = json.loads(raw) if raw else {}
    errors = validator(ITERATION_INPUT).errors({"config": overrides})
    if errors:
        raise InvalidIterationInput(
            "ITERATION_DEFAULTS is invalid: " + "; ".join(f"{e.field}: {e.message}" for e in errors)
        )
    return {**DEFAULTS, **overrides}


def parse_input(data: Any, defaults: Mapping[str, Any]) -> IterationInput:
    """The execution input, validated (unknown keys are named) and merged over ``defaults``."""
    if data is None:
        data = {}
    errors = validator(ITERATION_INPUT).errors(data)
    if errors:
        raise InvalidIterationInput(
            "invalid iteration input: " + "; ".join(f"{e.field}: {e.message}" for e in errors)
        )
    config = {**DEFAULTS, **defaults, **(data.get("config") or {})}
    return IterationInput(model_type=data.get("model_type", DEFAULT_MODEL_TYPE), config=config)


def validate_input(data: Any) -> list[Any]:
    """Field errors of an input (for the HTTP API, which answers 400 with them)."""
    return validator(ITERATION_INPUT).errors({} if data is None else data)


def lock_ttl_seconds(config: Mapping[str, Any]) -> int:
    """How long a lock stays valid: the longest an iteration can legitimately wait, plus a margin.

    Every wait in the state machine is bounded by the configuration, so an iteration still
    holding the lock past this time has crashed or been stopped by hand.
    """
    return int(
        config["review_timeout_seconds"]
        + config["approval_timeout_seconds"]
        + config["training_poll_seconds"] * config["training_max_polls"]
        + config["test_predictions_poll_seconds"] * config["test_predictions_max_polls"]
        + LOCK_MARGIN_SECONDS
    )


def model_version_for(iteration_id: str, dataset_version: str) -> str:
    """The candidate's version: a function of the iteration and its data, so a retried training
    step names the same version, and valid as a Comprehend VersionName and an S3 path part."""
    slug = _VERSION_SAFE.sub("-", iteration_id.lower()).strip("-")[:36].rstrip("-") or "it"
    digest = hashlib.sha256(f"{iteration_id}\n{dataset_version}".encode()).hexdigest()[:10]
    return f"{slug}-{digest}"


# --------------------------------------------------------------------------- keys


def seed_key(model_type: str) -> str:
    """The original training data of a model type (Comprehend CSV), imported by the CLI."""
    return f"{DATASETS_PREFIX}seed/{ModelType(model_type).value}/train.csv"


def split_state_key(model_type: str) -> str:
    """The frozen test set and the training keys, carried from one build to the next."""
    return f"{DATASETS_PREFIX}split-state/{ModelType(model_type).value}.json"


def dataset_key(dataset_version: str, name: str) -> str:
    return f"{DATASETS_PREFIX}{dataset_version}/{name}"


def evaluation_key(model_version: str) -> str:
    return f"{MODELS_PREFIX}{model_version}/evaluation.json"


def iteration_artefact_key(iteration_id: str, name: str) -> str:
    """Documents of one iteration beside its audit record (the active model's evaluation on
    this iteration's test set, the gate's decision)."""
    return f"{AUDIT_PREFIX}iterations/{iteration_id}/{name}"


# --------------------------------------------------------------------------- new feedback


def settled(pool: PoolVersion | None) -> tuple[set[str], set[str]]:
    """``(item ids, text keys)`` the pool already answers."""
    if pool is None:
        return set(), set()
    ids = {item for annotation in pool.annotations for item in annotation.item_ids}
    return ids, {annotation.key for annotation in pool.annotations}


def unsettled_records(
    records: Iterable[Mapping[str, Any]], model_type: str, pool: PoolVersion | None
) -> list[Mapping[str, Any]]:
    """Feedback records of ``model_type`` no person has answered yet.

    An item is settled once one of its answers is in the pool (a review answer or an explicit
    correction, both stored under the feedback record's id). A candidate whose text the pool
    already labels is settled too. An explicit correction of a text already in the pool is NOT
    settled: it is one more vote. Items of a review that timed out never reached the pool, so
    they come back.
    """
    ids, keys = settled(pool)
    out = []
    for record in records:
        if record.get("model_type", DEFAULT_MODEL_TYPE) != model_type:
            continue
        if record.get("id") in ids:
            continue
        text = record.get("text")
        is_correction = record.get("corrected_labels") is not None
        if not is_correction and isinstance(text, str) and text_key(text, model_type) in keys:
            continue
        out.append(record)
    return out


def new_items_summary(count: int, minimum: int) -> dict[str, Any]:
    """Whether an iteration has enough new feedback to go on. ``minimum`` 0 is the bootstrap
    iteration: it trains (and may promote) the first model from the seed data alone."""
    enough = count >= minimum
    if minimum == 0 and count == 0:
        reason = "bootstrap: no new feedback; training from the seed data and the pool"
    elif enough:
        reason = f"{count} new feedback item(s); the minimum is {minimum}"
    else:
        reason = f"only {count} new feedback item(s); at least {minimum} are needed"
    return {"count": count, "minimum": minimum, "enough": enough, "reason": reason}


def format_invalid(errors: Iterable[Any]) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in errors)


__all__ = [
    "DEFAULTS",
    "DatasetInvalid",
    "EvaluationUnsupported",
    "InvalidInput",
    "InvalidIterationInput",
    "IterationInput",
    "ReviewInputTooLarge",
    "TextloopError",
    "TrainingSetupFailed",
    "lock_ttl_seconds",
    "model_version_for",
    "new_items_summary",
    "parse_defaults",
    "parse_input",
    "unsettled_records",
]
