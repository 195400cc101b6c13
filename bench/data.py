"""The two benchmark tasks, read from the shared data folder and split once.

Both tasks are deduplicated by ``annotations.text_key`` before splitting, first row wins, the
way ``datasets.build_datasets`` keys documents: a text must not sit in the pool and in the test
set at once, or the benchmark would reward memorisation.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from textloop.domain.datasets.formats import parse_classifier_csv
from textloop.domain.datasets.split import iterative_stratification
from textloop.domain.hashing import text_key
from textloop.domain.names import Mode

from textloop_ops.data import DATA_DIR

JIGSAW_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
TEST_SHARE = 0.2
SPLIT_SEED = 20240601


@dataclass(frozen=True)
class Task:
    """A fixed split: the unlabelled pool the loop draws from and the held-out test set.

    ``pool_labels``/``test_labels``: MULTI_CLASS one label (str) per text, MULTI_LABEL a tuple of
    labels (possibly empty) per text, i.e. what ``backends.local.fit`` takes.
    """

    name: str
    mode: str
    labels: tuple[str, ...]
    pool_texts: tuple[str, ...]
    pool_labels: tuple
    test_texts: tuple[str, ...]
    test_labels: tuple
    duplicates_dropped: int
    split: str

    def true_label_lists(self) -> list[list[str]]:
        """Test labels in the shape ``evaluation.evaluate`` wants (a list per document)."""
        if self.mode == Mode.MULTI_CLASS:
            return [[y] for y in self.test_labels]
        return [list(y) for y in self.test_labels]


def _dedupe(rows: list[tuple[str, object]]) -> tuple[list[tuple[str, object]], int]:
    seen: set[str] = set()
    kept = []
    for text, labels in rows:
        key = text_key(text)
        if key in seen:
            continue
        seen.add(key)
        kept.append((text, labels))
    return kept, len(rows) - len(kept)


def load_ag_news(data_dir: Path = DATA_DIR) -> Task:
    """AG News (4 topics), 20 % stratified test split with a fixed seed."""
    from sklearn.model_selection import train_test_split

    # The project's own parser: it handles the RFC 4180 quoting (doubled quotes) of the file.
    documents = parse_classifier_csv(
        (data_dir / "ag_news" / "train.csv").read_text(encoding="utf-8"), Mode.MULTI_CLASS
    )
    rows, dropped = _dedupe([(d["text"], d["labels"][0]) for d in documents])
    indices = list(range(len(rows)))
    # The same call datasets._split_multi_class makes when every class has two documents.
    pool_idx, test_idx = train_test_split(
        indices,
        test_size=TEST_SHARE,
        stratify=[y for _, y in rows],
        random_state=SPLIT_SEED,
    )
    return Task(
        name="ag_news",
        mode=Mode.MULTI_CLASS.value,
        labels=tuple(sorted({y for _, y in rows})),
        pool_texts=tuple(rows[i][0] for i in pool_idx),
        pool_labels=tuple(rows[i][1] for i in pool_idx),
        test_texts=tuple(rows[i][0] for i in test_idx),
        test_labels=tuple(rows[i][1] for i in test_idx),
        duplicates_dropped=dropped,
        split=f"train_test_split(stratify, test_size={TEST_SHARE}, random_state={SPLIT_SEED})",
    )


def load_jigsaw(data_dir: Path = DATA_DIR) -> Task:
    """Jigsaw toxic comments, six labels, no ``clean`` label (a clean comment has none).

    A ``clean`` label would make every document carry a label, but it is not something a
    reviewer is asked about, and with a 0.5 threshold it would dominate micro-F1 (90 % of the
    documents are clean) and hide what the benchmark is about: finding the toxic ones.
    """
    with (data_dir / "jigsaw_toxic" / "train.csv").open(encoding="utf-8", newline="") as handle:
        raw = [
            (row["comment_text"], tuple(lb for lb in JIGSAW_LABELS if row[lb] == "1"))
            for row in csv.DictReader(handle)
        ]
    rows, dropped = _dedupe(raw)
    # The project's multi-label split (iterative stratification): every label, threat included,
    # gets its share of the test set as far as its count allows.
    test_index = iterative_stratification([y for _, y in rows], TEST_SHARE, SPLIT_SEED)
    pool = [r for i, r in enumerate(rows) if i not in test_index]
    test = [r for i, r in enumerate(rows) if i in test_index]
    return Task(
        name="jigsaw_toxic",
        mode=Mode.MULTI_LABEL.value,
        labels=JIGSAW_LABELS,
        pool_texts=tuple(t for t, _ in pool),
        pool_labels=tuple(y for _, y in pool),
        test_texts=tuple(t for t, _ in test),
        test_labels=tuple(y for _, y in test),
        duplicates_dropped=dropped,
        split=f"datasets.iterative_stratification(share={TEST_SHARE}, seed={SPLIT_SEED})",
    )


TASKS = {"ag_news": load_ag_news, "jigsaw_toxic": load_jigsaw}
