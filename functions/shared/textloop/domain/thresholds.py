"""When a prediction becomes implicit feedback (routed to human review).

The rule, per model type (``t(l)`` is the threshold of label ``l``, ``b`` the band):

* MULTI_CLASS: routed iff the top score < t(top label). Reason ``below_threshold``.
* MULTI_LABEL: label ``l`` with score ``s`` is *uncertain* iff ``t(l) - b <= s < t(l) + b``;
  routed iff any label is uncertain. Reason ``near_threshold``. A label is *assigned* iff
  ``s >= t(l)``. Scores far from every threshold are confident either way (including "no label
  applies"), so they are not routed; ``b = 0`` turns implicit feedback off for multi-label.
* ENTITY_RECOGNIZER: routed iff any entity's score < t(its type). Reason ``below_threshold``.
  A text where the model found nothing is not routed (there is no score to doubt).

Thresholds come from the active model's metadata (per label), are overridden by the
active-model pointer's ``thresholds`` and then by an explicit override (e.g. an environment
variable); labels without a threshold use ``default``: 0.5 for document classifiers, 0.9 for
entity recognisers (``default_thresholds``). An override is either one set for every model type
(``{"default": 0.6}``) or one set per model type (``{"ENTITY_RECOGNIZER": {"per_label":
{"VERSION": 0.95}}}``), see ``override_for``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from textloop.domain.names import (
    DEFAULT_ENTITY_THRESHOLD,
    DEFAULT_THRESHOLD,
    DEFAULT_UNCERTAINTY_BAND,
    Mode,
    ModelType,
    Reason,
)
from textloop.domain.predictions import Prediction


@dataclass(frozen=True)
class Thresholds:
    default: float = DEFAULT_THRESHOLD
    per_label: Mapping[str, float] = field(default_factory=dict)
    band: float = DEFAULT_UNCERTAINTY_BAND

    def __post_init__(self) -> None:
        for name, value in [("default", self.default), *self.per_label.items()]:
            if not _is_score(value):
                raise ValueError(f"threshold {name!r} must be a number in [0, 1], got {value!r}")
        if not (_is_number(self.band) and 0 <= self.band <= 0.5):
            raise ValueError(f"band must be a number in [0, 0.5], got {self.band!r}")
        object.__setattr__(self, "per_label", MappingProxyType(dict(self.per_label)))

    def for_label(self, label: str) -> float:
        return self.per_label.get(label, self.default)

    def to_dict(self) -> dict[str, Any]:
        """The ``thresholds`` object of feedback records."""
        return {"default": self.default, "per_label": dict(self.per_label), "band": self.band}

    def overridden(self, override: Mapping[str, Any] | None) -> Thresholds:
        """A copy with ``override`` applied: ``default``/``band`` replace, ``per_label`` merges."""
        if not override:
            return self
        unknown = set(override) - {"default", "per_label", "band"}
        if unknown:
            raise ValueError(f"unknown threshold settings: {sorted(unknown)}")
        per_label = {**self.per_label, **(override.get("per_label") or {})}
        return Thresholds(
            default=override.get("default", self.default),
            per_label=per_label,
            band=override.get("band", self.band),
        )

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None, *, model_type: str | None = None
    ) -> Thresholds:
        """``data`` over the model type's defaults (``default_thresholds``): a model that writes
        its thresholds into its metadata writes 0.9 as an entity recogniser's default, not 0.5."""
        return default_thresholds(model_type).overridden(data)


def default_thresholds(model_type: str | None = None) -> Thresholds:
    """The thresholds before any layer: ``default`` 0.5, or 0.9 for an entity recogniser."""
    if model_type == ModelType.ENTITY_RECOGNIZER:
        return Thresholds(default=DEFAULT_ENTITY_THRESHOLD)
    return Thresholds()


def resolve_thresholds(
    *layers: Mapping[str, Any] | None, model_type: str | None = None
) -> Thresholds:
    """Apply layers in order, later winning: model metadata, pointer, explicit override; on top
    of the model type's ``default_thresholds``."""
    result = default_thresholds(model_type)
    for layer in layers:
        result = result.overridden(layer)
    return result


def override_for(override: Mapping[str, Any] | None, model_type: str) -> Mapping[str, Any] | None:
    """The part of a parsed override that applies to ``model_type``: its own section when the
    override is keyed by model type, else the whole (one set for every model type)."""
    if not override or not _per_model_type(override):
        return override or None
    return override.get(ModelType(model_type).value) or None


