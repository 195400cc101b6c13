"""Model artefacts in S3: ``layout.artefact_key`` (the model's bytes) and ``layout.metadata_key``.

One key for every local model: a document classifier's bytes are joblib's
(``domain/local_model.py``), an entity recogniser's crfsuite's model file
(``domain/entity_model.py``); ``metadata["model_type"]`` says which loader reads them. A
``tfidf+embeddings`` classifier (``metadata["local_model"]``) needs the sentence encoder its
metadata names: loaded from the lake by its sha256 (``adapters.encoder_store``, once per
process).

A model version is written once (conditional puts): retraining makes a new version, it never
replaces one, so the pointer's history and the audit records keep meaning what they said.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from textloop.domain.backends import ModelBackend
from textloop.domain.layout import artefact_key, metadata_key, model_version_of_artefact
from textloop.domain.names import ModelType


class ArtefactStoreError(RuntimeError):
    pass


class ModelArtefactStore:
    def __init__(self, s3_client: Any, bucket: str):
        self.s3 = s3_client
        self.bucket = bucket

    def artefact_uri(self, model_version: str) -> str:
        return f"s3://{self.bucket}/{artefact_key(model_version)}"

    def put(self, model_version: str, artefact: bytes, metadata: dict[str, Any]) -> str:
        """Store a new version; returns its artefact_uri. ``metadata`` gains artefact_sha256.

        Artefact first, metadata last: a metadata.json means the version is complete. A retry
        after a partial write finds identical bytes and goes on; different bytes under an
        existing version is an error.
        """
        if metadata.get("model_version") != model_version:
            raise ArtefactStoreError("metadata.model_version differs from model_version")
        full = {**metadata, "artefact_sha256": hashlib.sha256(artefact).hexdigest()}
        self._put_once(artefact_key(model_version), artefact, "application/octet-stream")
        body = json.dumps(full, sort_keys=True, indent=2).encode("utf-8")
        self._put_once(metadata_key(model_version), body, "application/json")
        return self.artefact_uri(model_version)

    def _put_once(self, key: str, body: bytes, content_type: str) -> None:
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
                raise
            existing = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            if existing != body:
                raise ArtefactStoreError(
                    f"s3://{self.bucket}/{key} exists with other content"
                ) from exc

    def get_metadata(self, model_version: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.bucket, Key=metadata_key(model_version))["Body"]
        return json.loads(body.read())

    def get(self, model_version: str) -> tuple[bytes, dict[str, Any]]:
        """The artefact bytes and metadata, checked against the recorded sha256."""
        metadata = self.get_metadata(model_version)
        artefact = self.s3.get_object(Bucket=self.bucket, Key=artefact_key(model_version))[
            "Body"
        ].read()
        if hashlib.sha256(artefact).hexdigest() != metadata.get("artefact_sha256"):
            raise ArtefactStoreError(f"{self.artefact_uri(model_version)} fails its sha256 check")
        return artefact, metadata

    def model_version_of(self, artefact_uri: str) -> str:
        """The model version an artefact_uri names; only URIs into this store's bucket, since
        artefacts are unpickled (see the trust boundary in domain/local_model.py)."""
        bucket = f"s3://{self.bucket}/"
        version = (
            model_version_of_artefact(artefact_uri[len(bucket) :])
            if artefact_uri.startswith(bucket)
            else None
        )
        if version is None:
            raise ArtefactStoreError(f"{artefact_uri} is not an artefact of s3://{self.bucket}")
        return version

    def load_local_model(self, artefact_uri: str) -> Any:
        """A ``local_model.LocalModel`` or an ``entity_model.EntityModel``, by the metadata's
        model_type (written by the Train step, checked against the sha256 before loading)."""
        artefact, metadata = self.get(self.model_version_of(artefact_uri))
        if metadata.get("model_type") == ModelType.ENTITY_RECOGNIZER:
            from textloop.domain import entity_model

            return entity_model.load(artefact, metadata)
        from textloop.domain import local_model

        return local_model.load(artefact, metadata, encoder=self.encoder_for(metadata))

    def encoder_for(self, metadata: dict[str, Any]) -> Any:
        """The sentence encoder a classifier's metadata names (None: it needs none); a missing
        or different encoder artefact fails here, naming it, rather than at a prediction."""
        from textloop.domain import local_model
        from textloop.domain.embedding_model import EncoderUnavailable

        needed = local_model.encoder_of(metadata)
        if needed is None:
            return None
        from textloop.adapters.encoder_store import EncoderStore, EncoderStoreError

        store = EncoderStore(self.s3, self.bucket)
        name, sha256 = needed["name"], needed["sha256"]
        try:
            return store.load(name, sha256)
        except ClientError as exc:
            raise EncoderUnavailable(
                f"model {metadata.get('model_version')} needs encoder {name} sha256 {sha256}: "
                f"s3://{self.bucket}/{store.key(name, sha256)} cannot be read "
                f"({exc.response.get('Error', {}).get('Code')})"
            ) from exc
        except EncoderStoreError as exc:
            raise EncoderUnavailable(str(exc)) from exc

    def load_local_backend(self, artefact_uri: str) -> ModelBackend:
        """The ``ModelBackend`` over the local model an artefact_uri names (``LocalBackend``
        for classifiers, ``EntityBackend`` for entity recognisers)."""
        model = self.load_local_model(artefact_uri)
        if model.metadata.get("model_type") == ModelType.ENTITY_RECOGNIZER:
            from textloop.domain.entity_model import EntityBackend

            return EntityBackend(model)
        from textloop.domain.local_model import LocalBackend

        return LocalBackend(model)
