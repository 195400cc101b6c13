"""Metrics of one model on the frozen test set, computed with scikit-learn.

The result is a JSON-serialisable dict with Comprehend's metric names, so a Comprehend model's
own evaluation and the local back-end's read the same:

``Accuracy`` (multi-label: exact match of the whole label set), ``Precision``, ``Recall``,
``F1Score`` (macro averages over labels), ``MicroPrecision``, ``MicroRecall``, ``MicroF1Score``,
``HammingLoss``; plus ``per_label`` (Precision, Recall, F1Score, Support), ``confusion_matrix``
(multi-class: rows = true label, columns = predicted, in ``labels`` order; multi-label: one
``[[tn, fp], [fn, tp]]`` per label), ``thresholds`` (multi-label), ``precision_recall_curves``
(multi-label, below), ``test_set_hash`` and ``n``. Keys that do not apply to a mode are ``None``:
``thresholds`` and ``precision_recall_curves`` of MULTI_CLASS results and of entity recognisers.

Multi-label thresholds: per label, the score at the F1 maximum of the precision-recall curve of
the evaluation scores. Tuning and measuring on the same set flatters the result; both models of
a promotion decision are tuned the same way on the same set, so the comparison stays fair, and
the thresholds are the ones the promoted model will then use. A label with fewer than
``min_positives`` positives in the test set (Jigsaw's ``threat``) keeps its given threshold
(default 0.5): one or two examples do not locate a threshold, they only memorise it.

``precision_recall_curves`` (multi-label, for the evaluation figures): ``{label: {"precision":
[...], "recall": [...], "thresholds": [...]}}``, scikit-learn's ``precision_recall_curve`` of
that label, in its order (thresholds increasing, recall non-increasing) and with its convention:
``precision`` and ``recall`` have one element more than ``thresholds``, a final ``(1.0, 0.0)``
point that no threshold reaches. Curves longer than ``MAX_CURVE_POINTS`` are thinned to points
evenly spaced along the curve, always keeping both ends and the operating point of the chosen
threshold (the first cut at or above it); values are rounded to 4 decimals. Only labels with at
least ``min_positives`` positives (and at least one) have a curve, so Jigsaw's ``threat`` usually
has none; labels whose scores do not separate keep theirs. A curve is drawn from the scores
alone, so it is the same whether or not the thresholds were tuned.

Entity recognisers (``evaluate_entities``): a predicted span counts only if begin, end and type
all match a true span (exact match, CoNLL's rule). The counting is scikit-learn's
``precision_recall_fscore_support`` over spans paired by offsets, not seqeval or nervaluate:
seqeval scores BIO tag sequences, which a Comprehend model does not give (it answers character
offsets) and which would tie the metric to one tokenisation; nervaluate's "strict" schema counts
exactly the same true and false positives on spans, and scikit-learn is already in the layer
and computes the per-type and micro figures the gate and the figures read, in the classifier
result's shape. A span with the right offsets and the wrong type is one false negative of the
true type and one false positive of the predicted type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from textloop.domain.names import DEFAULT_THRESHOLD, Mode, ModelType
from textloop.domain.predictions import span_tuple

METRIC_NAMES = (
    "Accuracy",
    "Precision",
    "Recall",
    "F1Score",
    "MicroPrecision",
    "MicroRecall",
    "MicroF1Score",
    "HammingLoss",
)
MIN_POSITIVES_FOR_TUNING = 2
MAX_CURVE_POINTS = 60
CURVE_DECIMALS = 4


def scores_of(prediction: Any) -> dict[str, float]:
    """``{label: score}`` from a ``backends.base.Prediction``, its dict form (``{"labels":
    [{"label", "score"}]}``), a list of such label scores, or an existing mapping."""
    labels = getattr(prediction, "labels", None)
    if labels is None and isinstance(prediction, Mapping):
        labels = prediction.get("labels") if "labels" in prediction else None
        if labels is None:
            return {str(k): float(v) for k, v in prediction.items()}
    if labels is None:
        labels = prediction
    out: dict[str, float] = {}
    for item in labels:
        if isinstance(item, Mapping):
            out[str(item["label"])] = float(item["score"])
        else:
            out[str(item.label)] = float(item.score)
    return out


def evaluate(
    true_labels: Sequence[Sequence[str]],
    predicted_scores: Sequence[Mapping[str, float] | Any],
    *,
    mode: str,
    labels: Sequence[str] | None = None,
    thresholds: Mapping[str, float] | float | None = None,
    tune_thresholds: bool = True,
    min_positives: int = MIN_POSITIVES_FOR_TUNING,
    test_set_hash: str | None = None,
    model_version: str | None = None,
) -> dict[str, Any]:
    """Evaluate predictions against the truth (see the module docstring).

    ``true_labels``: one list of labels per test document (MULTI_CLASS: exactly one).
    ``predicted_scores``: one ``{label: score}`` (or a ``Prediction``) per document, same order.
    ``labels``: the label order of the report (default: every label seen, sorted).
    ``thresholds``: MULTI_LABEL starting thresholds (one number, or per label; missing: 0.5).
    """
    mode = Mode(mode).value
    if len(true_labels) != len(predicted_scores):
        raise ValueError(
            f"{len(true_labels)} true label lists but {len(predicted_scores)} predictions"
        )
    if not true_labels:
        raise ValueError("nothing to evaluate: the test set is empty")
    for index, truth in enumerate(true_labels):
        if isinstance(truth, str):
            raise ValueError(f"true_labels[{index}] is a string; label lists are lists")
    scores = [scores_of(p) for p in predicted_scores]
    if labels is None:
        seen = {lb for t in true_labels for lb in t} | {lb for s in scores for lb in s}
        labels = sorted(seen)
    labels = list(labels)
    matrix = np.array([[s.get(lb, 0.0) for lb in labels] for s in scores], dtype=float)
    if mode == Mode.MULTI_CLASS:
        result = _evaluate_multi_class(true_labels, matrix, labels)
    else:
        result = _evaluate_multi_label(
            true_labels, matrix, labels, thresholds, tune_thresholds, min_positives
        )
    return {
        "model_version": model_version,
        "model_type": ModelType.DOCUMENT_CLASSIFIER.value,
        "mode": mode,
        "test_set_hash": test_set_hash,
        "n": len(true_labels),
        "labels": labels,
        **result,
    }


def _averages(y_true: Any, y_pred: Any, labels: Sequence[Any]) -> dict[str, float]:
    from sklearn.metrics import precision_recall_fscore_support

    macro = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    micro = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="micro", zero_division=0
    )
    return {
        "Precision": float(macro[0]),
        "Recall": float(macro[1]),
        "F1Score": float(macro[2]),
        "MicroPrecision": float(micro[0]),
        "MicroRecall": float(micro[1]),
        "MicroF1Score": float(micro[2]),
    }


def _per_label(y_true: Any, y_pred: Any, labels: Sequence[Any], names: Sequence[str]):
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    return {
        name: {
            "Precision": float(p),
            "Recall": float(r),
            "F1Score": float(f),
            "Support": int(s),
        }
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
    }


def _evaluate_multi_class(
    true_labels: Sequence[Sequence[str]], matrix: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, confusion_matrix, hamming_loss

    wrong = [i for i, t in enumerate(true_labels) if len(t) != 1]
    if wrong:
        raise ValueError(
            f"MULTI_CLASS needs exactly one true label per document; {len(wrong)} do not "
            f"(first: index {wrong[0]}, {list(true_labels[wrong[0]])})"
        )
    unknown = sorted({t[0] for t in true_labels} - set(labels))
    if unknown:
        raise ValueError(f"true labels missing from labels: {unknown}")
    y_true = [t[0] for t in true_labels]
    # argmax takes the first of equal scores: ties go to the earlier label in `labels`.
    y_pred = [labels[int(i)] for i in matrix.argmax(axis=1)]
    return {
        "Accuracy": float(accuracy_score(y_true, y_pred)),
        **_averages(y_true, y_pred, labels),
        "HammingLoss": float(hamming_loss(y_true, y_pred)),
        "per_label": _per_label(y_true, y_pred, labels, labels),
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
        "thresholds": None,
        "precision_recall_curves": None,
        "warnings": [],
    }


def _evaluate_multi_label(
    true_labels: Sequence[Sequence[str]],
    matrix: np.ndarray,
    labels: list[str],
    thresholds: Mapping[str, float] | float | None,
    tune: bool,
    min_positives: int,
) -> dict[str, Any]:
    from sklearn.metrics import (
        accuracy_score,
        hamming_loss,
        multilabel_confusion_matrix,
        precision_recall_curve,
    )
    from sklearn.preprocessing import MultiLabelBinarizer

    unknown = sorted({lb for t in true_labels for lb in t} - set(labels))
    if unknown:
        raise ValueError(f"true labels missing from labels: {unknown}")
    y_true = MultiLabelBinarizer(classes=labels).fit_transform(true_labels)
    chosen: dict[str, dict[str, Any]] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    warnings: list[str] = []
    for j, label in enumerate(labels):
        given = _given_threshold(thresholds, label)
        positives = int(y_true[:, j].sum())
        if positives >= max(min_positives, 1):
            curves[label] = precision_recall_curve(y_true[:, j], matrix[:, j])
        if not tune:
            chosen[label] = {"value": given, "source": "given", "positives": positives}
            continue
        if positives < min_positives:
            note = (
                f"{positives} positive(s) in the test set, fewer than {min_positives}: kept {given}"
            )
            chosen[label] = _kept(given, positives, note)
            warnings.append(f"{label}: {note}")
            continue
        precision, recall, cut = curves[label]
        # The last (precision, recall) pair has no threshold (it is recall 0 by convention).
        p, r = precision[:-1], recall[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
        best = int(np.argmax(f1))
        scores = matrix[:, j]
        if float(cut[best]) <= float(scores.min()):
            # The "best" cut calls every document positive: the scores do not separate this
            # label at all (e.g. a model that never saw it scores 0 everywhere). Keep the given
            # threshold rather than a cut that predicts the label for everything.
            note = f"scores do not separate {label!r}: kept {given}"
            chosen[label] = _kept(given, positives, note)
            warnings.append(f"{label}: {note}")
            continue
        chosen[label] = {
            "value": float(cut[best]),
            "source": "tuned",
            "positives": positives,
            "f1_at_threshold": float(f1[best]),
        }
    cut_row = np.array([chosen[lb]["value"] for lb in labels])
    y_pred = (matrix >= cut_row).astype(int)
    indices = list(range(len(labels)))
    per_label_matrices = multilabel_confusion_matrix(y_true, y_pred, labels=indices)
    return {
        "Accuracy": float(accuracy_score(y_true, y_pred)),
        **_averages(y_true, y_pred, indices),
        "HammingLoss": float(hamming_loss(y_true, y_pred)),
        "per_label": _per_label(y_true, y_pred, indices, labels),
        "confusion_matrix": {
            "labels": labels,
            "layout": "per label [[tn, fp], [fn, tp]]",
            "matrix": per_label_matrices.tolist(),
        },
        "thresholds": chosen,
        "precision_recall_curves": {
            label: _thin_curve(*curves[label], chosen[label]["value"])
            for label in labels
            if label in curves
        },
        "warnings": warnings,
    }


def _thin_curve(
    precision: np.ndarray,
    recall: np.ndarray,
    cut: np.ndarray,
    threshold: float,
    max_points: int = MAX_CURVE_POINTS,
) -> dict[str, list[float]]:
    """One label's curve for the result (see the module docstring): at most ``max_points``
    (precision, recall) points, in scikit-learn's order, keeping the operating point of
    ``threshold``."""
    last = len(precision) - 1  # the final (1, 0) point, which has no threshold
    # The operating point of a threshold t is the first cut >= t (scores >= t are the scores
    # >= that cut); past the highest score nothing is predicted: the final point.
    operating = int(np.searchsorted(cut, threshold, side="left"))
    keep = np.arange(last + 1)
    if last + 1 > max_points:
        steps = np.hypot(np.diff(recall), np.diff(precision))
        along = np.concatenate([[0.0], np.cumsum(steps)])
        required = np.array([0, last - 1, last, operating])
        targets = np.linspace(0.0, along[-1], max_points - len(required))
        nearest = np.clip(np.searchsorted(along, targets, side="left"), 0, last)
        keep = np.unique(np.concatenate([required, nearest]))
    thresholds = keep[keep < last]

    def rounded(values: np.ndarray) -> list[float]:
        return [round(float(v), CURVE_DECIMALS) for v in values]

    return {
        "precision": rounded(precision[keep]),
        "recall": rounded(recall[keep]),
        "thresholds": rounded(cut[thresholds]),
    }


def _kept(given: float, positives: int, note: str) -> dict[str, Any]:
    """A label whose threshold was not tuned: the given one stays, with why."""
    return {"value": given, "source": "default", "positives": positives, "note": note}


def _given_threshold(thresholds: Mapping[str, float] | float | None, label: str) -> float:
    if thresholds is None:
        return DEFAULT_THRESHOLD
    if isinstance(thresholds, int | float):
        return float(thresholds)
    if "per_label" in thresholds or "default" in thresholds:
        # The ``thresholds`` object of feedback records and model metadata.
        per_label = thresholds.get("per_label") or {}
        return float(per_label.get(label, thresholds.get("default", DEFAULT_THRESHOLD)))
    return float(thresholds.get(label, DEFAULT_THRESHOLD))


def threshold_values(result: Mapping[str, Any]) -> dict[str, float]:
    """``{label: threshold}`` of a MULTI_LABEL evaluation (for the model's metadata)."""
    return {label: t["value"] for label, t in (result.get("thresholds") or {}).items()}


def evaluate_entities(
    true_entities: Sequence[Iterable[Any]],
    predicted_entities: Sequence[Iterable[Any]],
    *,
    types: Sequence[str] | None = None,
    min_score: Mapping[str, float] | float | None = None,
    test_set_hash: str | None = None,
    model_version: str | None = None,
) -> dict[str, Any]:
    """Exact-match span metrics per entity type (spans as dicts or ``(begin, end, type)``).

    Spans are paired before scikit-learn counts them: an exact match is ``(type, type)``; a true
    and a predicted span on the same offsets with different types are ``(true, predicted)``; an
    unmatched true span is ``(type, "")`` and an unmatched prediction ``("", type)``. ``""``
    (never a valid entity type) is left out of the reported labels, so it only feeds false
    positives and negatives. ``min_score`` drops predicted spans scoring below it.
    """
    if len(true_entities) != len(predicted_entities):
        raise ValueError("true and predicted entity lists differ in length")
    y_true: list[str] = []
    y_pred: list[str] = []
    for truth, predicted in zip(true_entities, predicted_entities, strict=True):
        true_set = {span_tuple(s) for s in truth}
        pred_set = set()
        for s in predicted:
            span = span_tuple(s)
            score = s.get("score") if isinstance(s, Mapping) else getattr(s, "score", None)
            if score is not None and score < _given_threshold(min_score or 0.0, span[2]):
                continue
            pred_set.add(span)
        for span in sorted(true_set & pred_set):
            y_true.append(span[2])
            y_pred.append(span[2])
        left = {(b, e): kind for b, e, kind in sorted(pred_set - true_set)}
        for begin, end, kind in sorted(true_set - pred_set):
            y_true.append(kind)
            y_pred.append(left.pop((begin, end), ""))
        for kind in left.values():
            y_true.append("")
            y_pred.append(kind)
    names = sorted((set(types or ()) | set(y_true) | set(y_pred)) - {""})
    if not names:
        raise ValueError("nothing to evaluate: no entity types in truth, predictions or types")
    averages = _averages(y_true, y_pred, names) if y_true else dict.fromkeys(METRIC_NAMES, 0.0)
    return {
        "model_version": model_version,
        "model_type": ModelType.ENTITY_RECOGNIZER.value,
        "mode": None,
        "test_set_hash": test_set_hash,
        "n": len(true_entities),
        "labels": names,
        "Accuracy": None,
        "Precision": averages["Precision"],
        "Recall": averages["Recall"],
        "F1Score": averages["F1Score"],
        "MicroPrecision": averages["MicroPrecision"],
        "MicroRecall": averages["MicroRecall"],
        "MicroF1Score": averages["MicroF1Score"],
        "HammingLoss": None,
        "per_label": _per_label(y_true, y_pred, names, names) if y_true else {},
        "confusion_matrix": None,
        "thresholds": None,
        "precision_recall_curves": None,
        "warnings": [],
    }


def summary_metrics(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers of an evaluation, kept in the model registry (the full evaluation
    stays in the data lake)."""
    out = {name: evaluation.get(name) for name in METRIC_NAMES if name in evaluation}
    out["test_set_hash"] = evaluation.get("test_set_hash")
    out["n"] = evaluation.get("n")
    return out
