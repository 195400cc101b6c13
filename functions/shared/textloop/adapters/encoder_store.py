"""Sentence encoders read from the lake (``layout.encoder_artefact_key``), once per process.

An encoder artefact is ~46 MB and takes ~0.5 s to load; a model that uses one names it by
encoder name and sha256 (its metadata), and every invocation of a warm Lambda reuses the loaded
encoder. Three levels, cheapest first:

1. memory: the ``SentenceEncoder`` loaded by this process, by key;
2. ``/tmp``: the artefact's bytes saved by an earlier cold start of the same sandbox (a Lambda's
   ``/tmp`` survives between invocations of one execution environment, not a new one);
3. S3 GetObject.

Bytes from ``/tmp`` or S3 are checked against the sha256 in the key before they are loaded
(integrity against truncation and mix-ups: a partial ``/tmp`` file from a timed-out
invocation is re-read from S3, wrong bytes in S3 are refused).

AWS: s3:GetObject (``models/encoders/*``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from textloop.domain import layout
from textloop.domain.sentence_encoder import SentenceEncoder

DEFAULT_TMP_DIR = Path(tempfile.gettempdir()) / "textloop-encoders"

_LOADED: dict[tuple[str, str], SentenceEncoder] = {}
_LOCK = threading.Lock()


class EncoderStoreError(RuntimeError):
    pass


class EncoderStore:
    def __init__(self, s3_client: Any, bucket: str, *, tmp_dir: Path | None = None):
        self.s3 = s3_client
        self.bucket = bucket
        self.tmp_dir = tmp_dir or DEFAULT_TMP_DIR
        self.reads = 0  # S3 GetObject calls made by this store (for tests and logs)

    def key(self, name: str, sha256: str) -> str:
        return layout.encoder_artefact_key(name, sha256)

    def put(self, name: str, data: bytes) -> str:
        """Store an artefact under its content's key (idempotent); returns the key. Terraform
        uploads the built artefact; this is for tools and tests."""
        key = self.key(name, hashlib.sha256(data).hexdigest())
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/zip")
        return key

    def load(self, name: str, sha256: str) -> SentenceEncoder:
        """The encoder ``name`` whose artefact has ``sha256``, loaded at most once per process."""
        key = self.key(name, sha256)
        with _LOCK:
            cached = _LOADED.get((self.bucket, key))
            if cached is None:
                encoder = SentenceEncoder.from_artefact(self._artefact(key, sha256))
                if encoder.name != name:
                    raise EncoderStoreError(f"{key} holds encoder {encoder.name!r}, not {name!r}")
                cached = _LOADED[(self.bucket, key)] = encoder
            return cached

    def _artefact(self, key: str, sha256: str) -> bytes:
        local = self.tmp_dir / f"{sha256}.zip"
        try:
            data = local.read_bytes()
        except OSError:
            data = None
        if data is not None and hashlib.sha256(data).hexdigest() == sha256:
            return data
        self.reads += 1
        data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise EncoderStoreError(f"s3://{self.bucket}/{key} fails its sha256 check")
        self._save(local, data)
        return data

    def _save(self, local: Path, data: bytes) -> None:
        # Best effort: a full /tmp costs the next cold start an S3 read, not this invocation.
        partial = None
        try:
            local.parent.mkdir(parents=True, exist_ok=True)
            fd, partial = tempfile.mkstemp(dir=local.parent, suffix=".partial")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(partial, local)
        except OSError:
            if partial is not None:
                Path(partial).unlink(missing_ok=True)


def forget_loaded() -> None:
    """Drop the encoders this process loaded (tests: a cold start)."""
    with _LOCK:
        _LOADED.clear()
