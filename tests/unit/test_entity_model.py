"""The local entity recogniser (domain/entity_model.py) on the AWS-service gold documents."""

from __future__ import annotations

from datetime import UTC, datetime

import pycrfsuite
import pytest
from textloop.domain import entity_model
from textloop.domain.backends import ModelBackend
from textloop.domain.evaluation import evaluate_entities
from textloop.domain.predictions import EntitySpan

from tests.support.ner import gold_documents, split

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def gold():
    return gold_documents()


@pytest.fixture(scope="module")
def held_out(gold):
    train, test = split(gold, seed=7)
    model = entity_model.fit(train, model_version="ner-test-1", now=WHEN)
    return model, train, test


def test_gold_documents_are_the_annotated_unique_texts(gold):
    # 188 annotated lines of comprehend/train.csv, 151 distinct texts, 560 spans among them.
    assert len(gold) == 151
    assert sum(len(d["entities"]) for d in gold) == 560
    assert {s["type"] for d in gold for s in d["entities"]} == {"SERVICE", "VERSION"}


def test_tokens_keep_offsets_and_aws_names():
    text = "Amazon EC2 supports v3 of X-Ray's SDK 2.0.1 (2019-04-26) on Deep Learning AMIs."
    tokens = entity_model.tokenize(text)
    assert all(text[t.begin : t.end] == t.text for t in tokens)
    words = [t.text for t in tokens]
    assert words == [
        "Amazon", "EC2", "supports", "v3", "of", "X", "-", "Ray", "'", "s", "SDK", "2.0.1",
        "(", "2019-04-26", ")", "on", "Deep", "Learning", "AMI", "s", ".",
    ]  # fmt: skip


def test_offsets_are_python_string_indexes_beyond_ascii():
    text = "Ünïcode 😀 Amazon EC2"
    tokens = entity_model.tokenize(text)
    assert [(t.text, text[t.begin : t.end]) for t in tokens][-2:] == [
        ("Amazon", "Amazon"),
        ("EC2", "EC2"),
    ]


def test_bio_tags_and_spans_round_trip():
    text = "Release: Amazon GameLift on 2019-04-25 for AWS X-Ray."
    gold = [
        {"begin_offset": 9, "end_offset": 24, "type": "SERVICE"},
        {"begin_offset": 28, "end_offset": 38, "type": "VERSION"},
        {"begin_offset": 43, "end_offset": 52, "type": "SERVICE"},
    ]
    tokens = entity_model.tokenize(text)
    tags = entity_model.bio_tags(tokens, gold)
    assert [t for t in tags if t != "O"] == [
        "B-SERVICE", "I-SERVICE", "B-VERSION", "B-SERVICE", "I-SERVICE", "I-SERVICE", "I-SERVICE",
    ]  # fmt: skip
    confidences = [0.5 + i / 100 for i in range(len(tokens))]
    spans = entity_model.spans_of(tokens, tags, confidences)
    assert [(s.begin_offset, s.end_offset, s.type) for s in spans] == [
        (9, 24, "SERVICE"),
        (28, 38, "VERSION"),
        (43, 52, "SERVICE"),
    ]
    # The score of a span is its least confident token's.
    first = next(i for i, t in enumerate(tokens) if t.begin == 9)
    assert spans[0].score == pytest.approx(confidences[first])


def test_a_gold_span_cutting_a_word_takes_the_whole_token():
    tokens = entity_model.tokenize("AWS Budgets as a Reserved Instance")
    tags = entity_model.bio_tags(tokens, [(0, 10, "SERVICE")])  # "AWS Budget"
    assert tags[:3] == ["B-SERVICE", "I-SERVICE", "O"]


def test_sentence_punctuation_at_a_span_end_is_not_learnt_but_brackets_are():
    text = "Service improvements for Amazon Sumerian. Deep Learning AMI (Ubuntu) Version 150"
    tokens = entity_model.tokenize(text)
    gold = [(25, 41, "SERVICE"), (42, 68, "SERVICE")]  # "Amazon Sumerian." and "...(Ubuntu)"
    tags = entity_model.bio_tags(tokens, gold)
    spans = entity_model.spans_of(tokens, tags, [1.0] * len(tokens))
    assert [text[s.begin_offset : s.end_offset] for s in spans] == [
        "Amazon Sumerian",
        "Deep Learning AMI (Ubuntu)",
    ]
    # A span that is nothing but punctuation keeps its one token.
    assert entity_model.bio_tags(entity_model.tokenize("a . b"), [(2, 3, "X")]) == [
        "O",
        "B-X",
        "O",
    ]


def test_stray_inside_tags_start_a_span():
    tokens = entity_model.tokenize("a b c d")
    spans = entity_model.spans_of(
        tokens, ["I-VERSION", "I-SERVICE", "I-SERVICE", "O"], [0.9, 0.8, 0.7, 0.99]
    )
    assert [(s.begin_offset, s.end_offset, s.type, s.score) for s in spans] == [
        (0, 1, "VERSION", 0.9),
        (2, 5, "SERVICE", 0.7),
    ]


