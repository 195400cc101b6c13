"""The promotion gate and rollback rules."""

import csv

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from textloop.domain.datasets.split import hash_test_set
from textloop.domain.evaluation import evaluate
from textloop.domain.promotion import (
    GateConfig,
    RollbackError,
    decide,
    plan_rollback,
    previous_model_version,
)

from textloop_ops.data import DATA_DIR

DATA = DATA_DIR
LABELS = ["Business", "SciTech", "Sports", "World"]


def evaluation(f1, per_label=None, *, mode="MULTI_CLASS", test_set_hash="t" * 64, version="v"):
    per_label = per_label or {}
    return {
        "model_version": version,
        "model_type": "DOCUMENT_CLASSIFIER",
        "mode": mode,
        "test_set_hash": test_set_hash,
        "n": 100,
        "F1Score": f1,
        "MicroF1Score": f1,
        "Accuracy": f1,
        "per_label": {
            label: {"F1Score": value, "Support": support, "Precision": 0, "Recall": 0}
            for label, (value, support) in per_label.items()
        },
    }


@pytest.fixture(scope="module")
def ag_news_evaluations():
    """Two real models on one held-out set: 1,500 training documents against 60."""
    with (DATA / "ag_news" / "train.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    test = rows[-1000:]
    test_hash = hash_test_set(
        {"key": str(i), "text": text, "labels": [label]} for i, (label, text) in enumerate(test)
    )
    out = {}
    for name, size in (("more-data", 1500), ("less-data", 60)):
        model = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, dtype=np.float32),
            LogisticRegression(C=4, solver="saga", max_iter=500),
        )
        model.fit([t for _, t in rows[:size]], [lb for lb, _ in rows[:size]])
        scores = model.predict_proba([t for _, t in test])
        out[name] = evaluate(
            [[label] for label, _ in test],
            [dict(zip(model.classes_, map(float, row), strict=True)) for row in scores],
            mode="MULTI_CLASS",
            labels=LABELS,
            test_set_hash=test_hash,
            model_version=name,
        )
    return out


def test_a_model_trained_on_more_data_passes_the_gate_and_the_worse_one_does_not(
    ag_news_evaluations,
):
    better, worse = ag_news_evaluations["more-data"], ag_news_evaluations["less-data"]
    assert better["F1Score"] > worse["F1Score"] + 0.05
    decision = decide(better, worse, {"min_improvement": 0.01})
    assert decision["promote"] is True and decision["outcome"] == "promote"
    assert decision["metric"] == "F1Score"
    assert decision["delta"] == pytest.approx(better["F1Score"] - worse["F1Score"])
    assert decision["regressions"] == []
    assert decision["reason"].startswith("Promote candidate more-data: F1Score ")

    backwards = decide(worse, better, {"min_improvement": 0.01})
    assert backwards["promote"] is False and backwards["outcome"] == "reject"
    assert "is not enough" in backwards["reason"]
    assert {r["label"] for r in backwards["regressions"]} <= set(LABELS)
    assert len(backwards["regressions"]) >= 1
    assert "label(s) regressed beyond 0.0200" in backwards["reason"]


def test_the_margin_must_be_met_and_a_tie_is_not_enough():
    active = evaluation(0.78)
    assert decide(evaluation(0.79), active, {"min_improvement": 0.02})["promote"] is False
    assert decide(evaluation(0.80), active, {"min_improvement": 0.02})["promote"] is True
    assert decide(evaluation(0.79), active, {"min_improvement": 0.005})["promote"] is True
    tie = decide(evaluation(0.78), active)
    assert tie["promote"] is False
    assert "(+0.0000, required margin 0.0000) is not enough" in tie["reason"]


def test_a_label_that_regresses_beyond_the_tolerance_blocks_promotion():
    active = evaluation(0.80, {"World": (0.90, 50), "Sports": (0.70, 50), "Rare": (0.5, 0)})
    candidate = evaluation(0.85, {"World": (0.80, 50), "Sports": (0.95, 50), "Rare": (0.0, 0)})
    decision = decide(candidate, active, {"per_label_tolerance": 0.05})
    assert decision["promote"] is False
    # Rare has no support in the test set: not judged.
    assert [r["label"] for r in decision["regressions"]] == ["World"]
    assert decision["regressions"][0]["delta"] == pytest.approx(-0.10)
    assert "1 label(s) regressed beyond 0.0500: World 0.9000→0.8000" in decision["reason"]
    assert decide(candidate, active, {"per_label_tolerance": 0.1})["promote"] is True
    # A label the candidate does not know at all regresses to 0.
    forgot = evaluation(0.85, {"Sports": (0.95, 50)})
    assert [r["label"] for r in decide(forgot, active)["regressions"]] == ["World"]


