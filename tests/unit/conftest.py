"""Fixtures for the unit tests of the shared ``textloop`` package (no network, no LocalStack)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from textloop_ops.data import DATA_DIR, MissingData, require

# Property-based tests (test_properties.py) run the same examples on every machine: no example
# database, derandomized, no deadline (a loaded CI runner is not a failure).
settings.register_profile(
    "textloop",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("textloop")

JIGSAW_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")


def data_file(*parts: str) -> Path:
    path = DATA_DIR.joinpath(*parts)
    try:
        require(path)
    except MissingData as exc:
        pytest.fail(str(exc))
    return path


@pytest.fixture
def now() -> datetime:
    return datetime(2025, 11, 23, 2, 27, 3, 324000, tzinfo=UTC)


@pytest.fixture(scope="session")
def ag_news_rows() -> list[tuple[str, str]]:
    """(label, text) pairs of ag_news/train.csv (Comprehend multi-class CSV, no header)."""
    with data_file("ag_news", "train.csv").open(encoding="utf-8", newline="") as handle:
        return [(row[0], row[1]) for row in csv.reader(handle)]


@pytest.fixture(scope="session")
def jigsaw_rows() -> list[tuple[str, frozenset[str]]]:
    with data_file("jigsaw_toxic", "train.csv").open(encoding="utf-8", newline="") as handle:
        return [
            (row["comment_text"], frozenset(lb for lb in JIGSAW_LABELS if row[lb] == "1"))
            for row in csv.DictReader(handle)
        ]


@pytest.fixture(scope="session")
def ag_news_model(ag_news_rows):
    """A local multi-class model trained once per session on the first 1,600 rows."""
    from textloop.domain import local_model

    train = ag_news_rows[:1600]
    return local_model.fit(
        [t for _, t in train],
        [label for label, _ in train],
        "MULTI_CLASS",
        model_version="agnews-test-1",
        now=datetime(2025, 11, 1, tzinfo=UTC),
    )


@pytest.fixture(scope="session")
def encoder_artefact() -> bytes:
    """The sentence-encoder artefact that `make setup` builds (textloop_ops/encoder.py)."""
    from textloop_ops.encoder import built_artefact

    try:
        return built_artefact().read_bytes()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def sentence_encoder(encoder_artefact):
    """all-MiniLM-L6-v2 in numpy, loaded once per session (~0.6 s)."""
    from textloop.domain.sentence_encoder import SentenceEncoder

    return SentenceEncoder.from_artefact(encoder_artefact)
