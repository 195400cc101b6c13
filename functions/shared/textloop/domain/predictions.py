"""What a model says about a text: label scores, entity spans, and the prediction holding them.

A ``Prediction`` has the same shape whatever produced it (Comprehend endpoint, batch job or local
scikit-learn model), so thresholds, feedback records, selection and API answers never look at the
back-end. Spans are also what people answer for entity recognisers (``span_tuple``/``span_dict``
are their two plain forms).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from textloop.domain.names import ModelType


def span_tuple(span: Mapping[str, Any] | Sequence[Any] | EntitySpan) -> tuple[int, int, str]:
    """``(begin_offset, end_offset, type)`` from a span dict, an ``EntitySpan`` or a 3-item
    sequence."""
    if isinstance(span, EntitySpan):
        return (span.begin_offset, span.end_offset, span.type)
    if isinstance(span, Mapping):
        return (int(span["begin_offset"]), int(span["end_offset"]), str(span["type"]))
    begin, end, kind = span
    return (int(begin), int(end), str(kind))


def span_dict(span: tuple[int, int, str]) -> dict[str, Any]:
    return {"begin_offset": span[0], "end_offset": span[1], "type": span[2]}


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score}


@dataclass(frozen=True, slots=True)
class EntitySpan:
    """A span of the text: offsets in characters (Python ``str`` indexes), end exclusive."""

    begin_offset: int
    end_offset: int
    type: str
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "begin_offset": self.begin_offset,
            "end_offset": self.end_offset,
            "type": self.type,
        }
        if self.score is not None:
            out["score"] = self.score
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EntitySpan:
        return cls(
            int(data["begin_offset"]), int(data["end_offset"]), str(data["type"]), data.get("score")
        )


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model said about one text.

    Document classifier: ``labels`` holds every label the model knows with its score, by
    descending score (multi-class scores sum to about 1; multi-label scores are independent).
    Entity recogniser: ``entities`` by ``begin_offset``; ``mode`` is None and ``labels`` empty.
    """

    model_type: str
    model_version: str
    mode: str | None
    labels: tuple[LabelScore, ...] = ()
    entities: tuple[EntitySpan, ...] = field(default=())

    def __post_init__(self) -> None:
        # Normalise order here so every back-end, record and id sees the same ranking.
        ranked = tuple(sorted(self.labels, key=lambda ls: -ls.score))
        object.__setattr__(self, "labels", ranked)
        spans = tuple(sorted(self.entities, key=lambda e: (e.begin_offset, e.end_offset)))
        object.__setattr__(self, "entities", spans)

    @property
    def top(self) -> LabelScore | None:
        return self.labels[0] if self.labels else None

    def score_of(self, label: str) -> float | None:
        for ls in self.labels:
            if ls.label == label:
                return ls.score
        return None

    def prediction_dict(self, *, routed_to_review: bool) -> dict[str, Any]:
        """The ``prediction`` object of feedback records and of the classify answer."""
        out: dict[str, Any] = {"routed_to_review": routed_to_review}
        if self.model_type == ModelType.ENTITY_RECOGNIZER:
            out["entities"] = [e.to_dict() for e in self.entities]
        else:
            out["labels"] = [ls.to_dict() for ls in self.labels]
        return out
