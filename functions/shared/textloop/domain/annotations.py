"""The annotation pool: every human answer merged into one label set per text, as versions.

An *answer* is one statement about one text: a reviewer's answer to a review task, or an explicit
correction that skipped review. The pool keeps every answer it has ever accepted and derives the
merged annotation of each text from them, so a pool version is a pure function of its set of
answers. That is what makes merging idempotent (re-delivered answers change nothing, the content
hash stays the same) and order-independent (answers arriving in a different order give the same
pool).

Merge rule, per text:

1. Texts are grouped by key. Document classifiers: the *normalised* text (``normalise_text``), so
   "Hello  World" and "hello world" are one text. Entity recognisers: the exact text, because
   span offsets only mean something in the exact string the reviewer saw.
2. An answer delivered twice (same ``answer_id``, a content hash) counts once.
3. One vote per reviewer per text: a reviewer's latest answer replaces their earlier ones (they
   changed their mind; they do not get two votes).
4. Document classifiers: the label set with the most votes wins (a label set is compared as a
   set: order and duplicates do not matter). A tie goes to the label set of the latest answer
   among the tied sets ("latest" = greatest ``answered_at``, then greatest ``answer_id`` so that
   two answers in the same millisecond still resolve deterministically).
   Entity recognisers: majority *per span*. A span (exact begin, end and type) is kept when more
   voters included it than left it out; at exactly half, when the latest voter's answer has it.
   Voting per span, not per span set, keeps what most reviewers agree on when they disagree on
   something else in the same text (two of three marking "S3" but only one also marking
   "Glacier" gives "S3"), where a span-set vote would need two identical answers. The kept spans
   never overlap: two overlapping spans cannot both be in more than half of the answers (no
   answer holds both), nor can a majority span overlap one of the latest answer's.
   ``decided_by``: ``single`` (one voter), ``unanimous`` (every voter gave the same set),
   ``tie-latest`` (some label set or span decided by the latest answer), else ``majority``.
5. The merged annotation keeps every reviewer id, every item id and the vote count of every
   label set (span set), so the audit can show how a label was decided.

Review answers and explicit corrections weigh the same: both are a person's statement.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from textloop.domain.feedback import FeedbackRecord
from textloop.domain.hashing import content_hash, text_key
from textloop.domain.names import ModelType
from textloop.domain.predictions import span_dict, span_tuple
from textloop.domain.timestamps import format_timestamp

SOURCES = ("review", "explicit-correction")
POOL_SCHEMA_VERSION = 1
VERSION_LENGTH = 16


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Answer:
    """One person's statement about one text.

    ``labels`` for document classifiers (a tuple, never a single string: any number of labels,
    none meaning "no label applies"); ``entities`` (``(begin, end, type)`` tuples) for entity
    recognisers.
    """

    item_id: str
    text: str
    reviewer_id: str
    answered_at: str
    source: str
    labels: tuple[str, ...] = ()
    entities: tuple[tuple[int, int, str], ...] = ()
    answer_id: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.item_id, str) or not self.item_id:
            problems.append("item_id must be a non-empty string")
        if not isinstance(self.text, str) or not self.text.strip():
            problems.append("text must be a non-empty string")
        if not isinstance(self.reviewer_id, str) or not self.reviewer_id.strip():
            problems.append("reviewer_id must be a non-empty string")
        if self.source not in SOURCES:
            problems.append(f"source must be one of {SOURCES}, got {self.source!r}")
        if isinstance(self.labels, str):
            problems.append("labels must be a list of labels, not a string")
        elif any(not isinstance(x, str) or not x.strip() for x in self.labels):
            problems.append("labels must be non-empty strings")
        try:
            answered_at = format_timestamp(self.answered_at)
        except (TypeError, ValueError):
            problems.append(f"answered_at must be an RFC 3339 timestamp, got {self.answered_at!r}")
        try:
            spans = {span_tuple(s) for s in self.entities}
        except (KeyError, TypeError, ValueError):
            problems.append("entities must be spans {begin_offset, end_offset, type}")
        if problems:
            raise ValueError(f"invalid answer for item {self.item_id!r}: " + "; ".join(problems))
        object.__setattr__(self, "answered_at", answered_at)
        # Sets, stored sorted: the order a reviewer ticked boxes in is not information.
        object.__setattr__(self, "labels", tuple(sorted(set(self.labels))))
        object.__setattr__(self, "entities", tuple(sorted(spans)))
        if not self.answer_id:
            object.__setattr__(self, "answer_id", content_hash(self._identity()))

    def _identity(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "text": self.text,
            "reviewer_id": self.reviewer_id,
            "answered_at": self.answered_at,
            "source": self.source,
            "labels": list(self.labels),
            "entities": [list(s) for s in self.entities],
        }

    @property
    def choice(self) -> tuple[Any, ...]:
        """What is voted on: the label set, or the span set."""
        return self.entities if self.entities else self.labels

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], model_type: str) -> Answer:
        labels: Any = data.get("labels") or ()
        entities: Any = data.get("entities") or ()
        if isinstance(labels, str) or isinstance(entities, str):
            # tuple("World") would silently become five one-letter labels.
            raise ValueError(
                f"invalid answer for item {data.get('item_id')!r}: labels must be a list of "
                "labels, not a string"
            )
        if model_type == ModelType.ENTITY_RECOGNIZER and labels and not entities:
            # Feedback records carry spans in corrected_labels; accept the same here.
            entities, labels = labels, ()
        if model_type == ModelType.ENTITY_RECOGNIZER and labels:
            raise ValueError("an entity recogniser answer has entities, not labels")
        if model_type == ModelType.DOCUMENT_CLASSIFIER and entities:
            raise ValueError("a document classifier answer has labels, not entities")
        return cls(
            item_id=str(data.get("item_id") or ""),
            text=data.get("text") or "",
            reviewer_id=str(data.get("reviewer_id") or ""),
            answered_at=data.get("answered_at") or "",
            source=str(data.get("source") or ""),
            labels=tuple(labels),
            entities=tuple(entities),
            answer_id=str(data.get("answer_id") or ""),
        )

    def to_dict(self, model_type: str | None = None) -> dict[str, Any]:
        """``model_type``: an entity answer with no spans ("no entities in this text") is
        written as ``entities: []``; without it, only spans tell the two kinds apart."""
        out: dict[str, Any] = {
            "answer_id": self.answer_id,
            "item_id": self.item_id,
            "reviewer_id": self.reviewer_id,
            "answered_at": self.answered_at,
            "source": self.source,
        }
        if self.entities or model_type == ModelType.ENTITY_RECOGNIZER:
            out["entities"] = [span_dict(s) for s in self.entities]
        else:
            out["labels"] = list(self.labels)
        return out


def answer_from_feedback(record: FeedbackRecord) -> Answer:
    """The pool answer of an explicit feedback record that carries ``corrected_labels``.

    Only a trusted application's corrections become answers this way (they skip review, see
    ``selection``); the submitter is the "reviewer" and the time the feedback happened
    (``observed_at``) is when they answered. An untrusted correction reaches the pool only as a
    reviewer's answer.
    """
    if record.corrected_labels is None:
        raise ValueError(f"feedback record {record.id!r} has no corrected_labels")
    if not record.skips_review:
        raise ValueError(
            f"feedback record {record.id!r} comes from an untrusted source: it is reviewed, "
            "not taken as an answer"
        )
    entity = record.model_type == ModelType.ENTITY_RECOGNIZER
    return Answer(
        item_id=record.id,
        text=record.text,
        reviewer_id=record.submitted_by,
        answered_at=record.observed_at or record.created_at,
        source="explicit-correction",
        labels=() if entity else tuple(record.corrected_labels),  # type: ignore[arg-type]
        entities=(
            tuple((s.begin_offset, s.end_offset, s.type) for s in record.corrected_labels)  # type: ignore[union-attr]
            if entity
            else ()
        ),
    )


# --------------------------------------------------------------------------- the pool


@dataclass(frozen=True)
class Annotation:
    """The merged annotation of one text."""

    key: str
    text: str
    labels: tuple[str, ...]
    entities: tuple[tuple[int, int, str], ...]
    votes: tuple[tuple[tuple[Any, ...], int], ...]
    decided_by: str
    answers: tuple[Answer, ...]

    @property
    def reviewer_ids(self) -> list[str]:
        return sorted({a.reviewer_id for a in self.answers})

    @property
    def item_ids(self) -> list[str]:
        return sorted({a.item_id for a in self.answers})

    @property
    def updated_at(self) -> str:
        return max(a.answered_at for a in self.answers)

    def to_dict(self, model_type: str) -> dict[str, Any]:
        entity = model_type == ModelType.ENTITY_RECOGNIZER
        out: dict[str, Any] = {"key": self.key, "text": self.text}
        if entity:
            out["entities"] = [span_dict(s) for s in self.entities]
        else:
            out["labels"] = list(self.labels)
        out["votes"] = [
            {
                ("entities" if entity else "labels"): (
                    [span_dict(s) for s in choice] if entity else list(choice)
                ),
                "count": count,
            }
            for choice, count in self.votes
        ]
        out["decided_by"] = self.decided_by
        out["reviewer_ids"] = self.reviewer_ids
        out["item_ids"] = self.item_ids
        out["updated_at"] = self.updated_at
        out["answers"] = [a.to_dict(model_type) for a in self.answers]
        return out


@dataclass(frozen=True)
class PoolVersion:
    """One immutable version of the annotation pool.

    ``content_hash`` covers the model type and the annotations only (not ``sequence``, the parent
    or the changes), so equal content always has an equal hash whatever path led to it.
    """

    model_type: str
    annotations: tuple[Annotation, ...] = ()
    sequence: int = 0
    parent_pool_version: str | None = None
    changes: tuple[dict[str, Any], ...] = field(default=())

    @cached_property
    def content_hash(self) -> str:
        # Cached: the version is immutable, and hashing re-serialises every answer.
        return content_hash(self._hashed())

    @property
    def pool_version(self) -> str:
        return self.content_hash[:VERSION_LENGTH]

    def _hashed(self) -> dict[str, Any]:
        return {
            "schema_version": POOL_SCHEMA_VERSION,
            "model_type": self.model_type,
            "annotations": [a.to_dict(self.model_type) for a in self.annotations],
        }

    def answers(self) -> list[Answer]:
        return [answer for annotation in self.annotations for answer in annotation.answers]

    def by_key(self) -> dict[str, Annotation]:
        return {a.key: a for a in self.annotations}

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._hashed(),
            "pool_version": self.pool_version,
            "content_hash": self.content_hash,
            "sequence": self.sequence,
            "parent_pool_version": self.parent_pool_version,
            "changes": list(self.changes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolVersion:
        model_type = data["model_type"]
        answers = []
        for annotation in data.get("annotations", []):
            for raw in annotation.get("answers", []):
                answers.append(Answer.from_dict({**raw, "text": annotation["text"]}, model_type))
        pool = _build(model_type, answers)
        version = cls(
            model_type=model_type,
            annotations=pool,
            sequence=int(data.get("sequence", 0)),
            parent_pool_version=data.get("parent_pool_version"),
            changes=tuple(data.get("changes", ())),
        )
        stored = data.get("content_hash")
        if stored and stored != version.content_hash:
            # A stored pool that no longer re-derives to its hash was edited or built by other
            # rules: merging onto it would silently rewrite history.
            raise ValueError(
                f"pool {data.get('pool_version')} does not match its content hash "
                f"(stored {stored[:12]}, recomputed {version.content_hash[:12]})"
            )
        return version


def empty_pool(model_type: str) -> PoolVersion:
    return PoolVersion(model_type=ModelType(model_type).value)


def merge_answers(
    previous: PoolVersion | Mapping[str, Any] | None,
    answers: Iterable[Answer | Mapping[str, Any]],
    *,
    model_type: str | None = None,
) -> PoolVersion:
    """The pool version after adding ``answers`` to ``previous`` (``None``: an empty pool).

    Returns ``previous`` itself (same content hash, same sequence) when the answers add nothing,
    so a retried or re-delivered merge is a no-op the caller can detect by comparing hashes.
    ``changes`` lists, per text touched, what happened: ``added`` (a new text), ``relabelled``
    (the winning label set changed) or ``votes-added`` (new votes, same winner).
    """
    if isinstance(previous, Mapping):
        previous = PoolVersion.from_dict(previous)
    if previous is None:
        if model_type is None:
            raise ValueError("model_type is required to start a pool")
        previous = empty_pool(model_type)
    if model_type is not None and ModelType(model_type) != previous.model_type:
        raise ValueError(f"pool holds {previous.model_type}, not {model_type}")
    kind = previous.model_type

    known = {a.answer_id: a for a in previous.answers()}
    incoming: dict[str, Answer] = {}
    for raw in answers:
        answer = raw if isinstance(raw, Answer) else Answer.from_dict(raw, kind)
        if answer.answer_id not in known:
            incoming[answer.answer_id] = answer
    if not incoming:
        return previous

    annotations = _build(kind, [*known.values(), *incoming.values()])
    before = previous.by_key()
    # Counted once: a per-annotation scan of the answers was quadratic (39 s for 2,000 answers).
    added_per_key = Counter(text_key(a.text, kind) for a in incoming.values())
    changes = []
    for annotation in annotations:
        if annotation.key not in added_per_key:
            continue
        old = before.get(annotation.key)
        new_choice = (
            annotation.entities if kind == ModelType.ENTITY_RECOGNIZER else annotation.labels
        )
        if old is None:
            change, old_choice = "added", None
        else:
            old_choice = old.entities if kind == ModelType.ENTITY_RECOGNIZER else old.labels
            change = "relabelled" if old_choice != new_choice else "votes-added"
        changes.append(
            {
                "key": annotation.key,
                "text": annotation.text,
                "change": change,
                "previous": _choice_json(old_choice, kind),
                "current": _choice_json(new_choice, kind),
                "answers_added": added_per_key[annotation.key],
                "reviewer_ids": annotation.reviewer_ids,
            }
        )
    candidate = PoolVersion(
        model_type=kind,
        annotations=annotations,
        sequence=previous.sequence + 1,
        parent_pool_version=previous.pool_version if previous.annotations else None,
        changes=tuple(changes),
    )
    if candidate.content_hash == previous.content_hash:
        # New answer ids that change nothing visible cannot happen with hashed ids, but keep the
        # no-op guarantee independent of that detail.
        return previous
    return candidate


def _choice_json(choice: tuple[Any, ...] | None, model_type: str) -> list[Any] | None:
    if choice is None:
        return None
    if model_type == ModelType.ENTITY_RECOGNIZER:
        return [span_dict(s) for s in choice]
    return list(choice)


def _latest_key(answer: Answer) -> tuple[str, str]:
    # answered_at is fixed-width UTC RFC 3339, so string order is time order.
    return (answer.answered_at, answer.answer_id)


def _build(model_type: str, answers: Iterable[Answer]) -> tuple[Annotation, ...]:
    groups: dict[str, dict[str, Answer]] = defaultdict(dict)
    for answer in answers:
        groups[text_key(answer.text, model_type)][answer.answer_id] = answer
    result = []
    for key in sorted(groups):
        every = sorted(groups[key].values(), key=_latest_key)
        latest_per_reviewer: dict[str, Answer] = {}
        for answer in every:  # ascending: later answers overwrite earlier ones
            latest_per_reviewer[answer.reviewer_id] = answer
        voters = list(latest_per_reviewer.values())
        counts: dict[tuple[Any, ...], int] = defaultdict(int)
        latest_for_choice: dict[tuple[Any, ...], tuple[str, str]] = {}
        for answer in voters:
            counts[answer.choice] += 1
            latest_for_choice[answer.choice] = max(
                latest_for_choice.get(answer.choice, ("", "")), _latest_key(answer)
            )
        entity = model_type == ModelType.ENTITY_RECOGNIZER
        if entity:
            winner, tie = _spans_by_majority(voters)
        else:
            top = max(counts.values())
            tied = [choice for choice, n in counts.items() if n == top]
            winner = max(tied, key=lambda c: latest_for_choice[c])
            tie = len(tied) > 1
        if len(voters) == 1:
            decided_by = "single"
        elif len(counts) == 1:
            decided_by = "unanimous"
        elif tie:
            decided_by = "tie-latest"
        else:
            decided_by = "majority"
        votes = tuple(
            sorted(counts.items(), key=lambda cv: (-cv[1], json.dumps(cv[0], ensure_ascii=False)))
        )
        result.append(
            Annotation(
                key=key,
                # The earliest answer's text: stable as later answers arrive.
                text=every[0].text,
                labels=() if entity else winner,
                entities=winner if entity else (),
                votes=votes,
                decided_by=decided_by,
                answers=tuple(every),
            )
        )
    return tuple(result)


def _spans_by_majority(voters: list[Answer]) -> tuple[tuple[tuple[int, int, str], ...], bool]:
    """Rule 4 for entity recognisers: the spans more than half of the voters gave, and at
    exactly half those of the latest voter; and whether such a tie decided any span."""
    latest = max(voters, key=_latest_key)
    per_span = Counter(span for answer in voters for span in set(answer.entities))
    kept, tie = [], False
    for span, n in per_span.items():
        if 2 * n > len(voters):
            kept.append(span)
        elif 2 * n == len(voters):
            tie = True
            if span in latest.entities:
                kept.append(span)
    return tuple(sorted(kept)), tie


def added_answers(
    previous: PoolVersion | None, pool: PoolVersion, *, iteration_id: str
) -> list[dict[str, Any]]:
    """The answers ``pool`` holds and ``previous`` did not, one row each, as the lake's
    ``annotations`` table stores them (``layout.annotations_added_key``): the answer, the text
    (and its pool key), and the text's merged annotation in ``pool``, so a query can compare a
    reviewer's answer with the decision without reading a pool version. In pool order (text
    key, then answer time): the same merge gives the same rows."""
    known = {a.answer_id for a in previous.answers()} if previous is not None else set()
    entity = pool.model_type == ModelType.ENTITY_RECOGNIZER
    rows = []
    for annotation in pool.annotations:
        for answer in annotation.answers:
            if answer.answer_id in known:
                continue
            row: dict[str, Any] = {
                "answer_id": answer.answer_id,
                "item_id": answer.item_id,
                "text_key": annotation.key,
                "text": answer.text,
                "reviewer_id": answer.reviewer_id,
                "source": answer.source,
                "answered_at": answer.answered_at,
            }
            if entity:
                row["entities"] = [span_dict(s) for s in answer.entities]
                row["pool_entities"] = [span_dict(s) for s in annotation.entities]
            else:
                row["labels"] = list(answer.labels)
                row["pool_labels"] = list(annotation.labels)
            row["decided_by"] = annotation.decided_by
            row["iteration_id"] = iteration_id
            row["pool_version"] = pool.pool_version
            rows.append(row)
    return rows


def annotations_as_documents(pool: PoolVersion) -> list[dict[str, Any]]:
    """The pool's merged annotations as data-set documents (see ``datasets``)."""
    documents = []
    for annotation in pool.annotations:
        document: dict[str, Any] = {
            "key": annotation.key,
            "id": annotation.item_ids[0],
            "text": annotation.text,
            "origin": "pool",
        }
        if pool.model_type == ModelType.ENTITY_RECOGNIZER:
            document["entities"] = [span_dict(s) for s in annotation.entities]
        else:
            document["labels"] = list(annotation.labels)
        documents.append(document)
    return documents
