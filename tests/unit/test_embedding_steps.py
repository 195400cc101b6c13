"""Train and the loaders on moto's S3 with ``local_model = "tfidf+embeddings"``: the encoder
read from the lake by the sha256 Terraform names, the embedding cache (an iteration embeds only
texts no earlier one did), and a model whose encoder is gone failing clearly."""

from __future__ import annotations

import boto3
import numpy as np
import pytest
from textloop.adapters import encoder_store
from textloop.adapters.encoder_store import EncoderStore
from textloop.adapters.stack import Stack
from textloop.domain import embedding_cache, layout
from textloop.domain.datasets.formats import write_files
from textloop.domain.embedding_model import EncoderUnavailable
from textloop.domain.iteration import Iteration, IterationConfig
from textloop.steps import train

BUCKET = "textloop-embedding-test"
ENCODER = "all-MiniLM-L6-v2"


@pytest.fixture
def ctx(aws, encoder_artefact, tmp_path, monkeypatch):
    # Each test starts as a cold process in a fresh sandbox: nothing loaded, nothing in /tmp.
    monkeypatch.setattr(encoder_store, "DEFAULT_TMP_DIR", tmp_path / "encoders")
    encoder_store.forget_loaded()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    key = EncoderStore(s3, BUCKET).put(ENCODER, encoder_artefact)
    sha = layout.encoder_artefact_sha256(key)
    yield Stack({"DATA_LAKE_BUCKET": BUCKET, "SENTENCE_ENCODER_SHA256": sha})
    encoder_store.forget_loaded()


def iteration(iteration_id: str, **config) -> Iteration:
    return Iteration(
        iteration_id=iteration_id,
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:textloop:{iteration_id}",
        started_at="2026-12-01T10:00:00.000Z",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        config=IterationConfig(**config),
        lock={},
    )


def put_dataset(ctx: Stack, version: str, rows: list[tuple[str, str]]) -> dict:
    documents = [{"text": t, "labels": [y]} for y, t in rows]
    for name, body in write_files("DOCUMENT_CLASSIFIER", "MULTI_CLASS", documents, [], "|").items():
        ctx.lake.put_text(layout.dataset_key(version, name), body, "text/csv")
    return {
        "dataset_version": version,
        "train_uri": ctx.lake.uri(layout.dataset_key(version, "train.csv")),
        "test_uri": ctx.lake.uri(layout.dataset_key(version, "test.csv")),
        "manifest_key": layout.dataset_key(version, "manifest.json"),
        "test_set_hash": "0" * 64,
    }


def cache_segments(ctx: Stack) -> dict[str, list[bytes]]:
    sha = ctx.required("SENTENCE_ENCODER_SHA256")
    keys = ctx.lake.keys(layout.embedding_cache_prefix(ENCODER, sha))
    return {k: embedding_cache.read_segment(ctx.lake.get_bytes(k))[0] for k in keys}


def test_train_embeds_only_new_texts_and_records_the_encoder(ctx, ag_news_rows):
    first_rows, new_rows = ag_news_rows[:90], ag_news_rows[90:120]
    first = iteration("it-emb-1", local_model="tfidf+embeddings")
    result = train.run(
        ctx, {"iteration": first.to_dict(), "dataset": put_dataset(ctx, "ds-1", first_rows)}
    )
    assert result["status"] == "TRAINED"
    assert result["job"]["local_model"] == "tfidf+embeddings"
    metadata = ctx.artefacts.get_metadata(result["model_version"])
    assert metadata["local_model"] == "tfidf+embeddings"
    assert metadata["encoder"] == {
        "name": ENCODER,
        "sha256": ctx.required("SENTENCE_ENCODER_SHA256"),
    }
    segments = cache_segments(ctx)
    assert len(segments) == 1
    (written,) = segments.values()
    assert set(written) == {embedding_cache.text_sha256(t) for _, t in first_rows}

    # The next iteration's data set: the same documents and 30 new ones. Only those 30 are
    # embedded; the cache's new segment holds exactly them.
    second = iteration("it-emb-2", local_model="tfidf+embeddings")
    event = {
        "iteration": second.to_dict(),
        "dataset": put_dataset(ctx, "ds-2", first_rows + new_rows),
    }
    again = train.run(ctx, event)
    after = cache_segments(ctx)
    (added,) = (digests for key, digests in after.items() if key not in segments)
    assert set(added) == {embedding_cache.text_sha256(t) for _, t in new_rows}
    assert again["model_version"].startswith("it-emb-2-")
    # A retried step finds the trained version: the same answer, nothing embedded or written.
    assert train.run(ctx, event) == again
    assert cache_segments(ctx).keys() == after.keys()


