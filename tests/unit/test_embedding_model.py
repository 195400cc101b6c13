"""The ``tfidf+embeddings`` local model with the real all-MiniLM-L6-v2 encoder (built by
``make setup``), its artefact without the encoder, and the embedding cache."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import joblib
import numpy as np
import pytest
from sklearn.metrics import accuracy_score
from textloop.domain import embedding_cache, embedding_model, layout, local_model
from textloop.domain.embedding_model import EncoderUnavailable

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TRAIN, TEST = slice(0, 300), slice(-200, None)


@pytest.fixture(scope="session")
def ag_news_embeddings(sentence_encoder, ag_news_rows) -> dict[str, np.ndarray]:
    """The encoder's embeddings of the texts these tests use, computed once."""
    texts = [t for _, t in ag_news_rows[TRAIN]] + [t for _, t in ag_news_rows[TEST]]
    return dict(zip(texts, sentence_encoder.encode(texts), strict=True))


@pytest.fixture(scope="session")
def embeddings_model(sentence_encoder, ag_news_rows, ag_news_embeddings):
    train = ag_news_rows[TRAIN]
    texts = [t for _, t in train]
    return local_model.fit(
        texts,
        [y for y, _ in train],
        "MULTI_CLASS",
        model_version="agnews-emb-1",
        now=NOW,
        kind="tfidf+embeddings",
        encoder=sentence_encoder,
        embeddings=np.stack([ag_news_embeddings[t] for t in texts]),
    )


def test_embeddings_beat_tfidf_alone_from_the_same_few_labels(
    embeddings_model, ag_news_rows, ag_news_embeddings
):
    train, held_out = ag_news_rows[TRAIN], ag_news_rows[TEST]
    tfidf = local_model.fit(
        [t for _, t in train], [y for y, _ in train], "MULTI_CLASS", model_version="t", now=NOW
    )
    texts, truth = [t for _, t in held_out], [y for y, _ in held_out]
    scores = {}
    for name, model in (("tfidf", tfidf), ("tfidf+embeddings", embeddings_model)):
        backend = local_model.LocalBackend(model)
        scores[name] = accuracy_score(truth, [p.top.label for p in backend.predict(texts)])
    print(f"ag_news, 300 labels, 200 held out: {scores}")
    assert scores["tfidf+embeddings"] >= scores["tfidf"] + 0.05


def test_scores_mean_what_the_tfidf_kinds_do(embeddings_model):
    backend = local_model.LocalBackend(embeddings_model)
    matrix = backend.predict_proba(["Stocks fell sharply as oil prices rose", "Federer wins"])
    assert matrix.shape == (2, 4)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
    (prediction,) = backend.predict(["Stocks fell sharply as oil prices rose"])
    assert prediction.top.label == "Business"
    assert prediction.labels[0].label == "Business"


def test_metadata_names_the_kind_the_encoder_and_the_chosen_weight(
    embeddings_model, sentence_encoder
):
    meta = embeddings_model.metadata
    assert meta["local_model"] == "tfidf+embeddings"
    assert meta["encoder"] == {"name": "all-MiniLM-L6-v2", "sha256": sentence_encoder.sha256}
    choice = meta["embedding_weight"]
    assert choice["weight"] in embedding_model.WEIGHTS
    assert choice["stratified"] is True and choice["folds"] == 3 and choice["documents"] == 300
    assert choice["scores"][str(choice["weight"])] == max(choice["scores"].values())


def test_the_tfidf_kind_is_recorded_and_old_metadata_means_tfidf(ag_news_model):
    assert ag_news_model.metadata["local_model"] == "tfidf"
    assert "encoder" not in ag_news_model.metadata
    old = {k: v for k, v in ag_news_model.metadata.items() if k != "local_model"}
    assert local_model.kind_of(old) == "tfidf" and local_model.encoder_of(old) is None
    loaded = local_model.load(local_model.save(ag_news_model), ag_news_model.metadata)
    assert loaded.kind == "tfidf"


def test_the_artefact_holds_no_encoder_and_loads_only_with_the_one_it_names(
    embeddings_model, sentence_encoder, ag_news_rows
):
    data = local_model.save(embeddings_model)
    # The encoder's weights are ~46 MB; the model without them is a few MB.
    assert len(data) < 8_000_000
    raw = joblib.load(io.BytesIO(data))
    assert raw["pipeline"].encoder is None
    assert raw["pipeline"].encoder_sha256 == sentence_encoder.sha256
    with pytest.raises(EncoderUnavailable, match=r"all-MiniLM-L6-v2 sha256 .*loaded: none"):
        local_model.load(data, embeddings_model.metadata)

    class Other:  # another build of the same encoder: a different sha256
        name, sha256, dimension = sentence_encoder.name, "f" * 64, 384

    with pytest.raises(EncoderUnavailable, match=r"loaded: sha256 f{64}"):
        local_model.load(data, embeddings_model.metadata, encoder=Other())
    loaded = local_model.load(data, embeddings_model.metadata, encoder=sentence_encoder)
    texts = [t for _, t in ag_news_rows[TEST][:20]]
    np.testing.assert_allclose(
        local_model.LocalBackend(loaded).predict_proba(texts),
        local_model.LocalBackend(embeddings_model).predict_proba(texts),
        rtol=0,
        atol=1e-6,
    )


