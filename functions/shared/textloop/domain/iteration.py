"""One active-learning iteration: its settings, parsed and defaulted once, and the rules its steps
share.

The iteration state machine passes ``$.iteration`` to every step: an ``Iteration`` as JSON
(``{iteration_id, execution_arn, started_at, model_type, mode, config, lock, new_items,
trigger, started_by, intake}``; ``intake``: what Prepare read of the lake, ``domain.intake``).

``config`` is an ``IterationConfig``. ``schemas/iteration-input.v1.json`` is the source of truth
for the settings' names, types and ranges (a unit test keeps the fields below equal to its
properties); the defaults are the fields' defaults. Prepare builds it once, in one merge:
defaults, then the deployment's ``ITERATION_DEFAULTS`` (its common settings, then its section for
the iteration's model type), then the execution input's ``config``.
Nothing else decides a setting, so the audit record's copy of it is the whole truth. Steps read
the view they need: ``Iteration.selection``, ``.gate``, ``.datasets``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from textloop.domain.annotations import PoolVersion
from textloop.domain.datasets.build import BuildConfig
from textloop.domain.datasets.rules import ValidationRules
from textloop.domain.errors import InvalidIterationInput
from textloop.domain.feedback import FeedbackRecord, stored_skips_review
from textloop.domain.hashing import text_key
from textloop.domain.names import LocalModelKind, Mode, ModelType, Trigger
from textloop.domain.promotion import GateConfig
from textloop.domain.selection import SelectionConfig
from textloop.domain.timestamps import format_timestamp
from textloop.domain.validation import FieldError, load_schema, validator

ITERATION_INPUT = "iteration-input.v1"
DEFAULT_MODEL_TYPE = ModelType.DOCUMENT_CLASSIFIER.value
# A lock outlives the longest legitimate iteration; a crashed one frees it after this margin.
LOCK_MARGIN_SECONDS = 3_600
_VERSION_SAFE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, kw_only=True)
class IterationConfig:
    """Every setting of one iteration (see ``schemas/iteration-input.v1.json`` for each)."""

    min_new_items: int = 10
    review_budget: int = 50
    review_batch_size: int = 10
    random_share: float = 0.2
    # Labels (seed data and pool) after which the random share halves: exploration matters
    # while the model knows little (bench: reports/selection-study.md). None: constant share.
    random_share_half_life: float | None = 250
    selection_strategy: str = "margin"
    near_duplicate_similarity: float | None = 0.9
    review_timeout_seconds: int = 86_400
    approval_timeout_seconds: int = 86_400
    training_poll_seconds: int = 300
    training_max_polls: int = 72
    # Comprehend batch classification jobs over the test set (candidate and active model).
    test_predictions_poll_seconds: int = 120
    test_predictions_max_polls: int = 90
    promotion_metric: str | None = None
    promotion_min_improvement: float = 0.0
    per_label_tolerance: float = 0.02
    promotion_min_absolute: float = 0.5
    manual_approval: bool = False
    test_share: float = 0.2
    min_docs_per_label: int | None = None
    model_backend: str = "local"
    classifier_mode: str = "MULTI_CLASS"
    # model_backend=comprehend: a new version per iteration ("versions") or an iteration of the
    # model type's Comprehend flywheel ("flywheel", adapters.comprehend_flywheel).
    comprehend_training: str = "versions"
    # model_backend=local, document classifiers: "tfidf" (word TF-IDF + logistic regression)
    # or "tfidf+embeddings" (word + char TF-IDF and sentence embeddings; domain/local_model.py).
    # Entity recognisers have one local model; an input asking them for another is refused.
    local_model: str = LocalModelKind.TFIDF.value
    # Incremental iterations (domain/intake.py): the lateness a feedback file may land with, the
    # bounded carry-over of unanswered candidates and its expiry, and how many pre-ranked
    # candidates the active model re-scores (rescore_factor x review_budget).
    intake_lateness_hours: int = 3
    carry_over_limit: int = 500
    carry_over_max_age_days: int = 7
    rescore_factor: int = 5

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def overridden(self, settings: Mapping[str, Any] | None, *, source: str) -> IterationConfig:
        """A copy with ``settings`` (checked against the schema first) applied; ``source`` names
        where they came from in the error."""
        settings = {} if settings is None else settings
        errors = validator(ITERATION_INPUT).errors({"config": settings})
        if errors:
            raise InvalidIterationInput(f"{source} is invalid: {describe(errors)}")
        return dataclasses.replace(self, **settings)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IterationConfig:
        """The complete configuration the state machine carries (``to_dict`` of one).

        A setting added after an execution started is missing from that execution's config;
        ``random_share_half_life`` then means a constant share, as it did before it existed;
        ``comprehend_training`` means versions, ``local_model`` tfidf; the incremental
        settings take their defaults.
        """
        known = set(cls.names())
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown iteration settings: {sorted(unknown)}")
        values = dict(data)
        values.setdefault("random_share_half_life", None)
        values.setdefault("comprehend_training", "versions")
        values.setdefault("local_model", LocalModelKind.TFIDF.value)
        for name in _INCREMENTAL_SETTINGS:
            values.setdefault(name, getattr(cls, name))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def gate(self) -> GateConfig:
        return GateConfig(
            metric=self.promotion_metric,
            min_improvement=self.promotion_min_improvement,
            per_label_tolerance=self.per_label_tolerance,
            min_absolute=self.promotion_min_absolute,
        )

    @property
    def lock_ttl_seconds(self) -> int:
        """How long a lock stays valid: the longest an iteration can legitimately wait, plus a
        margin. Every wait in the state machine is bounded by these settings, so an iteration
        still holding the lock past this time has crashed or been stopped by hand."""
        return int(
            self.review_timeout_seconds
            + self.approval_timeout_seconds
            + self.training_poll_seconds * self.training_max_polls
            + self.test_predictions_poll_seconds * self.test_predictions_max_polls
            + LOCK_MARGIN_SECONDS
        )


DEFAULTS: dict[str, Any] = IterationConfig().to_dict()
_INCREMENTAL_SETTINGS = (
    "intake_lateness_hours",
    "carry_over_limit",
    "carry_over_max_age_days",
    "rescore_factor",
)


@cache
def _integer_settings() -> frozenset[str]:
    """The settings the input schema types as integers (directly, by $ref or in a oneOf)."""
    definitions = load_schema(ITERATION_INPUT)["$defs"]

    def integral(spec: Mapping[str, Any]) -> bool:
        if "$ref" in spec:
            spec = definitions[spec["$ref"].rsplit("/", 1)[-1]]
        return spec.get("type") == "integer" or any(integral(s) for s in spec.get("oneOf", ()))

    return frozenset(n for n, spec in definitions["config"]["properties"].items() if integral(spec))


def describe(errors: Iterable[FieldError]) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in errors)


@dataclass(frozen=True)
class DeploymentDefaults:
    """The deployment's settings per model type: ``common`` for every type, then each type's
    own section over it (``ITERATION_DEFAULTS``: ``{"review_budget": 50, "ENTITY_RECOGNIZER":
    {"review_budget": 30}}``), so a classifier and a recogniser of one stack can differ."""

    common: IterationConfig
    by_model_type: Mapping[str, IterationConfig] = dataclasses.field(default_factory=dict)

    def for_model_type(self, model_type: str) -> IterationConfig:
        return self.by_model_type.get(model_type, self.common)


def deployment_config(raw: str | None) -> DeploymentDefaults:
    """The deployment's defaults: ``IterationConfig``'s, overlaid with ``ITERATION_DEFAULTS``
    (a JSON object of settings, from the environment; a key named after a model type holds
    settings that win for that type only)."""
    try:
        settings: Any = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise InvalidIterationInput(f"ITERATION_DEFAULTS is not JSON: {exc}") from None
    if not isinstance(settings, dict):
        raise InvalidIterationInput("ITERATION_DEFAULTS is invalid: must be a JSON object")
    sections = {k: settings.pop(k) for k in list(settings) if k in ModelType.__members__}
    common = IterationConfig().overridden(settings, source="ITERATION_DEFAULTS")
    by_model_type = {}
    for model_type, section in sections.items():
        if not isinstance(section, dict):
            raise InvalidIterationInput(
                f"ITERATION_DEFAULTS is invalid: {model_type}: must be a JSON object"
            )
        by_model_type[model_type] = common.overridden(
            section, source=f"ITERATION_DEFAULTS.{model_type}"
        )
    return DeploymentDefaults(common, by_model_type)


def _for_model_type(
    deployment: IterationConfig | DeploymentDefaults, model_type: str
) -> IterationConfig:
    if isinstance(deployment, DeploymentDefaults):
        return deployment.for_model_type(model_type)
    return deployment


@dataclass(frozen=True)
class IterationInput:
    """The input of one execution (or the body of POST /iterations), checked and defaulted."""

    model_type: str
    config: IterationConfig
    # What started the iteration (``names.Trigger``); absent from the input: by hand. None
    # only in the record of an input too broken to say.
    trigger: str | None = Trigger.MANUAL.value
    # The operator whose token started it (the iterations API); None for the schedule or by hand.
    started_by: str | None = None

    @property
    def mode(self) -> str | None:
        if self.model_type == ModelType.ENTITY_RECOGNIZER:
            return None
        return Mode(self.config.classifier_mode).value

    @staticmethod
    def errors(data: Any) -> list[FieldError]:
        """Field errors of an input (the HTTP API answers 400 with them)."""
        data = {} if data is None else data
        errors = validator(ITERATION_INPUT).errors(data)
        config = data.get("config") if isinstance(data, dict) else None
        if isinstance(config, dict):
            # JSON Schema counts 5.0 as an integer; SelectionConfig refuses a budget of 5.0 in a
            # step, after the API answered 202.
            named = {e.field for e in errors}
            errors += [
                FieldError(f"config.{name}", "must be an integer (5, not 5.0)")
                for name in sorted(_integer_settings())
                if isinstance(config.get(name), float) and f"config.{name}" not in named
            ]
            model_type = data.get("model_type", DEFAULT_MODEL_TYPE)
            if (
                model_type == ModelType.ENTITY_RECOGNIZER
                and config.get("local_model", LocalModelKind.TFIDF) != LocalModelKind.TFIDF
                and "config.local_model" not in named
            ):
                errors.append(
                    FieldError(
                        "config.local_model",
                        "applies to DOCUMENT_CLASSIFIER only; an ENTITY_RECOGNIZER's local "
                        "model is its CRF (leave local_model out)",
                    )
                )
        return errors

    @classmethod
    def parse(cls, data: Any, deployment: IterationConfig | DeploymentDefaults) -> IterationInput:
        """The input validated (unknown keys are named) and applied over ``deployment`` (its
        settings for the input's model type)."""
        data = {} if data is None else data
        errors = cls.errors(data)
        if errors:
            raise InvalidIterationInput(f"invalid iteration input: {describe(errors)}")
        model_type = data.get("model_type", DEFAULT_MODEL_TYPE)
        return cls(
            model_type=model_type,
            config=dataclasses.replace(
                _for_model_type(deployment, model_type), **(data.get("config") or {})
            ),
            trigger=data.get("trigger", Trigger.MANUAL.value),
            started_by=data.get("started_by"),
        )


@dataclass(frozen=True)
class Iteration:
    """``$.iteration``: who the iteration is and what it runs with (Prepare's result)."""

    iteration_id: str
    execution_arn: str
    started_at: str
    model_type: str
    mode: str | None
    config: IterationConfig
    lock: Mapping[str, Any]
    new_items: Mapping[str, Any] | None = None
    # None: an execution that started before the trigger was recorded.
    trigger: str | None = None
    started_by: str | None = None
    # What Prepare read of the lake (``intake``: prefixes listed, files read, carry-over);
    # None: an execution that started before incremental intake.
    intake: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Iteration:
        return cls(
            iteration_id=data["iteration_id"],
            execution_arn=data["execution_arn"],
            started_at=data["started_at"],
            model_type=data["model_type"],
            mode=data.get("mode"),
            config=IterationConfig.from_dict(data["config"]),
            lock=data.get("lock") or {},
            new_items=data.get("new_items"),
            trigger=data.get("trigger"),
            started_by=data.get("started_by"),
            intake=data.get("intake"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "iteration_id": self.iteration_id,
            "execution_arn": self.execution_arn,
            "started_at": self.started_at,
            "model_type": self.model_type,
            "mode": self.mode,
            "config": self.config.to_dict(),
            "lock": dict(self.lock),
            "new_items": None if self.new_items is None else dict(self.new_items),
            "trigger": self.trigger,
            "started_by": self.started_by,
            "intake": None if self.intake is None else dict(self.intake),
        }

    @property
    def selection(self) -> SelectionConfig:
        """SelectForReview's settings; the iteration id seeds the random share."""
        config = self.config
        return SelectionConfig(
            budget=config.review_budget,
            random_share=config.random_share,
            random_share_half_life=config.random_share_half_life,
            seed=self.iteration_id,
            strategy=config.selection_strategy,
            near_duplicate_similarity=config.near_duplicate_similarity,
            mode=self.mode,
        )

    @property
    def gate(self) -> GateConfig:
        return self.config.gate

    @property
    def datasets(self) -> BuildConfig:
        """BuildDatasets' settings. The split is seeded by the model type, not the iteration:
        the same documents must split the same way whichever iteration first sees them."""
        return BuildConfig(
            test_share=self.config.test_share,
            seed=self.model_type,
            rules=ValidationRules(min_docs_per_label=self.config.min_docs_per_label),
        )

    def candidate_version(self, dataset_version: str) -> str:
        """The candidate's model version (``model_version_for``)."""
        return model_version_for(self.iteration_id, dataset_version)


def unprepared_iteration(
    *,
    iteration_id: str,
    execution_arn: str,
    started_at: str,
    data: Any,
    deployment: IterationConfig | DeploymentDefaults,
) -> Iteration:
    """The iteration as far as it is known when Prepare failed, for its audit record: the
    input's model type, settings and trigger when the input is valid; otherwise the default
    model type, the ``deployment`` settings and whichever trigger the input names, if a known
    one (the record keeps the input as given beside them). No lock, no new items."""
    try:
        parsed = IterationInput.parse(data, deployment)
    except InvalidIterationInput:
        raw = data if isinstance(data, Mapping) else {}
        model_type, trigger = raw.get("model_type"), raw.get("trigger")
        started_by = raw.get("started_by")
        if not (isinstance(model_type, str) and model_type in ModelType.__members__):
            model_type = DEFAULT_MODEL_TYPE
        parsed = IterationInput(
            model_type=model_type,
            config=_for_model_type(deployment, model_type),
            trigger=trigger if isinstance(trigger, str) and trigger in set(Trigger) else None,
            started_by=started_by if isinstance(started_by, str) else None,
        )
    return Iteration(
        iteration_id=iteration_id,
        execution_arn=execution_arn,
        started_at=format_timestamp(started_at),
        model_type=parsed.model_type,
        mode=parsed.mode,
        config=parsed.config,
        lock={},
        trigger=parsed.trigger,
        started_by=parsed.started_by,
    )


def model_version_for(iteration_id: str, dataset_version: str) -> str:
    """The candidate's version: a function of the iteration and its data, so a retried training
    step names the same version, and valid as a Comprehend VersionName and an S3 path part."""
    digest = hashlib.sha256(f"{iteration_id}\n{dataset_version}".encode()).hexdigest()[:10]
    return f"{candidate_version_prefix(iteration_id)}{digest}"


def candidate_version_prefix(iteration_id: str) -> str:
    """What every candidate version of ``iteration_id`` starts with, whatever its data set: how
    ``textloop resources prune`` recognises the version a running iteration is training."""
    slug = _VERSION_SAFE.sub("-", iteration_id.lower()).strip("-")[:36].rstrip("-") or "it"
    return f"{slug}-"


# --------------------------------------------------------------------------- new feedback


def settled(pool: PoolVersion | None) -> tuple[set[str], set[str]]:
    """``(item ids, text keys)`` the pool already answers."""
    if pool is None:
        return set(), set()
    ids = {item for annotation in pool.annotations for item in annotation.item_ids}
    return ids, {annotation.key for annotation in pool.annotations}


def unsettled_records(
    records: Iterable[FeedbackRecord], model_type: str, pool: PoolVersion | None
) -> list[FeedbackRecord]:
    """Feedback records of ``model_type`` no person has answered yet.

    An item is settled once one of its answers is in the pool (a review answer or an explicit
    correction, both stored under the feedback record's id). A candidate whose text the pool
    already labels is settled too, an untrusted correction included: a person's answer for the
    text is there, and an untrusted client cannot reopen it. A trusted correction of a text
    already in the pool is NOT settled: it is one more vote. Items of a review that timed out
    never reached the pool, so they come back.
    """
    ids, keys = settled(pool)
    return [
        r
        for r in records
        if _unsettled(r.id, r.model_type, r.text, r.skips_review, model_type, ids, keys)
    ]


def unsettled_rows(
    rows: Iterable[Mapping[str, Any]], model_type: str, pool: PoolVersion | None
) -> Iterator[Mapping[str, Any]]:
    """``unsettled_records`` of stored dicts (``feedback.stored_row``), lazily: the iteration's
    steps stream the new feedback rather than hold it."""
    ids, keys = settled(pool)
    for row in rows:
        skips = stored_skips_review(row)
        if _unsettled(row["id"], row["model_type"], row["text"], skips, model_type, ids, keys):
            yield row


def _unsettled(
    record_id: str,
    record_type: str,
    text: str,
    skips_review: bool,
    model_type: str,
    ids: set[str],
    keys: set[str],
) -> bool:
    if record_type != model_type or record_id in ids:
        return False
    # No pool, no text key to compute (NFKC and a SHA-256 per record add up over millions).
    return skips_review or not keys or text_key(text, model_type) not in keys


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