def test_different_test_sets_are_refused():
    decision = decide(
        evaluation(0.9, test_set_hash="a" * 64), evaluation(0.5, test_set_hash="b" * 64)
    )
    assert decision["promote"] is False and decision["outcome"] == "refuse"
    assert decision["reason"].startswith("Refused to compare: ")
    assert "aaaaaaaaaaaa" in decision["reason"] and "bbbbbbbbbbbb" in decision["reason"]
    no_hash = decide(evaluation(0.9, test_set_hash=None), None)
    assert no_hash["outcome"] == "refuse" and "no test_set_hash" in no_hash["reason"]
    modes = decide(evaluation(0.9), evaluation(0.5, mode="MULTI_LABEL"))
    assert modes["outcome"] == "refuse"


def test_without_an_active_model_the_candidate_must_reach_the_minimum():
    first = decide(evaluation(0.62, version="c1"), None, {"min_absolute": 0.6})
    assert first["promote"] is True and first["active"] is None and first["delta"] is None
    assert "no active model yet" in first["reason"]
    weak = decide(evaluation(0.55, version="c1"), None, {"min_absolute": 0.6})
    assert weak["promote"] is False
    assert weak["reason"] == (
        "Reject candidate c1: no active model yet, but F1Score 0.5500 is below the minimum 0.6000."
    )


def test_the_metric_defaults_by_mode_and_is_configurable():
    multi_label = evaluation(0.7, mode="MULTI_LABEL")
    assert decide(multi_label, None)["metric"] == "MicroF1Score"
    assert decide(evaluation(0.7), None)["metric"] == "F1Score"
    candidate = {**evaluation(0.7), "Accuracy": 0.9}
    active = {**evaluation(0.8), "Accuracy": 0.85}
    by_accuracy = decide(candidate, active, {"metric": "Accuracy"})
    assert by_accuracy["metric"] == "Accuracy" and by_accuracy["promote"] is True
    with pytest.raises(ValueError, match="HammingLoss"):
        GateConfig(metric="HammingLoss")
    with pytest.raises(ValueError, match="metric must be one of"):
        GateConfig(metric="f1")
    with pytest.raises(ValueError, match="unknown gate settings"):
        GateConfig.from_dict({"margin": 0.1})


HISTORY = [
    {"model_version": "v1", "promoted_at": "2025-01-01T00:00:00.000Z", "metrics": {"F1Score": 0.7}},
    {
        "model_version": "v2",
        "promoted_at": "2025-02-01T00:00:00.000Z",
        "metrics": {"F1Score": 0.75},
        "status": "TRAINED",
        "thresholds": {"default": 0.5, "per_label": {}},
    },
    {"model_version": "v3", "promoted_at": "2025-03-01T00:00:00.000Z", "metrics": {"F1Score": 0.8}},
    {"model_version": "broken", "promoted_at": None, "metrics": None, "status": "IN_ERROR"},
    {"model_version": "untested", "promoted_at": None, "metrics": None},
]


def test_rollback_to_a_named_earlier_version():
    change = plan_rollback(HISTORY, "v2", "v3", reason="v3 misroutes sports")
    assert change["changed"] is True
    assert (change["model_version"], change["previous_model_version"]) == ("v2", "v3")
    assert change["metrics"] == {"F1Score": 0.75}
    assert change["thresholds"] == {"default": 0.5, "per_label": {}}
    assert change["reason"] == "Roll back from v3 to v2: v3 misroutes sports."


def test_rollback_without_a_name_picks_the_previous_promotion():
    assert previous_model_version(HISTORY, "v3") == "v2"
    assert previous_model_version(HISTORY, "v2") == "v1"
    assert previous_model_version(HISTORY, "v1") is None
    assert plan_rollback(HISTORY, None, "v3")["model_version"] == "v2"
    with pytest.raises(RollbackError, match="nothing to roll back to"):
        plan_rollback(HISTORY, None, "v1")


def test_rollback_refuses_unknown_untrained_and_failed_versions():
    with pytest.raises(RollbackError, match=r"'v9' is not in the registry \(known: "):
        plan_rollback(HISTORY, "v9", "v3")
    with pytest.raises(RollbackError, match="status IN_ERROR"):
        plan_rollback(HISTORY, "broken", "v3")
    with pytest.raises(RollbackError, match="never trained"):
        plan_rollback(HISTORY, "untested", "v3")


def test_rolling_back_to_the_active_model_changes_nothing():
    change = plan_rollback(HISTORY, "v3", "v3")
    assert change["changed"] is False
    assert "already the active model" in change["reason"]
