"""What feedback is checked against: the model versions that served a model type and the labels
they know.

A client echoes ``model_version`` and the prediction from a POST /classify answer; a batch
line's corrections name labels. Neither may name what no model of textloop ever had: an unknown
version would split the feedback into a partition nothing reads, and an unknown label would
enter the training pool as a class nobody defined. ``adapters.model_catalog`` reads the facts
(active-model pointer, model metadata, registry history); the checks here are plain functions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from textloop.domain.names import ModelType
from textloop.domain.validation import FieldError


@dataclass(frozen=True)
class ModelFacts:
    """One model type as the feedback paths see it.

    ``known_versions``: the active version and every version the registry says was promoted
    or rolled back to (what POST /classify can have answered with). ``labels``: the active
    model's label set (entity types for a recogniser); None when it cannot be known (no model
    yet, or a model without a label list), and then labels are not checked.
    """

    model_type: str
    active_version: str | None
    labels: frozenset[str] | None
    known_versions: frozenset[str]


def labels_in(document: Any) -> frozenset[str] | None:
    """The labels a model document (``metadata.json``, ``evaluation.json``) names: ``labels``
    (a classifier's classes, or an entity recogniser's types when written there), else
    ``entity_types``; None when it names none."""
    if not isinstance(document, Mapping):
        return None
    for name in ("labels", "entity_types"):
        labels = document.get(name)
        if isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels):
            return frozenset(labels)
    return None


def version_errors(
    version: Any, facts: ModelFacts, *, field: str = "model_version"
) -> list[FieldError]:
    if version in facts.known_versions:
        return []
    if facts.active_version is None and not facts.known_versions:
        return [FieldError(field, f"names no model: no {facts.model_type} model has served yet")]
    return [
        FieldError(
            field,
            f"is not a version that served {facts.model_type} predictions "
            f"(the active one is {facts.active_version})",
        )
    ]


def label_errors(request: Mapping[str, Any], allowed: Collection[str] | None) -> list[FieldError]:
    """Labels (entity types) of a checked POST /feedback request that ``allowed`` lacks, in the
    prediction and in the correction."""
    if allowed is None:
        return []
    entity = request.get("model_type") == ModelType.ENTITY_RECOGNIZER
    name, key = ("entities", "type") if entity else ("labels", "label")
    noun = "an entity type" if entity else "a label"
    errors: list[FieldError] = []
    for i, item in enumerate((request.get("prediction") or {}).get(name) or ()):
        if item[key] not in allowed:
            errors.append(
                FieldError(f"prediction.{name}[{i}].{key}", f"is not {noun} of the model")
            )
    errors += corrected_label_errors(request.get("corrected_labels"), allowed, entity=entity)
    return errors


def corrected_label_errors(
    corrected: Any,
    allowed: Collection[str] | None,
    *,
    entity: bool,
    field: str = "corrected_labels",
) -> list[FieldError]:
    if allowed is None or not isinstance(corrected, list):
        return []
    errors = []
    for i, item in enumerate(corrected):
        label = item.get("type") if entity and isinstance(item, dict) else item
        if isinstance(label, str) and label not in allowed:
            where = f"{field}[{i}].type" if entity else f"{field}[{i}]"
            errors.append(
                FieldError(
                    where,
                    f"is not {'an entity type' if entity else 'a label'} of the model "
                    f"({_listed(allowed)})",
                )
            )
    return errors


def _listed(labels: Collection[str], limit: int = 20) -> str:
    names = sorted(labels)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
