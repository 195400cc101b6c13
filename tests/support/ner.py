"""The gold AWS-service entity documents (data/aws_service_ner) for tests."""

from __future__ import annotations

import random
from typing import Any

from textloop.domain.datasets.formats import parse_entity_files

from textloop_ops.data import NER_ANNOTATIONS, NER_DOCUMENTS, require


def gold_documents() -> list[dict[str, Any]]:
    """The annotated lines of comprehend/train.csv, one per text (``text_key``; first wins):
    the file repeats some annotated texts, and a text must not be in training and test at once.
    """
    require(NER_DOCUMENTS)
    require(NER_ANNOTATIONS)
    documents = parse_entity_files(
        NER_DOCUMENTS.read_text(encoding="utf-8"),
        NER_ANNOTATIONS.read_text(encoding="utf-8"),
        "train.csv",
    )
    seen: set[str] = set()
    gold = []
    for document in documents:
        if document["entities"] and document["key"] not in seen:
            seen.add(document["key"])
            gold.append(document)
    return gold


def split(
    documents: list[dict[str, Any]], seed: int, test_share: float = 0.25
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, test)``: a seeded shuffle, the first ``test_share`` held out."""
    shuffled = list(documents)
    random.Random(seed).shuffle(shuffled)
    n_test = round(len(shuffled) * test_share)
    return shuffled[n_test:], shuffled[:n_test]
