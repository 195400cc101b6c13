"""The local scikit-learn back-end on real data: accuracy, multi-label F1, artefacts."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import joblib
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score
from textloop.domain import local_model
from textloop.domain.backends import ModelBackend
from textloop.domain.thresholds import Thresholds, route, tune_thresholds

from .conftest import JIGSAW_LABELS


def test_multi_class_accuracy_on_held_out_ag_news(ag_news_model, ag_news_rows):
    held_out = ag_news_rows[-400:]  # never seen: the model trained on the first 1,600
    backend = local_model.LocalBackend(ag_news_model)
    predictions = backend.predict([t for _, t in held_out])
    accuracy = accuracy_score([y for y, _ in held_out], [p.top.label for p in predictions])
    print(f"ag_news held-out accuracy (1,600 train / 400 test): {accuracy:.3f}")
    assert accuracy > 0.75


def test_predictions_have_every_label_ranked(ag_news_model):
    backend = local_model.LocalBackend(ag_news_model)
    assert isinstance(backend, ModelBackend)
    (prediction,) = backend.predict(["Stocks fell sharply as oil prices rose"])
    assert prediction.model_type == "DOCUMENT_CLASSIFIER"
    assert prediction.mode == "MULTI_CLASS"
    assert prediction.model_version == "agnews-test-1"
    assert sorted(ls.label for ls in prediction.labels) == [
        "Business",
        "SciTech",
        "Sports",
        "World",
    ]
    scores = [ls.score for ls in prediction.labels]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-4)
    assert prediction.top.label == "Business"
    assert backend.predict([]) == []


def test_metadata_describes_the_model(ag_news_model, ag_news_rows):
    meta = ag_news_model.metadata
    assert meta["labels"] == ["Business", "SciTech", "Sports", "World"]
    assert meta["mode"] == "MULTI_CLASS" and meta["model_type"] == "DOCUMENT_CLASSIFIER"
    assert meta["thresholds"] == {"default": 0.5, "per_label": {}, "band": 0.1}
    assert meta["trained_at"] == "2025-11-01T00:00:00.000Z"
    assert meta["n_documents"] == 1600
    assert re.fullmatch(r"[0-9a-f]{64}", meta["training_data_sha256"])
    train = ag_news_rows[:1600]
    reordered = list(reversed(train))
    assert meta["training_data_sha256"] == local_model.training_data_sha256(
        [t for _, t in reordered], [y for y, _ in reordered]
    )


def test_default_model_version_is_a_valid_version_name():
    model = local_model.fit(
        ["good game", "great match", "stocks fell", "markets rose"],
        ["Sports", "Sports", "Business", "Business"],
        "MULTI_CLASS",
        now=datetime(2025, 11, 23, 2, 3, 4, tzinfo=UTC),
    )
    assert re.fullmatch(r"local-20251123020304-[0-9a-f]{8}", model.model_version)


def test_save_and_load_round_trip(ag_news_model):
    data = local_model.save(ag_news_model)
    loaded = local_model.load(data, ag_news_model.metadata)
    texts = ["The team won the cup final", "New chip doubles battery life"]
    before = local_model.LocalBackend(ag_news_model).predict(texts)
    after = local_model.LocalBackend(loaded).predict(texts)
    assert before == after
    assert loaded.metadata == ag_news_model.metadata


def test_version_mismatch_is_refused_before_unpickling(ag_news_model):
    older = {**ag_news_model.metadata, "sklearn_version": "0.24.2"}
    # Not even a pickle: the check must come first.
    with pytest.raises(local_model.ArtefactError, match=r"scikit-learn 0\.24\.2"):
        local_model.load(b"definitely not a pickle", older)


def test_foreign_pickles_and_mismatched_metadata_are_refused(ag_news_model):
    buffer = io.BytesIO()
    joblib.dump({"something": "else"}, buffer)
    with pytest.raises(local_model.ArtefactError, match="not a textloop"):
        local_model.load(buffer.getvalue())
    other = {**ag_news_model.metadata, "model_version": "someone-else"}
    with pytest.raises(local_model.ArtefactError, match="model_version"):
        local_model.load(local_model.save(ag_news_model), other)


@pytest.mark.parametrize(
    ("texts", "labels", "mode", "message"),
    [
        (["a", "b"], ["X", "X"], "MULTI_CLASS", "two distinct labels"),
        (["a", "b"], [["X"], ["Y"]], "MULTI_CLASS", "exactly one label"),
        (["a", "b"], ["X", "Y"], "MULTI_LABEL", "collection of labels"),
        (["a"], ["X", "Y"], "MULTI_CLASS", "1 texts but 2"),
        ([], [], "MULTI_CLASS", "no training documents"),
        (["a", "b"], ["X", "Y"], "SOMETIMES", "unknown mode"),
    ],
)
def test_fit_rejects_bad_training_data(texts, labels, mode, message):
    with pytest.raises(ValueError, match=message):
        local_model.fit(texts, labels, mode)


def test_multi_label_on_jigsaw(jigsaw_rows):
    # 2,400 to train, 600 to tune per-label thresholds, 1,000 to test (never seen).
    train, tune, test = jigsaw_rows[:2400], jigsaw_rows[2400:3000], jigsaw_rows[3000:]
    model = local_model.fit([t for t, _ in train], [y for _, y in train], "MULTI_LABEL")
    assert model.labels == sorted(JIGSAW_LABELS)
    backend = local_model.LocalBackend(model)
    predictions = backend.predict([t for t, _ in test])
    assert all(0 <= s.score <= 1 for p in predictions for s in p.labels)
    truth = np.array([[label in y for label in model.labels] for _, y in test])

    def micro_f1(thresholds: Thresholds) -> float:
        assigned = [set(route(p, thresholds).predicted_labels) for p in predictions]
        guess = np.array([[label in a for label in model.labels] for a in assigned])
        return f1_score(truth, guess, average="micro", zero_division=0)

    tune_scores = [
        {ls.label: ls.score for ls in p.labels} for p in backend.predict([t for t, _ in tune])
    ]
    tuned = tune_thresholds([y for _, y in tune], tune_scores, model.labels)
    default_f1, tuned_f1 = micro_f1(Thresholds()), micro_f1(Thresholds(per_label=tuned))
    print(
        f"jigsaw micro-F1 (2,400 train / 600 tune / 1,000 test): {default_f1:.3f} at 0.5, "
        f"{tuned_f1:.3f} with tuned thresholds {tuned}"
    )
    assert default_f1 > 0.45
    # `threat` has too few positives in the tuning slice to move off the default.
    assert tuned["threat"] == 0.5
