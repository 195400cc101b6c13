"""Choosing what people review in one iteration.

Rules, in order:

1. Explicit corrections (records that carry ``corrected_labels``, also an empty list: "no label
   applies") from a *trusted* application go straight to the annotation pool: a person the
   deployment trusts already answered them. Every other record is a candidate: implicit ones,
   explicit ones without a correction, and corrections from untrusted applications (the
   default), so one client cannot write its labels into the training data unseen; the reviewer
   sees the correction as the suggestion. Each correction's path (``pool``, ``review``,
   ``duplicate`` of an item under review, ``skipped``, ``deferred`` to a later iteration for
   want of budget) is listed in ``Selection.corrections`` for the audit.
2. Candidates without text, whose text is already in the annotation pool, or whose text a
   trusted correction in the same batch answers, are skipped.
3. Each candidate gets an *uncertainty* in [0, 1], higher = more uncertain:

   * MULTI_CLASS, strategy ``margin``: ``1 - (s1 - s2)`` with ``s1``, ``s2`` the two highest
     scores (a missing second score counts as 0).
   * MULTI_CLASS, strategy ``entropy``: Shannon entropy of the scores divided by its maximum
     (when the scores sum to less than 1, the rest counts as one more outcome).
   * MULTI_LABEL: ``1 - min |s - t|`` over labels, ``t`` the label's threshold: the closer any
     decision is to its threshold, the more uncertain. The strategy setting does not apply:
     there is no distribution to take a margin of.
   * ENTITY_RECOGNIZER: least confidence, ``1 - min s`` over the predicted entities: a text is
     as doubtful as its least confident span (one wrong span makes the whole text's answer
     wrong; an average would let many sure spans hide it). The raw score, not its distance
     from the type's threshold: routing already used the thresholds, and ranking by the score
     itself keeps types with strict thresholds from crowding out the rest.
   * An entity prediction that found nothing: 1.0 (measure ``no_entity``). Least confidence
     cannot see a missed entity, and such a text is a candidate only because a person asked
     for it (a review request, an untrusted correction) or because re-scoring found nothing
     where the model that served had proposed a doubtful span: either way the model's "no
     entity here" is the answer most worth checking. (Implicit feedback never brings texts
     where the model found nothing: there is no score to route on.)
   * No score at all (a text sent for review without a prediction): 1.0. Nothing says the
     model is sure, and a person asked for it.

4. Ordered by uncertainty (ties: by id, so the order never depends on input order).
5. Near-duplicates are removed: the same normalised text (``hashing.normalise_text``), or a
   cosine similarity of character 4-gram TF-IDF vectors at or above
   ``near_duplicate_similarity``. Of a group, the most uncertain item is kept; the others are
   listed as duplicates of it. Review budget spent on near-copies teaches the model nothing new.
6. ``round(budget * share)`` slots are drawn uniformly (seeded) from the candidates left after
   the uncertain slots are filled; the rest of the budget goes to the most uncertain. The
   random share keeps the training data representative: pure uncertainty sampling only ever
   shows the model its own blind spots. ``share`` is ``random_share``, or, with
   ``random_share_half_life`` set, ``random_share * 0.5 ** (labelled / random_share_half_life)``
   with ``labelled`` the number of labelled texts the loop already has (seed data and
   annotation pool): a model trained on a few dozen labels is a poor judge of what it does not
   know, so early iterations explore; a mature one gets most of the budget for its uncertain
   cases. The decay never takes the random slots below one while the undecayed share gives at
   least one, so the annotation pool never becomes only hard cases.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textloop.domain.feedback import (
    FeedbackRecord,
    stored_is_correction,
    stored_skips_review,
)
from textloop.domain.hashing import normalise_text, text_key
from textloop.domain.names import Mode, ModelType
from textloop.domain.thresholds import Thresholds
from textloop.domain.validation import is_blank

STRATEGIES = ("margin", "entropy")
# A2I human-loop names: ^[a-z0-9](-*[a-z0-9])*$, at most 63 characters; batch ids double as them.
_MAX_BATCH_ID = 63
_BLOCK = 256


@dataclass(frozen=True)
class SelectionConfig:
    budget: int
    random_share: float = 0.0
    # Labels after which the random share halves (rule 6 of the module docstring); None: the
    # share stays ``random_share`` however many labels there are.
    random_share_half_life: float | None = None
    seed: int | str = 0
    strategy: str = "margin"
    # Cosine similarity at or above which two candidates are near-duplicates; None: exact only.
    near_duplicate_similarity: float | None = 0.9
    # Used when a record has no mode (records always should; old ones might not).
    mode: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 0:
            raise ValueError(f"budget must be an integer >= 0, got {self.budget!r}")
        if not isinstance(self.random_share, int | float) or not 0 <= self.random_share <= 1:
            raise ValueError(f"random_share must be in [0, 1], got {self.random_share!r}")
        half_life = self.random_share_half_life
        if half_life is not None and (
            isinstance(half_life, bool) or not isinstance(half_life, int | float) or half_life <= 0
        ):
            raise ValueError(f"random_share_half_life must be > 0 or None, got {half_life!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        similarity = self.near_duplicate_similarity
        if similarity is not None and not 0 < similarity <= 1:
            raise ValueError(f"near_duplicate_similarity must be in (0, 1], got {similarity!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SelectionConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown selection settings: {sorted(unknown)}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "random_share": self.random_share,
            "random_share_half_life": self.random_share_half_life,
            "seed": self.seed,
            "strategy": self.strategy,
            "near_duplicate_similarity": self.near_duplicate_similarity,
            "mode": self.mode,
        }

    def random_slots(self, labelled: int = 0) -> int:
        """Slots drawn at random when the loop already has ``labelled`` labelled texts (rule 6)."""
        undecayed = min(math.floor(self.budget * self.random_share + 0.5), self.budget)
        if self.random_share_half_life is None:
            return undecayed
        share = self.random_share * 0.5 ** (max(labelled, 0) / self.random_share_half_life)
        return max(math.floor(self.budget * share + 0.5), min(undecayed, 1))


@dataclass(frozen=True)
class Uncertainty:
    value: float
    measure: str  # margin | entropy | threshold_distance | least_confidence | no_entity | none
    measure_value: float | None


@dataclass
class SelectedItem:
    id: str
    text: str
    reason: str  # "uncertain" | "random"
    uncertainty: float
    measure: str
    measure_value: float | None
    rank: int
    record: FeedbackRecord
    duplicate_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "reason": self.reason,
            "uncertainty": round(self.uncertainty, 6),
            "measure": self.measure,
            "measure_value": None if self.measure_value is None else round(self.measure_value, 6),
            "rank": self.rank,
            "duplicate_ids": list(self.duplicate_ids),
        }
        stored = self.record.to_dict()
        for name in ("source", "reason", "model_type", "mode", "model_version", "prediction"):
            if name in stored:
                out["feedback_reason" if name == "reason" else name] = stored[name]
        if self.record.is_correction:
            # An untrusted correction under review: the reviewer sees it as the suggestion.
            out["correction"] = correction_of(self.record)
        return out


@dataclass
class Selection:
    selected: list[SelectedItem]
    direct_to_pool: list[str]
    duplicates: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    candidates: int
    config: SelectionConfig
    # Every explicit correction and the path it took (rule 1): ``correction_of`` plus ``id``
    # and ``path``.
    corrections: list[dict[str, Any]] = field(default_factory=list)
    # Labelled texts the loop had (drives the random share's decay) and the random slots that
    # gave (fewer are drawn when the candidates run out).
    labelled: int = 0
    random_slots: int = 0

    @property
    def item_ids(self) -> list[str]:
        return [item.id for item in self.selected]

    def counts(self) -> dict[str, int]:
        return {
            "records": self.candidates + len(self.direct_to_pool) + len(self.skipped),
            "candidates": self.candidates,
            "selected": len(self.selected),
            "uncertain": sum(1 for i in self.selected if i.reason == "uncertain"),
            "random": sum(1 for i in self.selected if i.reason == "random"),
            "duplicates": len(self.duplicates),
            "skipped": len(self.skipped),
            "direct_to_pool": len(self.direct_to_pool),
        }

    def correction_paths(self) -> dict[str, int]:
        """How many explicit corrections took each path (every path named, 0 when unused)."""
        counts = {path: 0 for path in CORRECTION_PATHS}
        for entry in self.corrections:
            counts[entry["path"]] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "labelled": self.labelled,
            "random_slots": self.random_slots,
            "counts": self.counts(),
            "selected": [item.to_dict() for item in self.selected],
            "direct_to_pool": list(self.direct_to_pool),
            "duplicates": list(self.duplicates),
            "skipped": list(self.skipped),
            "correction_paths": self.correction_paths(),
            "corrections": list(self.corrections),
        }


CORRECTION_PATHS = ("pool", "review", "duplicate", "skipped", "deferred")


def correction_of(record: FeedbackRecord) -> dict[str, Any]:
    """What a reviewer and an auditor see of an explicit correction: the labels it states, who
    stated them, through which path, and whether the application was trusted."""
    stored = record.to_dict()
    return {
        "labels": stored["corrected_labels"],
        "submitted_by": record.submitted_by,
        "application_id": (record.submitter or {}).get("application_id"),
        "source": record.source,
        "trusted": record.trusted is True,
    }


# --------------------------------------------------------------------------- uncertainty


def uncertainty_of(
    record: FeedbackRecord, strategy: str = "margin", mode: str | None = None
) -> Uncertainty:
    """The ``Uncertainty`` of one feedback record (rule 3 of the module docstring)."""
    prediction = record.prediction
    if record.model_type == ModelType.ENTITY_RECOGNIZER:
        if prediction is None:
            return _least_confidence(None)
        return _least_confidence([e.score for e in prediction.entities or ()])
    scores = prediction.scores() if prediction else {}
    return _label_uncertainty(scores, record.thresholds, record.mode or mode, strategy)


def stored_uncertainty(
    data: Mapping[str, Any], strategy: str = "margin", mode: str | None = None
) -> Uncertainty:
    """``uncertainty_of`` a stored record's dict (``feedback.stored_row``), straight from the
    JSON: the pre-ranking scores every new record and keeps a few, and building each record's
    prediction cost as much as parsing its line."""
    prediction = data.get("prediction")
    if data["model_type"] == ModelType.ENTITY_RECOGNIZER:
        if prediction is None:
            return _least_confidence(None)
        return _least_confidence([e.get("score") for e in prediction.get("entities") or ()])
    labels = (prediction.get("labels") if prediction else None) or ()
    scores = {ls["label"]: float(ls["score"]) for ls in labels}
    return _label_uncertainty(scores, data.get("thresholds"), data.get("mode") or mode, strategy)


def _label_uncertainty(
    scores: Mapping[str, float],
    thresholds_data: Mapping[str, Any] | None,
    mode: str | None,
    strategy: str,
) -> Uncertainty:
    if not scores:
        return Uncertainty(1.0, "none", None)
    mode = mode or Mode.MULTI_CLASS
    if mode == Mode.MULTI_LABEL:
        thresholds = Thresholds.from_dict(thresholds_data)
        return _threshold_distance([(s, thresholds.for_label(lb)) for lb, s in scores.items()])
    ranked = sorted(scores.values(), reverse=True)
    if strategy == "entropy":
        probabilities = [p for p in ranked if p > 0]
        rest = 1.0 - sum(probabilities)
        if rest > 1e-9:
            probabilities.append(rest)
        total = sum(probabilities)
        entropy = -sum(p / total * math.log(p / total) for p in probabilities)
        maximum = math.log(max(len(probabilities), 2))
        return Uncertainty(min(1.0, entropy / maximum), "entropy", entropy)
    margin = ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0)
    return Uncertainty(1.0 - margin, "margin", margin)


def _least_confidence(entity_scores: Sequence[Any] | None) -> Uncertainty:
    if entity_scores is None:
        return Uncertainty(1.0, "none", None)
    scores = [float(score) for score in entity_scores if score is not None]
    if not scores:
        return Uncertainty(1.0, "no_entity", None)
    least = min(scores)
    return Uncertainty(1.0 - least, "least_confidence", least)


def _threshold_distance(pairs: Sequence[tuple[float, float]]) -> Uncertainty:
    if not pairs:
        return Uncertainty(1.0, "none", None)
    distance = min(abs(float(score) - threshold) for score, threshold in pairs)
    return Uncertainty(1.0 - distance, "threshold_distance", distance)


# --------------------------------------------------------------------------- selection


def select_for_review(
    records: Iterable[FeedbackRecord],
    config: SelectionConfig | Mapping[str, Any],
    *,
    annotated_keys: Iterable[str] = (),
    labelled: int | None = None,
    random_from: Iterable[str] | None = None,
) -> Selection:
    """Choose at most ``config.budget`` records for human review (see the module docstring).

    ``annotated_keys``: ``hashing.text_key`` of texts already in the annotation pool; such
    candidates are skipped (the pool already has a person's answer).
    ``labelled``: how many labelled texts the loop has (seed data and pool), for the random
    share's decay (rule 6); None: ``len(annotated_keys)``.
    ``random_from``: the ids the random slots draw from (``prerank``'s sample of the candidates
    beyond the re-scored top); None: every candidate the uncertain slots left.
    """
    if not isinstance(config, SelectionConfig):
        config = SelectionConfig.from_dict(config)
    already = set(annotated_keys)
    if labelled is None:
        labelled = len(already)
    ordered = sorted(records, key=lambda r: r.id)
    direct = [r.id for r in ordered if r.skips_review]
    # A text a trusted correction answers in this very batch needs no review either.
    corrected = {_key_of(r) for r in ordered if r.skips_review and r.text}
    skipped: list[dict[str, Any]] = []
    scored: list[tuple[FeedbackRecord, Uncertainty]] = []
    for record in ordered:
        if record.skips_review:
            continue
        # is_blank: a record stored before invisible-only text was refused at intake.
        if not record.id or is_blank(record.text):
            skipped.append({"id": record.id, "reason": "no id or no text"})
            continue
        key = _key_of(record)
        if key in already:
            skipped.append({"id": record.id, "reason": "already in the annotation pool"})
            continue
        if key in corrected:
            skipped.append({"id": record.id, "reason": "corrected by explicit feedback"})
            continue
        scored.append((record, uncertainty_of(record, config.strategy, config.mode)))

    scored.sort(key=lambda ru: (-ru[1].value, ru[0].id))
    duplicates: list[dict[str, Any]] = []
    distinct: list[tuple[FeedbackRecord, Uncertainty]] = []
    texts: list[str] = []  # normalised, one per distinct record
    first_by_text: dict[str, str] = {}
    duplicate_ids: dict[str, list[str]] = {}
    for record, uncertainty in scored:
        norm = normalise_text(record.text)
        if norm in first_by_text:
            kept = first_by_text[norm]
            duplicates.append({"id": record.id, "duplicate_of": kept, "similarity": 1.0})
            duplicate_ids[kept].append(record.id)
            continue
        first_by_text[norm] = record.id
        duplicate_ids[record.id] = []
        distinct.append((record, uncertainty))
        texts.append(norm)

    n_random = config.random_slots(labelled)
    n_uncertain = config.budget - n_random
    near = _NearDuplicates(texts, config.near_duplicate_similarity)

    chosen: list[tuple[int, str]] = []
    accepted, rejected = near.admit(list(range(len(distinct))), n_uncertain)
    chosen += [(i, "uncertain") for i in accepted]
    examined = set(accepted) | {i for i, _, _ in rejected}
    rest = [i for i in range(len(distinct)) if i not in examined]
    if random_from is not None:
        allowed = set(random_from)
        rest = [i for i in rest if distinct[i][0].id in allowed]
    rng = np.random.default_rng(_seed(config.seed))
    drawn = [rest[j] for j in rng.permutation(len(rest))] if rest else []
    accepted_random, rejected_random = near.admit(drawn, n_random)
    chosen += [(i, "random") for i in accepted_random]

    for index, of, similarity in [*rejected, *rejected_random]:
        record, kept = distinct[index][0], distinct[of][0]
        duplicates.append(
            {"id": record.id, "duplicate_of": kept.id, "similarity": round(similarity, 4)}
        )
        duplicate_ids[kept.id].append(record.id)
        duplicate_ids[kept.id].extend(duplicate_ids[record.id])

    selected = [
        SelectedItem(
            id=distinct[i][0].id,
            text=distinct[i][0].text,
            reason=why,
            uncertainty=distinct[i][1].value,
            measure=distinct[i][1].measure,
            measure_value=distinct[i][1].measure_value,
            rank=i + 1,
            record=distinct[i][0],
            duplicate_ids=sorted(duplicate_ids[distinct[i][0].id]),
        )
        for i, why in chosen
    ]
    return Selection(
        selected=selected,
        direct_to_pool=direct,
        duplicates=duplicates,
        skipped=skipped,
        candidates=len(scored),
        config=config,
        labelled=labelled,
        random_slots=n_random,
        corrections=_correction_paths(ordered, selected, duplicates, skipped),
    )


@dataclass(frozen=True)
class Prerank:
    """The records SelectForReview re-scores and selects from (``prerank``)."""

    records: list[FeedbackRecord]  # the top, the random sample and the trusted corrections
    random_from: list[str] | None  # ids the random slots draw from; None: as before
    candidates: int  # candidates before pre-ranking
    rescored: int  # of them, re-scored (top and sample)

    def counts(self) -> dict[str, int]:
        return {
            "prerank_candidates": self.candidates,
            "rescored": self.rescored,
            "not_rescored": self.candidates - self.rescored,
        }


def prerank(
    records: Iterable[FeedbackRecord | Mapping[str, Any]],
    config: SelectionConfig,
    *,
    factor: int,
    annotated_keys: Iterable[str] = (),
    labelled: int = 0,
) -> Prerank:
    """Pre-rank the candidates by the confidence stored at classification time and keep what
    the active model should re-score: the top ``factor x budget`` (``uncertainty_of`` of the
    stored prediction, rule 3; a record without one, such as an explicit or batch one,
    scores 1.0 and ranks first; ties by id), and a uniform seeded sample of ``factor x`` the
    random slots from the candidates beyond the top, which the random slots then draw from:
    the random share keeps representing what uncertainty sampling does not reach. Explicit
    corrections pass through (trusted ones skip review; untrusted ones are few, re-scored, and
    keep their path in the audit); candidates ``select_for_review`` would skip (no
    text, text in the pool) are not ranked. With no more candidates than the top, nothing
    changes: every candidate is re-scored and the random slots draw as before.

    ``records`` may be ``FeedbackRecord``s or stored dicts (``feedback.stored_row``), each id
    once, in any order, and are read once: the memory held is the top, the sample and the
    corrections (``PrerankStream``), not the candidates."""
    stream = PrerankStream(config, factor=factor, annotated_keys=annotated_keys, labelled=labelled)
    for record in records:
        stream.add(record)
    return stream.result()


class _Worse:
    """An id whose order is reversed: on a min-heap of ``(uncertainty, _Worse(id))`` the root
    is the worst of the kept top (least uncertain, ties the greatest id)."""

    __slots__ = ("id",)

    def __init__(self, record_id: str):
        self.id = record_id

    def __lt__(self, other: _Worse) -> bool:
        return self.id > other.id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Worse) and self.id == other.id

    __hash__ = None  # type: ignore[assignment]


class PrerankStream:
    """``prerank`` one record at a time in bounded memory (written by hand on ``heapq``):

    * the top ``factor x budget`` by stored uncertainty, on a heap whose root is the worst kept;
    * the sample, by a seeded hash of the id (the ``factor x random slots`` smallest hashes of
      the candidates beyond the top: a uniform sample that does not depend on the order the
      records come in). A candidate may later enter the top, so the heap keeps that many more;
    * the explicit corrections, all of them (never dropped, and few).

    A record is decoded into a ``FeedbackRecord`` only when it is returned."""

    def __init__(
        self,
        config: SelectionConfig,
        *,
        factor: int,
        annotated_keys: Iterable[str] = (),
        labelled: int = 0,
    ):
        self.config = config
        self.already = set(annotated_keys)
        self.top_n = factor * config.budget
        self.sample_n = factor * config.random_slots(labelled)
        self._salt = hashlib.sha256(str(_seed(config.seed)).encode()).digest()
        self.direct: list[Any] = []
        self.corrections: list[Any] = []
        # (key..., arrival, record): the arrival number keeps records out of the comparison.
        self.top: list[tuple[float, _Worse, int, Any]] = []
        self.hashed: list[tuple[int, str, int, Any]] = []  # (-hash, id, ...): a max-heap
        self.candidates = 0

    def add(self, record: FeedbackRecord | Mapping[str, Any]) -> None:
        if isinstance(record, FeedbackRecord):
            record_id, text, model_type = record.id, record.text, record.model_type
            skips, correction = record.skips_review, record.is_correction
        else:
            record_id, text, model_type = record["id"], record["text"], record["model_type"]
            skips, correction = stored_skips_review(record), stored_is_correction(record)
        if skips:
            self.direct.append(record)
            return
        if not record_id or is_blank(text):
            return
        if self.already and text_key(text, model_type) in self.already:
            return
        if correction:
            self.corrections.append(record)
            return
        self.candidates += 1
        value = self._uncertainty(record)
        arrival = self.candidates
        if len(self.top) < self.top_n:
            heapq.heappush(self.top, (value, _Worse(record_id), arrival, record))
        elif self.top_n:  # a review budget of 0 keeps no top (and has no root to compare)
            worst = self.top[0]
            if value > worst[0] or (value == worst[0] and record_id < worst[1].id):
                heapq.heapreplace(self.top, (value, _Worse(record_id), arrival, record))
        keep = self.top_n + self.sample_n
        if not self.sample_n:
            return
        digest = hashlib.blake2b(record_id.encode(), digest_size=8, key=self._salt)
        entry = (-int.from_bytes(digest.digest(), "big"), record_id, arrival, record)
        if len(self.hashed) < keep:
            heapq.heappush(self.hashed, entry)
        elif entry > self.hashed[0]:
            heapq.heapreplace(self.hashed, entry)

    def _uncertainty(self, record: FeedbackRecord | Mapping[str, Any]) -> float:
        if isinstance(record, FeedbackRecord):
            return uncertainty_of(record, self.config.strategy, self.config.mode).value
        return stored_uncertainty(record, self.config.strategy, self.config.mode).value

    def result(self) -> Prerank:
        direct = sorted(map(_as_record, self.direct), key=lambda r: r.id)
        corrections = sorted(map(_as_record, self.corrections), key=lambda r: r.id)
        total = len(corrections) + self.candidates
        ranked = sorted(self.top, key=lambda e: (-e[0], e[1].id))
        top = [_as_record(record) for *_, record in ranked]
        if self.candidates <= self.top_n:
            return Prerank([*direct, *corrections, *top], None, total, total)
        in_top = {r.id for r in top}
        by_hash = sorted(self.hashed, reverse=True)  # the smallest hashes first
        sample = [_as_record(rec) for _, rid, _, rec in by_hash if rid not in in_top]
        sample = sorted(sample[: self.sample_n], key=lambda r: r.id)
        return Prerank(
            [*direct, *corrections, *top, *sample],
            [r.id for r in sample],
            total,
            len(corrections) + len(top) + len(sample),
        )


def _as_record(record: FeedbackRecord | Mapping[str, Any]) -> FeedbackRecord:
    return record if isinstance(record, FeedbackRecord) else FeedbackRecord.from_dict(record)


def _correction_paths(
    ordered: Sequence[FeedbackRecord],
    selected: Sequence[SelectedItem],
    duplicates: Sequence[Mapping[str, Any]],
    skipped: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    under_review = {item.id for item in selected}
    duplicate_ids = {d["id"] for d in duplicates}
    skipped_ids = {s["id"] for s in skipped}
    out = []
    for record in ordered:
        if not record.is_correction:
            continue
        if record.skips_review:
            path = "pool"
        elif record.id in under_review:
            path = "review"
        elif record.id in duplicate_ids:
            path = "duplicate"
        elif record.id in skipped_ids:
            path = "skipped"
        else:
            path = "deferred"
        out.append({"id": record.id, "path": path, **correction_of(record)})
    return out


def _key_of(record: FeedbackRecord) -> str:
    return text_key(record.text, record.model_type)


def _seed(seed: int | str) -> int:
    if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0:
        return seed
    # Strings (e.g. the iteration id) seed through a hash: stable across processes, unlike hash().
    return int.from_bytes(hashlib.sha256(str(seed).encode()).digest()[:8], "big")


class _NearDuplicates:
    """Greedy admission: an item is admitted unless it is similar to one admitted before.

    Comparing each candidate only with admitted items (at most the budget) keeps the cost at
    O(candidates x budget) instead of all pairs, and blocks of rows keep the work in sparse
    matrix products instead of Python loops.
    """

    def __init__(self, texts: Sequence[str], threshold: float | None):
        self.threshold = threshold
        self.kept: list[int] = []
        self.matrix = None
        if threshold is None or len(texts) < 2:
            return
        from sklearn.feature_extraction.text import TfidfVectorizer

        # Character 4-grams within words survive small edits, punctuation and reordering;
        # 3-5-grams cost about four times as much (3.6 s against 0.9 s for 5,000 AG News texts
        # on a busy 2-core machine) for near-duplicates that 4-grams already score high.
        vectoriser = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(4, 4), sublinear_tf=True, dtype=np.float32
        )
        try:
            self.matrix = vectoriser.fit_transform(texts).tocsr()
        except ValueError:
            # Every text shorter than an n-gram: nothing to compare beyond exact matches.
            self.matrix = None

    def admit(self, order: Sequence[int], limit: int):
        accepted: list[int] = []
        rejected: list[tuple[int, int, float]] = []
        if self.matrix is None or self.threshold is None:
            accepted = list(order[: max(limit, 0)])
            self.kept += accepted
            return accepted, rejected
        position = 0
        while len(accepted) < limit and position < len(order):
            block = list(order[position : position + _BLOCK])
            position += _BLOCK
            rows = self.matrix[block]
            against_kept = (rows @ self.matrix[self.kept].T).toarray() if self.kept else None
            within = (rows @ rows.T).toarray()
            new: list[int] = []
            for j, index in enumerate(block):
                if len(accepted) >= limit:
                    break
                best, best_of = 0.0, -1
                if against_kept is not None:
                    k = int(against_kept[j].argmax())
                    best, best_of = float(against_kept[j, k]), self.kept[k]
                if new:
                    sims = within[j, new]
                    k = int(sims.argmax())
                    if sims[k] > best:
                        best, best_of = float(sims[k]), block[new[k]]
                if best >= self.threshold - 1e-6:
                    rejected.append((index, best_of, best))
                    continue
                new.append(j)
                accepted.append(index)
            self.kept += [block[j] for j in new]
        return accepted, rejected


# --------------------------------------------------------------------------- review batches


def review_batches(
    items: Selection | Sequence[SelectedItem | Mapping[str, Any]],
    batch_size: int,
    iteration_id: str,
) -> list[dict[str, Any]]:
    """Split selected items, in order, into batches of at most ``batch_size``.

    A batch id depends only on the iteration id, the batch's position and its item ids, so a
    retried step produces the same ids (and the same A2I human-loop names: ids match
    ``^[a-z0-9](-*[a-z0-9])*$`` and fit 63 characters).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if isinstance(items, Selection):
        items = items.selected
    entries = [i.to_dict() if isinstance(i, SelectedItem) else dict(i) for i in items]
    batches = []
    for number, start in enumerate(range(0, len(entries), batch_size)):
        chunk = entries[start : start + batch_size]
        item_ids = [str(e["id"]) for e in chunk]
        batches.append(
            {
                "batch_id": batch_id(iteration_id, number, item_ids),
                "index": number,
                "item_ids": item_ids,
                "items": chunk,
            }
        )
    return batches


def batch_id(iteration_id: str, index: int, item_ids: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join([iteration_id, *item_ids]).encode()).hexdigest()[:12]
    suffix = f"-{index:04d}-{digest}"
    slug = re.sub(r"[^a-z0-9]+", "-", iteration_id.lower()).strip("-")
    slug = slug[: _MAX_BATCH_ID - len(suffix)].rstrip("-") or "batch"
    return slug + suffix


__all__ = [
    "CORRECTION_PATHS",
    "STRATEGIES",
    "Prerank",
    "SelectedItem",
    "Selection",
    "SelectionConfig",
    "Uncertainty",
    "batch_id",
    "correction_of",
    "prerank",
    "review_batches",
    "select_for_review",
    "uncertainty_of",
]
