"""The implicit-feedback rule (thresholds.route) and where thresholds come from."""

from __future__ import annotations

import pytest
from textloop.domain.predictions import EntitySpan, LabelScore, Prediction
from textloop.domain.thresholds import (
    Thresholds,
    parse_override,
    resolve_thresholds,
    route,
    tune_thresholds,
)


def multi_class(*scores: tuple[str, float]) -> Prediction:
    return Prediction(
        model_type="DOCUMENT_CLASSIFIER",
        model_version="v1",
        mode="MULTI_CLASS",
        labels=tuple(LabelScore(label, score) for label, score in scores),
    )


def multi_label(**scores: float) -> Prediction:
    return Prediction(
        model_type="DOCUMENT_CLASSIFIER",
        model_version="v1",
        mode="MULTI_LABEL",
        labels=tuple(LabelScore(label, score) for label, score in scores.items()),
    )


@pytest.mark.parametrize(
    ("top", "routed"),
    [(0.49, True), (0.5, False), (0.51, False), (0.26, True)],
)
def test_multi_class_routes_when_top_score_is_below_its_threshold(top, routed):
    rest = (1 - top) / 3
    prediction = multi_class(
        ("World", rest), ("Sports", top), ("Business", rest), ("SciTech", rest)
    )
    decision = route(prediction, Thresholds())
    assert decision.routed is routed
    assert decision.predicted_labels == ("Sports",)
    assert decision.reason == ("below_threshold" if routed else None)


def test_multi_class_uses_the_threshold_of_the_top_label():
    prediction = multi_class(("World", 0.7), ("Sports", 0.3))
    assert not route(prediction, Thresholds()).routed
    strict = Thresholds(per_label={"World": 0.8, "Sports": 0.1})
    decision = route(prediction, strict)
    assert decision.routed and decision.uncertain == ("World",)


@pytest.mark.parametrize(
    ("score", "uncertain"),
    [
        (0.39, False),  # confidently absent
        (0.4, True),  # t - band: inclusive
        (0.5, True),
        (0.599, True),
        (0.6, False),  # t + band: exclusive
        (0.95, False),  # confidently present
    ],
)
def test_multi_label_band_boundaries(score, uncertain):
    decision = route(multi_label(toxic=score, insult=0.01), Thresholds(band=0.1))
    assert decision.routed is uncertain
    assert decision.uncertain == (("toxic",) if uncertain else ())
    assert decision.reason == ("near_threshold" if uncertain else None)


def test_multi_label_assigns_labels_at_or_above_their_thresholds():
    thresholds = Thresholds(per_label={"threat": 0.2}, band=0.05)
    decision = route(multi_label(toxic=0.97, threat=0.21, insult=0.02), thresholds)
    assert decision.predicted_labels == ("toxic", "threat")
    assert decision.uncertain == ("threat",)


def test_multi_label_with_no_label_applying_is_not_routed():
    decision = route(multi_label(toxic=0.01, insult=0.02), Thresholds())
    assert not decision.routed and decision.predicted_labels == ()


def test_zero_band_turns_multi_label_routing_off():
    assert not route(multi_label(toxic=0.5), Thresholds(band=0)).routed


def test_entities_route_when_any_entity_is_below_its_type_threshold():
    prediction = Prediction(
        model_type="ENTITY_RECOGNIZER",
        model_version="ner-1",
        mode=None,
        entities=(EntitySpan(0, 9, "SERVICE", 0.99), EntitySpan(20, 30, "VERSION", 0.7)),
    )
    assert not route(prediction, Thresholds()).routed
    decision = route(prediction, Thresholds(per_label={"VERSION": 0.8}))
    assert decision.routed and decision.uncertain == ("VERSION",)
    assert decision.predicted_labels == ("SERVICE", "VERSION")
    nothing = Prediction(model_type="ENTITY_RECOGNIZER", model_version="ner-1", mode=None)
    assert not route(nothing, Thresholds()).routed


def test_layers_resolve_metadata_then_pointer_then_override():
    metadata = {"default": 0.5, "per_label": {"World": 0.6, "Sports": 0.4}, "band": 0.1}
    pointer = {"per_label": {"World": 0.7}}
    override = {"default": 0.55, "band": 0.2}
    resolved = resolve_thresholds(metadata, pointer, override)
    assert resolved.for_label("World") == 0.7
    assert resolved.for_label("Sports") == 0.4
    assert resolved.for_label("Business") == 0.55
    assert resolved.band == 0.2
    assert resolve_thresholds(None, None).to_dict() == {
        "default": 0.5,
        "per_label": {},
        "band": 0.1,
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"default": 1.5},
        {"per_label": {"A": -0.1}},
        {"band": 0.7},
        {"dfault": 0.5},
        {"default": True},
    ],
)
def test_bad_threshold_settings_fail_loudly(bad):
    with pytest.raises(ValueError):
        Thresholds().overridden(bad)


def test_parse_override_from_an_environment_variable():
    assert parse_override(None) is None
    assert parse_override("  ") is None
    assert parse_override('{"default": 0.6}') == {"default": 0.6}
    with pytest.raises(ValueError):
        parse_override("[0.6]")
    with pytest.raises(ValueError):
        parse_override('{"default": 2}')


def test_tune_thresholds_keeps_default_for_rare_labels_and_fits_separable_ones():
    truth = [{"a"} if i % 2 else set() for i in range(40)]
    scores = [{"a": 0.3 if i % 2 else 0.1, "rare": 0.9 if i == 0 else 0.0} for i in range(40)]
    truth[0] = {"rare"}
    tuned = tune_thresholds(truth, scores, ["a", "rare"], min_positives=5)
    assert tuned["rare"] == 0.5  # one positive: its best threshold would be noise
    assert 0.1 < tuned["a"] <= 0.3  # separates 0.1 (negatives) from 0.3 (positives)
