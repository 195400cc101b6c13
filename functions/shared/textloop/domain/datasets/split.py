"""The frozen split: which documents train and which test, kept from one build to the next.

The test set is the yardstick of every promotion, so it must not move under the models:

1. The first build splits every document; the split state it returns holds the test documents
   (text and labels, frozen) and the keys that went to training.
2. Later builds keep every frozen test document exactly as frozen (a relabelled copy in the
   pool is ignored and counted), keep earlier training documents in training, and split only
   documents never seen before: their test share joins the test set, the rest training.
3. A text is in the test set or in training, never both, compared by normalised text (entity
   keys are exact texts, so a new spelling of a known text joins the side that text is on).
4. Splits are stratified: MULTI_CLASS with scikit-learn's ``train_test_split(stratify=...)``
   when every class has two documents (else per class, a class with one document going to
   training); MULTI_LABEL and entity types with iterative stratification (Sechidis, Tsoumakas
   and Vlahavas, 2011), which balances every label's share greedily, rarest label first.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from textloop.domain.hashing import content_hash, normalise_text
from textloop.domain.names import Mode, ModelType
from textloop.domain.predictions import span_dict, span_tuple

SPLIT_STATE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Split:
    """One build's split: ``train`` and ``test`` (sorted by key), the ``state`` to pass to the
    next build, and what happened (``summary``, the manifest's ``split`` entry)."""

    train: list[dict[str, Any]]
    test: list[dict[str, Any]]
    state: dict[str, Any]
    summary: dict[str, Any]
    # Frozen test documents whose text came back with other labels (kept as frozen), and
    # frozen test documents no source holds any more (kept too).
    frozen_relabels_ignored: int
    frozen_missing_from_sources: int

    @property
    def test_set_hash(self) -> str:
        return self.state["test_set_hash"]


def split_documents(
    documents: Mapping[str, Mapping[str, Any]],
    split_state: Mapping[str, Any] | None,
    *,
    model_type: str,
    mode: str | None,
    test_share: float,
    seed: int | str,
) -> Split:
    """Split ``documents`` (by key) around the frozen test set of ``split_state`` (None on the
    first build); see the module docstring for the rules."""
    entity = model_type == ModelType.ENTITY_RECOGNIZER
    if split_state is not None:
        check_split_state(split_state, model_type, mode)
    frozen = {d["key"]: dict(d) for d in (split_state or {}).get("test", [])}
    train_keys = set((split_state or {}).get("train_keys", []))
    relabels_ignored = sum(
        1
        for key, d in frozen.items()
        if key in documents and document_content(documents[key]) != document_content(d)
    )
    missing_from_sources = sum(1 for key in frozen if key not in documents)
    old_train = [documents[k] for k in sorted(documents) if k in train_keys and k not in frozen]
    new = [documents[k] for k in sorted(documents) if k not in train_keys and k not in frozen]

    # Entity keys are exact texts (offsets need them), so one text spelt two ways is two keys.
    # The normalised text decides which side it belongs to, as for classifiers (where keys are
    # normalised and all of this is a no-op): a new spelling of a test text joins the test set,
    # of a training text joins training, and only genuinely new texts are split.
    test_texts = {normalise_text(d["text"]) for d in frozen.values()}
    train_texts = {normalise_text(d["text"]) for d in old_train}
    joins_test = [d for d in new if normalise_text(d["text"]) in test_texts]
    joins_train = [
        d
        for d in new
        if normalise_text(d["text"]) in train_texts and normalise_text(d["text"]) not in test_texts
    ]
    to_split = [d for d in new if normalise_text(d["text"]) not in test_texts | train_texts]
    if entity or mode == Mode.MULTI_LABEL:
        test_index = iterative_stratification([label_set(d) for d in to_split], test_share, seed)
        method = "iterative-stratification"
    else:
        test_index, method = _split_multi_class(to_split, test_share, seed)
    new_test = [d for i, d in enumerate(to_split) if i in test_index]
    new_train = [d for i, d in enumerate(to_split) if i not in test_index]
    # Two new spellings of one text split apart: keep them together, on the test side.
    split_texts = {normalise_text(d["text"]) for d in new_test}
    moved = [d for d in new_train if normalise_text(d["text"]) in split_texts]
    new_test += moved
    new_train = [d for d in new_train if normalise_text(d["text"]) not in split_texts]
    new_test += joins_test
    new_train += joins_train
    test = sorted([*frozen.values(), *new_test], key=lambda d: d["key"])
    train = sorted([*old_train, *new_train], key=lambda d: d["key"])
    state = {
        "schema_version": SPLIT_STATE_SCHEMA_VERSION,
        "model_type": model_type,
        "mode": mode,
        "test_set_hash": hash_test_set(test),
        "test": [document_content(d) | {"id": d.get("id", d["key"])} for d in test],
        "train_keys": sorted({d["key"] for d in train} | (train_keys - set(frozen))),
    }
    summary = {
        "method": method,
        "test_share": test_share,
        "seed": seed,
        "frozen_test_documents": len(frozen),
        "earlier_train_documents": len(old_train),
        "new_documents": len(new),
        "new_to_test": len(new_test),
        "new_to_train": len(new_train),
        "new_joining_a_known_text": len(joins_test) + len(joins_train) + len(moved),
    }
    return Split(train, test, state, summary, relabels_ignored, missing_from_sources)


def document_content(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a document *is* for hashing and freezing (not where it came from)."""
    out: dict[str, Any] = {"key": document["key"], "text": document["text"]}
    if "entities" in document:
        out["entities"] = [
            span_dict(s) for s in sorted(span_tuple(x) for x in document["entities"])
        ]
    else:
        out["labels"] = sorted(document["labels"])
    return out


def hash_test_set(documents: Iterable[Mapping[str, Any]]) -> str:
    """Content hash of a test set: independent of order, ids, origin and file formatting."""
    return content_hash(sorted((document_content(d) for d in documents), key=lambda c: c["key"]))


def label_set(document: Mapping[str, Any]) -> list[str]:
    if "entities" in document:
        return sorted({span_tuple(s)[2] for s in document["entities"]})
    return list(document["labels"])


def check_split_state(state: Mapping[str, Any], model_type: str, mode: str | None) -> None:
    if state.get("schema_version") != SPLIT_STATE_SCHEMA_VERSION:
        raise ValueError(f"unsupported split state version {state.get('schema_version')!r}")
    if state.get("model_type") != model_type or state.get("mode") != mode:
        raise ValueError(
            f"the split state is for {state.get('model_type')} {state.get('mode')}, "
            f"not {model_type} {mode}"
        )
    recomputed = hash_test_set(state.get("test", []))
    if recomputed != state.get("test_set_hash"):
        # The frozen test set is the yardstick of every promotion: never accept an edited one.
        raise ValueError(
            "the frozen test set does not match its hash "
            f"(stored {str(state.get('test_set_hash'))[:12]}, recomputed {recomputed[:12]})"
        )


def seeded_rng(seed: int | str) -> np.random.Generator:
    """A numpy generator seeded by an integer or any string (an iteration id, a model type)."""
    return np.random.default_rng(_seed_int(seed))


def _seed_int(seed: int | str) -> int:
    if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**32:
        return seed
    return int.from_bytes(hashlib.sha256(str(seed).encode()).digest()[:4], "big")


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _split_multi_class(
    documents: Sequence[Mapping[str, Any]], share: float, seed: int | str
) -> tuple[set[int], str]:
    """Indices of the test part, and the method used."""
    n = len(documents)
    n_test = _round_half_up(n * share)
    if n_test == 0:
        return set(), "none (too few new documents for a test share)"
    strata = ["|".join(sorted(d["labels"])) for d in documents]
    counts = Counter(strata)
    if min(counts.values()) >= 2 and len(counts) <= n_test <= n - len(counts):
        from sklearn.model_selection import train_test_split

        _, test = train_test_split(
            list(range(n)), test_size=n_test, stratify=strata, random_state=_seed_int(seed)
        )
        return set(test), "train_test_split(stratify)"
    # Per class: a class with a single new document goes to training, where it teaches something.
    rng = seeded_rng(seed)
    test: set[int] = set()
    by_stratum: dict[str, list[int]] = defaultdict(list)
    for index, stratum in enumerate(strata):
        by_stratum[stratum].append(index)
    for stratum in sorted(by_stratum):
        members = by_stratum[stratum]
        take = _round_half_up(len(members) * share) if len(members) > 1 else 0
        test.update(members[j] for j in rng.permutation(len(members))[:take])
    return test, "per-class"


def iterative_stratification(
    label_sets: Sequence[Iterable[str]], share: float, seed: int | str
) -> set[int]:
    """Indices of a test part holding about ``share`` of the examples *and* of every label.

    Sechidis, Tsoumakas and Vlahavas, "On the stratification of multi-label data" (2011), for
    two folds: repeatedly take the label with the fewest unassigned examples and give each of its
    examples to the fold that most lacks that label (ties: the fold that most lacks examples,
    then a seeded coin). Examples without labels fill the folds' remaining sizes.
    """
    sets = [frozenset(s) for s in label_sets]
    n = len(sets)
    rng = seeded_rng(seed)
    ratios = (share, 1.0 - share)
    desired_size = [r * n for r in ratios]
    totals = Counter(label for s in sets for label in s)
    desired = {label: [r * count for r in ratios] for label, count in totals.items()}
    fold_of: dict[int, int] = {}
    remaining = {label: [i for i in range(n) if label in sets[i]] for label in totals}

    def choose(scores: Sequence[float]) -> int:
        best = max(scores)
        tied = [f for f in (0, 1) if math.isclose(scores[f], best)]
        if len(tied) == 1:
            return tied[0]
        sizes = [desired_size[f] for f in tied]
        tied = [f for f, s in zip(tied, sizes, strict=True) if math.isclose(s, max(sizes))]
        return tied[0] if len(tied) == 1 else int(tied[rng.integers(len(tied))])

    while True:
        open_labels = {
            label: [i for i in members if i not in fold_of] for label, members in remaining.items()
        }
        open_labels = {label: members for label, members in open_labels.items() if members}
        if not open_labels:
            break
        label = min(open_labels, key=lambda lb: (len(open_labels[lb]), lb))
        members = open_labels[label]
        for j in rng.permutation(len(members)):
            index = members[j]
            fold = choose(desired[label])
            fold_of[index] = fold
            desired_size[fold] -= 1
            for other in sets[index]:
                desired[other][fold] -= 1
        remaining.pop(label)
    unlabelled = [i for i in range(n) if i not in fold_of]
    for j in rng.permutation(len(unlabelled)):
        fold = choose(desired_size)
        fold_of[unlabelled[j]] = fold
        desired_size[fold] -= 1
    return {i for i, fold in fold_of.items() if fold == 0}