def parse_override(value: str | None) -> dict[str, Any] | None:
    """Parse a JSON override such as ``{"default": 0.6, "per_label": {"World": 0.7}}``, or one
    per model type: ``{"ENTITY_RECOGNIZER": {"default": 0.8}, "DOCUMENT_CLASSIFIER": {...}}``.

    Meant for an environment variable; raises ``ValueError`` so a bad setting fails the cold
    start loudly instead of silently routing nothing.
    """
    if value is None or not value.strip():
        return None
    data = json.loads(value)
    if not isinstance(data, dict):
        raise ValueError("threshold override must be a JSON object")
    if _per_model_type(data):
        unknown = set(data) - {m.value for m in ModelType}
        if unknown:
            raise ValueError(
                f"a threshold override keyed by model type cannot also hold {sorted(unknown)}"
            )
        for model_type, section in data.items():
            if not isinstance(section, dict):
                raise ValueError(f"threshold override {model_type} must be a JSON object")
            default_thresholds(model_type).overridden(section)  # validates
        return data
    Thresholds().overridden(data)  # validates
    return data


def _per_model_type(override: Mapping[str, Any]) -> bool:
    return any(key in {m.value for m in ModelType} for key in override)


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    routed: bool
    reason: str | None
    # The labels (entity types for recognisers) that made the prediction doubtful.
    uncertain: tuple[str, ...]
    # What the model answers under these thresholds: MULTI_CLASS the top label (even when
    # routed), MULTI_LABEL every label with score >= its threshold, entities their types.
    predicted_labels: tuple[str, ...]


def route(prediction: Prediction, thresholds: Thresholds) -> RoutingDecision:
    """Whether ``prediction`` goes to human review under ``thresholds`` (the module docstring
    gives the rule per model type)."""
    if prediction.model_type == ModelType.ENTITY_RECOGNIZER:
        doubtful = tuple(
            e.type
            for e in prediction.entities
            if e.score is not None and e.score < thresholds.for_label(e.type)
        )
        return RoutingDecision(
            routed=bool(doubtful),
            reason=Reason.BELOW_THRESHOLD.value if doubtful else None,
            uncertain=tuple(dict.fromkeys(doubtful)),
            predicted_labels=tuple(dict.fromkeys(e.type for e in prediction.entities)),
        )
    if not prediction.labels:
        raise ValueError("a document classifier prediction has no labels")
    if prediction.mode == Mode.MULTI_LABEL:
        band = thresholds.band
        uncertain = tuple(
            ls.label
            for ls in prediction.labels
            if thresholds.for_label(ls.label) - band
            <= ls.score
            < thresholds.for_label(ls.label) + band
        )
        assigned = tuple(
            ls.label for ls in prediction.labels if ls.score >= thresholds.for_label(ls.label)
        )
        return RoutingDecision(
            routed=bool(uncertain),
            reason=Reason.NEAR_THRESHOLD.value if uncertain else None,
            uncertain=uncertain,
            predicted_labels=assigned,
        )
    top = prediction.labels[0]
    routed = top.score < thresholds.for_label(top.label)
    return RoutingDecision(
        routed=routed,
        reason=Reason.BELOW_THRESHOLD.value if routed else None,
        uncertain=(top.label,) if routed else (),
        predicted_labels=(top.label,),
    )


DEFAULT_CANDIDATES = tuple(round(0.05 * i, 2) for i in range(1, 20))


def tune_thresholds(
    y_true: Sequence[Collection[str]],
    scores: Sequence[Mapping[str, float]],
    labels: Iterable[str],
    *,
    default: float = DEFAULT_THRESHOLD,
    min_positives: int = 5,
    candidates: Sequence[float] = DEFAULT_CANDIDATES,
) -> dict[str, float]:
    """Per-label thresholds for a multi-label model that maximise each label's F1 on held-out
    data. Labels with fewer than ``min_positives`` positives keep ``default``: with a handful of
    examples (Jigsaw's ``threat`` has 4) the best threshold is noise. Ties go to the candidate
    closest to ``default``.
    """
    if len(y_true) != len(scores):
        raise ValueError("y_true and scores differ in length")
    result: dict[str, float] = {}
    for label in labels:
        truth = [label in t for t in y_true]
        positives = sum(truth)
        if positives < min_positives:
            result[label] = default
            continue
        column = [s.get(label, 0.0) for s in scores]
        best = (-1.0, 0.0, default)
        for t in candidates:
            tp = sum(1 for y, s in zip(truth, column, strict=True) if y and s >= t)
            fp = sum(1 for y, s in zip(truth, column, strict=True) if not y and s >= t)
            fn = positives - tp
            f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
            key = (f1, -abs(t - default), t)
            if key > best:
                best = key
        result[label] = best[2] if best[0] > 0 else default
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_score(value: Any) -> bool:
    return _is_number(value) and 0 <= value <= 1
