"""The gold AWS-service entity documents (data/aws_service_ner) for tests."""

from __future__ import annotations

import random
from typing import Any

from textloop_ops.entity_gold import comprehend_gold_documents as gold_documents

__all__ = ["gold_documents", "split"]


def split(
    documents: list[dict[str, Any]], seed: int, test_share: float = 0.25
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, test)``: a seeded shuffle, the first ``test_share`` held out."""
    shuffled = list(documents)
    random.Random(seed).shuffle(shuffled)
    n_test = round(len(shuffled) * test_share)
    return shuffled[n_test:], shuffled[:n_test]