def test_the_classify_path_loads_the_encoder_the_model_names(ctx, ag_news_rows):
    it = iteration("it-emb-3", local_model="tfidf+embeddings")
    result = train.run(
        ctx, {"iteration": it.to_dict(), "dataset": put_dataset(ctx, "ds-3", ag_news_rows[:60])}
    )
    uri = result["job"]["artefact_uri"]
    encoder_store.forget_loaded()  # a cold classify Lambda
    backend = Stack({"DATA_LAKE_BUCKET": BUCKET}).artefacts.load_local_backend(uri)
    (prediction,) = backend.predict(["Stocks fell sharply as oil prices rose"])
    assert prediction.model_version == result["model_version"]
    assert sum(ls.score for ls in prediction.labels) == pytest.approx(1.0, abs=1e-4)

    # The encoder artefact gone from the lake (and from this sandbox): loading fails, naming it.
    sha = ctx.required("SENTENCE_ENCODER_SHA256")
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=layout.encoder_artefact_key(ENCODER, sha))
    encoder_store.forget_loaded()
    for cached in encoder_store.DEFAULT_TMP_DIR.glob("*"):
        cached.unlink()
    with pytest.raises(EncoderUnavailable, match=f"needs encoder {ENCODER} sha256 {sha}"):
        Stack({"DATA_LAKE_BUCKET": BUCKET}).artefacts.load_local_backend(uri)


def test_tfidf_is_the_default_and_needs_no_encoder(ctx, ag_news_rows):
    it = iteration("it-tfidf-1")
    assert it.config.local_model == "tfidf"
    result = train.run(
        ctx, {"iteration": it.to_dict(), "dataset": put_dataset(ctx, "ds-4", ag_news_rows[:60])}
    )
    assert result["job"]["local_model"] == "tfidf"
    assert ctx.artefacts.get_metadata(result["model_version"])["local_model"] == "tfidf"
    assert cache_segments(ctx) == {}
    backend = Stack({"DATA_LAKE_BUCKET": BUCKET}).artefacts.load_local_backend(
        result["job"]["artefact_uri"]
    )
    assert backend.encoder is None
    assert np.isclose(backend.predict_proba(["a text"]).sum(), 1.0)


def test_terraform_uploads_the_artefact_make_setup_builds_under_its_lake_key():
    """encoder.tf spells the encoder's name, the built artefact's default path and its lake key;
    they must be textloop_ops.encoder's and layout.encoder_artefact_key's."""
    import re
    from pathlib import Path

    from textloop.domain.sentence_encoder import ENCODER_NAME

    from textloop_ops import encoder

    tf = (Path(__file__).parents[2] / "terraform/modules/textloop/encoder.tf").read_text()
    name = re.search(r'sentence_encoder_name\s*=\s*"([^"]+)"', tf).group(1)
    assert name == ENCODER_NAME
    default = (
        re.search(r'pathexpand\("([^"]+)"\)', tf)
        .group(1)
        .replace("${local.sentence_encoder_name}", name)
    )
    assert Path(default).expanduser() == encoder.artefact_path(Path.home() / ".cache/textloop")
    key = re.search(r'sentence_encoder_key\s*=\s*"(.+)"\s*$', tf, re.M).group(1)
    spelled = key.replace('${module.data_lake.prefixes["models"]}', "models/")
    spelled = spelled.replace("${local.sentence_encoder_name}", name)
    sha = "a" * 64
    assert spelled.replace("${local.sentence_encoder_sha256}", sha) == (
        layout.encoder_artefact_key(name, sha)
    )
