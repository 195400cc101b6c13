"""The model back-end interface shared by inference (now) and training (later).

A ``Prediction`` has the same shape whatever produced it (Comprehend endpoint or local
scikit-learn model), so thresholds, feedback records and API answers never look at the back-end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from textloop.names import ModelType


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


class BackendError(RuntimeError):
    """The back-end failed for a reason the caller cannot fix by changing the text."""


class BackendThrottled(BackendError):
    """Throttled even after the client's retries: answer 429/503, or let the caller retry."""


class BackendUnavailable(BackendError):
    """The model cannot answer now (endpoint creating/updating/deleted, artefact missing)."""


@runtime_checkable
class ModelBackend(Protocol):
    """What inference needs from a model. Training will join as ``train(...)`` on the same
    objects once the training step is written; for now the local back-end has ``local.fit``.
    """

    model_type: str
    mode: str | None
    model_version: str
    max_text_bytes: int

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in order. Texts must already pass ``check_text``."""
        ...
