"""Evaluation on the frozen test set: scikit-learn metrics, per-label thresholds, entity spans."""

import csv
import itertools
import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    hamming_loss,
    precision_score,
    recall_score,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from textloop.domain.datasets.build import build_datasets
from textloop.domain.datasets.formats import parse_classifier_csv
from textloop.domain.datasets.split import iterative_stratification
from textloop.domain.evaluation import evaluate, evaluate_entities, scores_of, threshold_values
from textloop.domain.predictions import LabelScore, Prediction

from textloop_ops.data import DATA_DIR

DATA = DATA_DIR
JIGSAW_LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
AG_LABELS = ["Business", "SciTech", "Sports", "World"]


@pytest.fixture(scope="module")
def ag_news_run():
    """The local back-end trained on 1,500 AG News training documents, predicting the frozen
    test set of a real data set build."""
    from textloop.domain import local_model

    text = (DATA / "ag_news" / "train.csv").read_text(encoding="utf-8")
    build = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        original_documents=parse_classifier_csv(text, "MULTI_CLASS"),
        config={"seed": 7},
    )
    train = build.train[:1500]
    model = local_model.fit(
        [d["text"] for d in train], [d["labels"][0] for d in train], "MULTI_CLASS"
    )
    predictions = local_model.LocalBackend(model).predict([d["text"] for d in build.test])
    return build, predictions


@pytest.fixture(scope="module")
def jigsaw_run():
    with (DATA / "jigsaw_toxic" / "train.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    label_sets = [[lb for lb in JIGSAW_LABELS if row[lb] == "1"] for row in rows]
    test_index = iterative_stratification(label_sets, 0.2, seed=3)
    train = [i for i in range(len(rows)) if i not in test_index]
    test = sorted(test_index)
    y = np.array([[int(rows[i][lb]) for lb in JIGSAW_LABELS] for i in train])
    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, min_df=2, dtype=np.float32),
        OneVsRestClassifier(LogisticRegression(C=4, class_weight="balanced", solver="liblinear")),
    )
    model.fit([rows[i]["comment_text"] for i in train], y)
    scores = model.predict_proba([rows[i]["comment_text"] for i in test])
    truth = [label_sets[i] for i in test]
    return truth, [dict(zip(JIGSAW_LABELS, map(float, row), strict=True)) for row in scores]


