"""Entity recognisers through evaluation, the gate, the figure and the iteration input: scored
by exact span and type, compared per type with the regression tolerance."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from textloop.domain import figures
from textloop.domain.evaluation import evaluate_entities
from textloop.domain.iteration import DEFAULTS, IterationConfig, IterationInput
from textloop.domain.promotion import GateConfig, decide

HASH = "e" * 64
TEXT = "Amazon EC2 on 2019-04-26 and AWS X-Ray 2.0.1"
SERVICE_1, VERSION_1 = (0, 10, "SERVICE"), (14, 24, "VERSION")
SERVICE_2, VERSION_2 = (29, 38, "SERVICE"), (39, 44, "VERSION")
TRUTH = [[SERVICE_1, VERSION_1, SERVICE_2, VERSION_2]] * 5


def scored(predicted, version):
    return evaluate_entities(TRUTH, predicted, test_set_hash=HASH, model_version=version)


def test_entity_metrics_count_exact_spans_per_type_and_micro():
    # Per document: both services, one version right, one version a token short.
    predicted = [[SERVICE_1, VERSION_1, SERVICE_2, (39, 42, "VERSION")]] * 5
    result = scored(predicted, "c")
    assert result["per_label"]["SERVICE"]["F1Score"] == 1.0
    assert result["per_label"]["VERSION"] == {
        "Precision": 0.5,
        "Recall": 0.5,
        "F1Score": 0.5,
        "Support": 10,
    }
    assert result["MicroF1Score"] == pytest.approx(0.75)
    assert result["model_type"] == "ENTITY_RECOGNIZER" and result["mode"] is None
    # The right offsets with the wrong type: a miss of the true type and a false alarm.
    swapped = scored([[SERVICE_1, (14, 24, "SERVICE"), SERVICE_2, VERSION_2]] * 5, "s")
    assert swapped["per_label"]["VERSION"]["Recall"] == 0.5
    assert swapped["per_label"]["SERVICE"]["Precision"] == pytest.approx(10 / 15)


def test_the_default_entity_metric_is_micro_f1_and_a_better_candidate_is_promoted():
    active = scored([[SERVICE_1, VERSION_1, SERVICE_2]] * 5, "a")
    candidate = scored([[SERVICE_1, VERSION_1, SERVICE_2, VERSION_2]] * 5, "c")
    decision = decide(candidate, active, GateConfig())
    assert decision["metric"] == "MicroF1Score"
    assert decision["outcome"] == "promote" and decision["regressions"] == []
    assert decision["delta"] == pytest.approx(1.0 - active["MicroF1Score"])


def test_a_type_that_regresses_beyond_the_tolerance_blocks_a_better_micro_f1():
    # The active model finds every version and one service in two; the candidate finds every
    # service but, in four documents of five, one version in two: micro F1 goes up (16 of 20
    # spans against 15), VERSION's F1 falls from 1.0 to 0.75.
    active = scored([[SERVICE_1, VERSION_1, VERSION_2]] * 5, "a")
    candidate = scored([[SERVICE_1, SERVICE_2, VERSION_1]] * 4 + [TRUTH[0]], "c")
    assert candidate["MicroF1Score"] > active["MicroF1Score"]
    decision = decide(candidate, active, GateConfig(per_label_tolerance=0.05))
    assert decision["outcome"] == "reject"
    [regression] = decision["regressions"]
    assert regression["label"] == "VERSION" and regression["active"] == 1.0
    assert regression["candidate"] == pytest.approx(candidate["per_label"]["VERSION"]["F1Score"])
    assert "VERSION 1.0000" in decision["reason"]
    # A tolerance wide enough for the drop lets the better micro F1 through.
    assert decide(candidate, active, GateConfig(per_label_tolerance=0.4))["promote"] is True


def test_a_type_the_candidate_never_predicts_regresses_to_zero():
    active = scored([[SERVICE_1, VERSION_1, SERVICE_2, VERSION_2]] * 5, "a")
    candidate = scored([[SERVICE_1, SERVICE_2]] * 5, "c")
    decision = decide(candidate, active, GateConfig(per_label_tolerance=0.5))
    assert [r["label"] for r in decision["regressions"]] == ["VERSION"]
    assert decision["regressions"][0]["candidate"] == 0.0


def test_recognisers_scored_on_different_test_sets_or_against_a_classifier_are_not_compared():
    candidate = scored(TRUTH, "c")
    other = evaluate_entities(TRUTH, TRUTH, test_set_hash="f" * 64, model_version="a")
    assert decide(candidate, other)["outcome"] == "refuse"
    classifier = {**other, "test_set_hash": HASH, "model_type": "DOCUMENT_CLASSIFIER"}
    classifier["mode"] = "MULTI_CLASS"
    assert decide(candidate, classifier)["outcome"] == "refuse"


def test_per_type_f1_bars_show_candidate_beside_active():
    active = scored([[SERVICE_1, VERSION_1, VERSION_2]] * 5, "active-1")
    candidate = scored([[SERVICE_1, SERVICE_2, VERSION_1]] * 5, "candidate-2")
    figure = figures.entity_f1_figure(candidate, active, title="candidate-2 · test set e")
    assert set(figure.cells) == {
        (group, role)
        for group in ("SERVICE", "VERSION", "micro")
        for role in ("candidate", "active")
    }
    # Bar length is proportional to F1 (VERSION: 1.0 active, 0.667 candidate).
    width = {key: box[2] - box[0] for key, box in figure.cells.items()}
    f1 = {
        (group, role): (
            evaluation["MicroF1Score"]
            if group == "micro"
            else evaluation["per_label"][group]["F1Score"]
        )
        for group, role in figure.cells
        for evaluation in [candidate if role == "candidate" else active]
    }
    assert f1[("VERSION", "candidate")] == pytest.approx(2 / 3)
    longest = width[("VERSION", "active")]
    for key, value in f1.items():
        assert width[key] == pytest.approx(longest * value, abs=1.5), key
    texts = [text for text, _ in figure.texts]
    assert "support 10" in texts and "candidate candidate-2" in texts and "0.667" in texts
    image = Image.open(io.BytesIO(figure.png()))
    assert image.format == "PNG" and image.width > 400
    assert figure.png() == figures.entity_f1_png(
        candidate, active, title="candidate-2 · test set e"
    )
    alone = figures.entity_f1_figure(candidate, None, title="first")
    assert {role for _, role in alone.cells} == {"candidate"}
    with pytest.raises(ValueError, match="not an entity recogniser"):
        figures.entity_f1_png({"model_type": "DOCUMENT_CLASSIFIER"}, None, title="x")


def test_the_iteration_input_takes_entity_recognisers_without_a_mode():
    parsed = IterationInput.parse(
        {"model_type": "ENTITY_RECOGNIZER", "config": {"review_budget": 0}},
        IterationConfig.from_dict(DEFAULTS),
    )
    assert parsed.model_type == "ENTITY_RECOGNIZER" and parsed.mode is None
    assert parsed.config.review_budget == 0
    assert IterationInput.errors({"model_type": "ENTITY_RECOGNIZER"}) == []
    [error] = IterationInput.errors({"model_type": "PII_DETECTOR"})
    assert error.field == "model_type"