def test_embeddings_given_equal_embeddings_computed(embeddings_model, ag_news_rows):
    """What the embedding cache hands the model is what the encoder would have computed."""
    texts = [t for _, t in ag_news_rows[TEST][:30]]
    backend = local_model.LocalBackend(embeddings_model)
    computed = backend.predict_proba(texts)
    given = backend.predict_proba(texts, embeddings=backend.encoder.encode(texts))
    np.testing.assert_array_equal(computed, given)


def test_training_without_the_encoder_fails_clearly(ag_news_rows):
    train = ag_news_rows[:40]
    with pytest.raises(EncoderUnavailable, match="needs the sentence encoder"):
        local_model.fit(
            [t for _, t in train], [y for y, _ in train], "MULTI_CLASS", kind="tfidf+embeddings"
        )
    with pytest.raises(ValueError, match="tfidf\\+embedding"):
        local_model.fit(
            [t for _, t in train], [y for y, _ in train], "MULTI_CLASS", kind="embeddings"
        )


def test_multi_label_and_too_few_documents_to_cross_validate(sentence_encoder, jigsaw_rows):
    rows = jigsaw_rows[:25]
    model = local_model.fit(
        [t for t, _ in rows],
        [sorted(y) for _, y in rows],
        "MULTI_LABEL",
        now=NOW,
        kind="tfidf+embeddings",
        encoder=sentence_encoder,
    )
    assert model.metadata["embedding_weight"] == {
        "weight": embedding_model.DEFAULT_WEIGHT,
        "reason": "25 documents: too few",
    }
    matrix = local_model.LocalBackend(model).predict_proba(["you are an idiot", "thanks!"])
    assert matrix.shape == (2, len(model.labels))
    assert ((matrix >= 0) & (matrix <= 1)).all()


def test_cross_validation_falls_back_to_plain_folds_when_a_label_is_rare(
    sentence_encoder, ag_news_rows, ag_news_embeddings
):
    # 40 documents, one of them Sports: stratified 3-fold cannot place it in every fold.
    rows = [r for r in ag_news_rows[TRAIN] if r[0] != "Sports"][:39]
    rows.append(next(r for r in ag_news_rows[TRAIN] if r[0] == "Sports"))
    texts = [t for _, t in rows]
    model = local_model.fit(
        texts,
        [y for y, _ in rows],
        "MULTI_CLASS",
        now=NOW,
        kind="tfidf+embeddings",
        encoder=sentence_encoder,
        embeddings=np.stack([ag_news_embeddings[t] for t in texts]),
    )
    choice = model.metadata["embedding_weight"]
    assert choice["stratified"] is False and choice["folds"] == 3
    assert model.labels == ["Business", "SciTech", "Sports", "World"]


# --------------------------------------------------------------------------- the cache


def test_cache_segments_round_trip_deterministically():
    digests = [embedding_cache.text_sha256(t) for t in ("a", "b", "c")]
    vectors = np.arange(3 * 384, dtype=np.float32).reshape(3, 384) / 7
    data = embedding_cache.segment_bytes(digests, vectors)
    assert embedding_cache.segment_bytes(digests, vectors) == data
    read_digests, read_vectors = embedding_cache.read_segment(data)
    assert read_digests == digests
    np.testing.assert_array_equal(read_vectors, vectors)
    with pytest.raises(ValueError):
        embedding_cache.segment_bytes(digests[:2], vectors)


def test_cache_keys_sit_below_the_encoder_artefact(sentence_encoder):
    sha = sentence_encoder.sha256
    assert layout.embedding_cache_prefix("all-MiniLM-L6-v2", sha) == (
        f"models/encoders/all-MiniLM-L6-v2/{sha}/cache/"
    )
    assert layout.embedding_cache_segment_key("all-MiniLM-L6-v2", sha, "it-1-abc") == (
        f"models/encoders/all-MiniLM-L6-v2/{sha}/cache/it-1-abc.npz"
    )
    for bad in ("", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            layout.embedding_cache_segment_key("all-MiniLM-L6-v2", sha, bad)
    with pytest.raises(ValueError):
        layout.embedding_cache_prefix("all-MiniLM-L6-v2", "not-a-sha")