def test_multi_class_metrics_match_scikit_learn_on_ag_news(ag_news_run):
    build, predictions = ag_news_run
    truth = [d["labels"] for d in build.test]
    result = evaluate(
        truth,
        predictions,
        mode="MULTI_CLASS",
        labels=AG_LABELS,
        test_set_hash=build.test_set_hash,
        model_version=predictions[0].model_version,
    )
    y_true = [t[0] for t in truth]
    y_pred = [p.labels[0].label for p in predictions]  # Prediction sorts by score
    assert result["n"] == len(build.test) == 1226
    assert result["test_set_hash"] == build.test_set_hash
    assert result["Accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert result["F1Score"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert result["Precision"] == pytest.approx(precision_score(y_true, y_pred, average="macro"))
    assert result["Recall"] == pytest.approx(recall_score(y_true, y_pred, average="macro"))
    assert result["MicroF1Score"] == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    assert result["MicroF1Score"] == pytest.approx(result["Accuracy"])  # single-label
    assert result["HammingLoss"] == pytest.approx(1 - result["Accuracy"])
    matrix = np.array(result["confusion_matrix"]["matrix"])
    assert (matrix == confusion_matrix(y_true, y_pred, labels=AG_LABELS)).all()
    for i, label in enumerate(AG_LABELS):
        assert matrix[i].sum() == result["per_label"][label]["Support"]
        assert result["per_label"][label]["F1Score"] == pytest.approx(
            f1_score(y_true, y_pred, labels=[label], average="macro")
        )
    # 1,500 documents of TF-IDF + logistic regression: measured 0.84-0.86 on this split.
    assert 0.78 < result["Accuracy"] < 0.95
    json.dumps(result, allow_nan=False)


def test_multi_label_thresholds_are_tuned_per_label_and_threat_falls_back(jigsaw_run):
    truth, scores = jigsaw_run
    result = evaluate(truth, scores, mode="MULTI_LABEL", labels=JIGSAW_LABELS)
    thresholds = result["thresholds"]
    assert thresholds["threat"]["positives"] == 1
    assert thresholds["threat"]["source"] == "default"
    assert thresholds["threat"]["value"] == 0.5
    assert "fewer than 2" in thresholds["threat"]["note"]
    assert any(w.startswith("threat:") for w in result["warnings"])

    y_true = np.array([[int(lb in t) for lb in JIGSAW_LABELS] for t in truth])
    matrix = np.array([[s[lb] for lb in JIGSAW_LABELS] for s in scores])
    cut = np.array([thresholds[lb]["value"] for lb in JIGSAW_LABELS])
    y_pred = (matrix >= cut).astype(int)
    for j, label in enumerate(JIGSAW_LABELS):
        if label == "threat":
            continue
        assert thresholds[label]["source"] == "tuned"
        # The chosen threshold is the best over every threshold the scores allow (counted
        # here with plain numpy, independently of precision_recall_curve).
        column, positive = matrix[:, j], y_true[:, j].astype(bool)
        cuts = np.unique(column)
        predicted = column[:, None] >= cuts[None, :]
        tp = (predicted & positive[:, None]).sum(axis=0)
        fp = (predicted & ~positive[:, None]).sum(axis=0)
        fn = positive.sum() - tp
        best = float((2 * tp / (2 * tp + fp + fn)).max())
        assert thresholds[label]["f1_at_threshold"] == pytest.approx(best)
        assert result["per_label"][label]["F1Score"] == pytest.approx(best)
    assert result["MicroF1Score"] == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    assert result["F1Score"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
    assert result["HammingLoss"] == pytest.approx(hamming_loss(y_true, y_pred))
    assert result["Accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert np.array(result["confusion_matrix"]["matrix"]).shape == (6, 2, 2)

    fixed = evaluate(truth, scores, mode="MULTI_LABEL", labels=JIGSAW_LABELS, tune_thresholds=False)
    assert {t["source"] for t in fixed["thresholds"].values()} == {"given"}
    # Per-label tuning can only raise each label's F1, so the macro average too.
    assert result["F1Score"] >= fixed["F1Score"]
    assert set(threshold_values(result)) == set(JIGSAW_LABELS)
    json.dumps(result, allow_nan=False)


def test_given_thresholds_accept_the_feedback_record_shape():
    truth = [["a"], [], ["a", "b"]]
    scores = [{"a": 0.65, "b": 0.2}, {"a": 0.1, "b": 0.35}, {"a": 0.9, "b": 0.3}]
    result = evaluate(
        truth,
        scores,
        mode="MULTI_LABEL",
        thresholds={"default": 0.7, "per_label": {"b": 0.25}, "band": 0.1},
        tune_thresholds=False,
    )
    assert threshold_values(result) == {"a": 0.7, "b": 0.25}
    # a: predicted for doc 3 only (0.65 < 0.7); b: docs 2 and 3.
    assert result["per_label"]["a"]["Recall"] == pytest.approx(0.5)
    assert result["per_label"]["b"]["Precision"] == pytest.approx(0.5)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="exactly one true label"):
        evaluate([["a", "b"]], [{"a": 1.0}], mode="MULTI_CLASS")
    with pytest.raises(ValueError, match="is a string"):
        evaluate(["a"], [{"a": 1.0}], mode="MULTI_CLASS")
    with pytest.raises(ValueError, match="2 true label lists but 1 predictions"):
        evaluate([["a"], ["a"]], [{"a": 1.0}], mode="MULTI_CLASS")
    with pytest.raises(ValueError, match="missing from labels"):
        evaluate([["c"]], [{"a": 1.0}], mode="MULTI_CLASS", labels=["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        evaluate([], [], mode="MULTI_LABEL")


def test_scores_come_from_predictions_in_any_shape():
    prediction = Prediction(
        model_type="DOCUMENT_CLASSIFIER",
        model_version="v1",
        mode="MULTI_CLASS",
        labels=(LabelScore("World", 0.2), LabelScore("Sports", 0.8)),
    )
    expected = {"Sports": 0.8, "World": 0.2}
    assert scores_of(prediction) == expected
    assert scores_of(prediction.prediction_dict(routed_to_review=False)) == expected
    assert scores_of([{"label": "Sports", "score": 0.8}, {"label": "World", "score": 0.2}]) == (
        expected
    )
    assert scores_of(expected) == expected


def test_entity_metrics_count_exact_span_matches():
    truth = [
        [
            {"begin_offset": 0, "end_offset": 5, "type": "SERVICE"},
            {"begin_offset": 6, "end_offset": 9, "type": "VERSION"},
        ],
        [(0, 3, "SERVICE")],
    ]
    predicted = [
        [
            {"begin_offset": 0, "end_offset": 5, "type": "SERVICE", "score": 0.9},
            {"begin_offset": 6, "end_offset": 9, "type": "SERVICE", "score": 0.8},  # wrong type
            {"begin_offset": 10, "end_offset": 12, "type": "VERSION", "score": 0.1},  # dropped
        ],
        [(4, 6, "VERSION")],
    ]
    result = evaluate_entities(truth, predicted, min_score=0.5, test_set_hash="h")
    service, version = result["per_label"]["SERVICE"], result["per_label"]["VERSION"]
    # SERVICE: 1 true positive, 1 false positive (the mistyped span), 1 missed.
    assert (service["Precision"], service["Recall"], service["Support"]) == (0.5, 0.5, 2)
    # VERSION: nothing right; one missed, one spurious.
    assert (version["Precision"], version["Recall"], version["Support"]) == (0.0, 0.0, 1)
    assert result["MicroPrecision"] == pytest.approx(1 / 3)
    assert result["MicroRecall"] == pytest.approx(1 / 3)
    assert result["F1Score"] == pytest.approx(0.25)
    assert result["labels"] == ["SERVICE", "VERSION"]
    kept_low = evaluate_entities(truth, predicted)
    assert kept_low["MicroPrecision"] == pytest.approx(1 / 4)
    json.dumps(result, allow_nan=False)


def test_a_label_the_model_never_scores_keeps_its_given_threshold():
    # A candidate trained without label "b" scores it 0 everywhere; tuning must not pick the
    # cut 0.0, which would predict "b" for every document and wreck the comparison.
    truth = [["a"], ["a", "b"], [], ["b"], []] * 4
    scores = [{"a": 0.9}, {"a": 0.8}, {"a": 0.1}, {"a": 0.2}, {"a": 0.3}] * 4
    result = evaluate(truth, scores, mode="MULTI_LABEL", labels=["a", "b"])
    assert result["thresholds"]["b"]["value"] == 0.5
    assert result["thresholds"]["b"]["source"] == "default"
    assert result["per_label"]["b"]["Recall"] == 0.0
    assert any("do not separate" in w for w in result["warnings"])
    assert result["thresholds"]["a"]["source"] == "tuned"


def _full_curve(truth, scores, label):
    from sklearn.metrics import precision_recall_curve

    y = np.array([int(label in t) for t in truth])
    return precision_recall_curve(y, np.array([s[label] for s in scores]))


def test_multi_label_results_carry_thinned_precision_recall_curves(jigsaw_run):
    from textloop.domain.evaluation import MAX_CURVE_POINTS

    truth, scores = jigsaw_run
    result = evaluate(truth, scores, mode="MULTI_LABEL", labels=JIGSAW_LABELS)
    curves = result["precision_recall_curves"]
    # threat (1 positive in the test set) was not tuned and has no curve; every other has one.
    assert set(curves) == set(JIGSAW_LABELS) - {"threat"}
    thinned = 0
    for label, curve in curves.items():
        precision, recall, cut = curve["precision"], curve["recall"], curve["thresholds"]
        assert set(curve) == {"precision", "recall", "thresholds"}
        assert len(precision) == len(recall) == len(cut) + 1 <= MAX_CURVE_POINTS
        # scikit-learn's order and convention: thresholds rise, recall falls from 1 to the
        # final (precision 1, recall 0) point that no threshold reaches.
        assert cut == sorted(cut)
        assert all(a >= b for a, b in itertools.pairwise(recall))
        assert recall[0] == 1.0 and (precision[-1], recall[-1]) == (1.0, 0.0)
        assert all(round(v, 4) == v for v in [*precision, *recall, *cut])
        # Every kept point is a point of the full curve, rounded.
        full_p, full_r, full_cut = _full_curve(truth, scores, label)
        full = {
            (round(float(p), 4), round(float(r), 4), round(float(t), 4))
            for p, r, t in zip(full_p, full_r, full_cut, strict=False)
        }
        assert set(zip(precision, recall, cut, strict=False)) <= full
        thinned += len(full_p) > len(precision)
        # The chosen threshold's point is kept, and it is the operating point of the result.
        chosen = result["thresholds"][label]
        assert chosen["source"] == "tuned"
        k = cut.index(round(chosen["value"], 4))
        assert precision[k] == pytest.approx(result["per_label"][label]["Precision"], abs=1e-4)
        assert recall[k] == pytest.approx(result["per_label"][label]["Recall"], abs=1e-4)
    assert thinned >= 3  # toxic, obscene and insult have far more than 60 cuts
    json.dumps(result, allow_nan=False)
    assert evaluate(truth, scores, mode="MULTI_LABEL", labels=JIGSAW_LABELS) == result


def test_curves_do_not_depend_on_tuning_and_keep_a_given_thresholds_point(jigsaw_run):
    truth, scores = jigsaw_run
    fixed = evaluate(truth, scores, mode="MULTI_LABEL", labels=JIGSAW_LABELS, tune_thresholds=False)
    for label, curve in fixed["precision_recall_curves"].items():
        # The operating point of 0.5 is the first cut at or above it.
        _, _, full_cut = _full_curve(truth, scores, label)
        first = full_cut[np.searchsorted(full_cut, 0.5)] if full_cut.max() >= 0.5 else None
        if first is not None:
            assert round(float(first), 4) in curve["thresholds"]
        assert curve["precision"][-1] == 1.0
        assert fixed["per_label"][label]["Support"] >= 2


def test_short_curves_are_kept_whole_and_multi_class_has_none(ag_news_run):
    truth = [["a"], ["a", "b"], [], ["b"], ["a"]]
    scores = [{"a": 0.9, "b": 0.1}, {"a": 0.8, "b": 0.7}, {"a": 0.1}, {"a": 0.6, "b": 0.9}, {}]
    result = evaluate(truth, scores, mode="MULTI_LABEL", labels=["a", "b"])
    precision, recall, cut = _full_curve(truth, [{"a": 0.0, **s} for s in scores], "a")
    assert result["precision_recall_curves"]["a"] == {
        "precision": [round(float(v), 4) for v in precision],
        "recall": [round(float(v), 4) for v in recall],
        "thresholds": [round(float(v), 4) for v in cut],
    }
    build, predictions = ag_news_run
    multi_class = evaluate([d["labels"] for d in build.test], predictions, mode="MULTI_CLASS")
    assert multi_class["precision_recall_curves"] is None
    assert evaluate_entities([[(0, 1, "X")]], [[(0, 1, "X")]])["precision_recall_curves"] is None
