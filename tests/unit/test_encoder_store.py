"""The encoder store: an encoder artefact read from the lake once per process, cached in /tmp
across cold starts of one sandbox, checked against the sha256 its key names (moto S3)."""

from __future__ import annotations

import hashlib

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from textloop.adapters import encoder_store
from textloop.adapters.encoder_store import EncoderStore, EncoderStoreError
from textloop.domain import layout
from textloop.domain.sentence_encoder import ENCODER_NAME

BUCKET = "textloop-unit-lake"


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(autouse=True)
def cold_process():
    encoder_store.forget_loaded()
    yield
    encoder_store.forget_loaded()


def test_loads_from_the_lake_once_per_process(s3, tmp_path, encoder_artefact):
    sha256 = hashlib.sha256(encoder_artefact).hexdigest()
    store = EncoderStore(s3, BUCKET, tmp_dir=tmp_path)
    key = store.put(ENCODER_NAME, encoder_artefact)
    assert key == f"models/encoders/{ENCODER_NAME}/{sha256}.zip"
    assert layout.encoder_artefact_sha256(key) == sha256

    encoder = store.load(ENCODER_NAME, sha256)
    assert (encoder.name, encoder.sha256, encoder.dimension) == (ENCODER_NAME, sha256, 384)
    vectors = encoder.encode(["Stocks fell sharply on Wall Street."])
    assert vectors.shape == (1, 384)
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)
    # A warm invocation: the same object, no second read.
    assert store.load(ENCODER_NAME, sha256) is encoder
    assert EncoderStore(s3, BUCKET, tmp_dir=tmp_path).load(ENCODER_NAME, sha256) is encoder
    assert store.reads == 1
    assert (tmp_path / f"{sha256}.zip").read_bytes() == encoder_artefact


def test_a_new_process_in_the_same_sandbox_reads_tmp_not_s3(s3, tmp_path, encoder_artefact):
    sha256 = hashlib.sha256(encoder_artefact).hexdigest()
    EncoderStore(s3, BUCKET, tmp_dir=tmp_path).put(ENCODER_NAME, encoder_artefact)
    EncoderStore(s3, BUCKET, tmp_dir=tmp_path).load(ENCODER_NAME, sha256)
    encoder_store.forget_loaded()

    again = EncoderStore(s3, BUCKET, tmp_dir=tmp_path)
    s3.delete_object(Bucket=BUCKET, Key=layout.encoder_artefact_key(ENCODER_NAME, sha256))
    assert again.load(ENCODER_NAME, sha256).sha256 == sha256
    assert again.reads == 0


def test_a_truncated_tmp_copy_is_read_again_from_s3(s3, tmp_path, encoder_artefact):
    sha256 = hashlib.sha256(encoder_artefact).hexdigest()
    store = EncoderStore(s3, BUCKET, tmp_dir=tmp_path)
    store.put(ENCODER_NAME, encoder_artefact)
    (tmp_path / f"{sha256}.zip").write_bytes(encoder_artefact[:1000])

    assert store.load(ENCODER_NAME, sha256).sha256 == sha256
    assert store.reads == 1
    assert (tmp_path / f"{sha256}.zip").read_bytes() == encoder_artefact


def test_bytes_that_do_not_match_their_key_are_refused(s3, tmp_path, encoder_artefact):
    sha256 = hashlib.sha256(encoder_artefact).hexdigest()
    s3.put_object(
        Bucket=BUCKET,
        Key=layout.encoder_artefact_key(ENCODER_NAME, sha256),
        Body=encoder_artefact[:-1],
    )
    with pytest.raises(EncoderStoreError, match="sha256"):
        EncoderStore(s3, BUCKET, tmp_dir=tmp_path).load(ENCODER_NAME, sha256)
    assert not (tmp_path / f"{sha256}.zip").exists()


def test_a_missing_artefact_is_an_s3_error(s3, tmp_path):
    with pytest.raises(ClientError) as raised:
        EncoderStore(s3, BUCKET, tmp_dir=tmp_path).load(ENCODER_NAME, "0" * 64)
    assert raised.value.response["Error"]["Code"] == "NoSuchKey"


def test_keys_are_checked(s3, tmp_path):
    store = EncoderStore(s3, BUCKET, tmp_dir=tmp_path)
    with pytest.raises(ValueError, match="sha256"):
        store.load(ENCODER_NAME, "../../models/x")
    with pytest.raises(ValueError, match="encoder name"):
        store.load("../x", "0" * 64)
    assert layout.encoder_artefact_sha256("models/v1/model.joblib") is None


def test_a_tmp_that_cannot_be_written_costs_a_read_not_the_invocation(
    s3, tmp_path, encoder_artefact
):
    sha256 = hashlib.sha256(encoder_artefact).hexdigest()
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory should be")
    store = EncoderStore(s3, BUCKET, tmp_dir=blocked / "encoders")
    store.put(ENCODER_NAME, encoder_artefact)
    assert store.load(ENCODER_NAME, sha256).sha256 == sha256
    assert store.reads == 1