def test_held_out_entity_f1(held_out):
    # Measured 0.77-0.88 micro F1 over seeds (README "Entity recognisers: the local model");
    # well below that means the features or the span decoding broke.
    model, _, test = held_out
    backend = entity_model.EntityBackend(model)
    predictions = backend.predict([d["text"] for d in test])
    result = evaluate_entities(
        [d["entities"] for d in test], [p.entities for p in predictions], types=model.labels
    )
    assert result["MicroF1Score"] >= 0.75
    assert result["per_label"]["VERSION"]["F1Score"] >= 0.75
    assert result["per_label"]["SERVICE"]["F1Score"] >= 0.6
    for document, prediction in zip(test, predictions, strict=True):
        assert prediction.model_type == "ENTITY_RECOGNIZER" and prediction.mode is None
        assert prediction.labels == ()
        for span in prediction.entities:
            assert 0 <= span.begin_offset < span.end_offset <= len(document["text"])
            assert span.type in model.labels
            assert 0.0 < span.score <= 1.0
            assert document["text"][span.begin_offset : span.end_offset].strip()


def test_confidence_is_the_minimum_marginal_of_the_predicted_tags(held_out):
    model, _, test = held_out
    text = test[0]["text"]
    spans = entity_model.EntityBackend(model).entities(text)
    assert spans
    tokens = entity_model.tokenize(text)
    tagger = pycrfsuite.Tagger()
    tagger.open_inmemory(model.data)
    tags = tagger.tag(entity_model.sequence_features(tokens))
    for span in spans:
        inside = [i for i, t in enumerate(tokens) if span.begin_offset <= t.begin < span.end_offset]
        expected = min(tagger.marginal(tags[i], i) for i in inside)
        assert span.score == pytest.approx(expected, abs=1e-6)


def test_metadata(held_out):
    model, train, _ = held_out
    metadata = model.metadata
    assert metadata["model_type"] == "ENTITY_RECOGNIZER"
    assert metadata["mode"] is None
    assert metadata["backend"] == "local"
    assert metadata["labels"] == ["SERVICE", "VERSION"]
    assert metadata["model_version"] == "ner-test-1"
    assert metadata["trained_at"] == "2026-11-30T12:00:00.000Z"
    assert metadata["n_documents"] == len(train)
    assert metadata["n_entities"] == sum(len(d["entities"]) for d in train)
    assert metadata["thresholds"]["default"] == entity_model.DEFAULT_ENTITY_THRESHOLD == 0.9
    assert metadata["training_data_sha256"] == entity_model.training_data_sha256(
        list(reversed(train))
    )
    assert metadata["hyperparameters"] == entity_model.HYPERPARAMETERS
    assert metadata["crfsuite_version"] == "0.9.12"


def test_thresholds_given_to_fit_are_kept(gold):
    model = entity_model.fit(
        gold[:40], thresholds={"per_label": {"VERSION": 0.7}}, model_version="t", now=WHEN
    )
    assert model.metadata["thresholds"]["per_label"] == {"VERSION": 0.7}
    assert model.metadata["thresholds"]["default"] == 0.9
    assert entity_model.EntityBackend(model).thresholds["per_label"] == {"VERSION": 0.7}


def test_save_and_load_round_trip_and_training_is_deterministic(held_out):
    model, train, test = held_out
    data = entity_model.save(model)
    assert data.startswith(b"lCRF")
    assert b"\x80\x04" not in data[:2]  # not a pickle
    loaded = entity_model.load(data, model.metadata)
    texts = [d["text"] for d in test]
    assert entity_model.EntityBackend(loaded).predict(texts) == entity_model.EntityBackend(
        model
    ).predict(texts)
    again = entity_model.fit(train, model_version="ner-test-1", now=WHEN)
    assert entity_model.save(again) == data
    assert again.metadata == model.metadata


def test_load_refuses_what_it_cannot_trust(held_out):
    model, _, _ = held_out
    data = entity_model.save(model)
    with pytest.raises(entity_model.EntityArtefactError, match="artefact_format"):
        entity_model.load(data, {**model.metadata, "artefact_format": 2})
    with pytest.raises(entity_model.EntityArtefactError, match="model_type"):
        entity_model.load(data, {**model.metadata, "model_type": "DOCUMENT_CLASSIFIER"})
    with pytest.raises(entity_model.EntityArtefactError, match="crfsuite"):
        entity_model.load(b"\x80\x04\x95 a pickle", model.metadata)
    for damaged in (data[: len(data) // 2], data + b"\0"):
        # crfsuite itself would crash the process on the truncated file.
        with pytest.raises(entity_model.EntityArtefactError, match="crfsuite"):
            entity_model.load(damaged, model.metadata)


def test_backend_interface(held_out):
    model, _, _ = held_out
    backend = entity_model.EntityBackend(model)
    assert isinstance(backend, ModelBackend)
    assert backend.model_type == "ENTITY_RECOGNIZER" and backend.mode is None
    assert backend.model_version == "ner-test-1"
    assert backend.predict([]) == []
    [empty] = backend.predict(["   "])
    assert empty.entities == ()
    [found] = backend.predict(["What's new in AWS Elastic Beanstalk on 2019-04-26"])
    assert isinstance(found.entities[0], EntitySpan)
    assert ("SERVICE", "AWS Elastic Beanstalk") in {
        (e.type, "What's new in AWS Elastic Beanstalk on 2019-04-26"[e.begin_offset : e.end_offset])
        for e in found.entities
    }


def test_fit_refuses_data_without_entities():
    with pytest.raises(ValueError, match="no training documents"):
        entity_model.fit([])
    with pytest.raises(ValueError, match="no entity annotations"):
        entity_model.fit([{"text": "nothing here", "entities": []}])
