"""The embedding cache: sentence embeddings of texts already embedded, by text hash.

Embedding is the expensive part of training a ``tfidf+embeddings`` model (tens of ms per text
on one vCPU), and an iteration's training set is mostly the previous iteration's. So the Train
step keeps every embedding it computes, keyed by the encoder (its artefact's sha256, which is in
the key: ``layout.embedding_cache_prefix``) and the sha256 of the text's UTF-8 bytes, and an
iteration embeds only texts no earlier one did.

Storage: append-only segments (``layout.embedding_cache_segment_key``), each written as soon as
its texts are embedded (``adapters.embedding_cache``: 2,000 texts at most), named after the run
and the hash of its texts, so a retried step writes the same segments and a run cut short keeps
what it embedded. A segment is an ``.npz`` of ``text_sha256`` (n x 32 uint8) and
``vectors`` (n x dimension float32, exactly what the encoder returned: a model trained from the
cache equals one trained without it). No text is stored, only its hash. Readers load every
segment: the pool they serve is read whole anyway, and 1.5 KB per text is 15 MB at 10^4 texts.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Sequence

import numpy as np

DIGEST_BYTES = 32


def text_sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def segment_bytes(digests: Sequence[bytes], vectors: np.ndarray) -> bytes:
    """One segment's bytes (deterministic: the same rows make the same bytes)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(digests):
        raise ValueError(f"{len(digests)} digests but vectors of shape {vectors.shape}")
    hashes = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), DIGEST_BYTES)
    buffer = io.BytesIO()
    np.savez(buffer, text_sha256=hashes, vectors=vectors)
    return buffer.getvalue()


def read_segment(data: bytes) -> tuple[list[bytes], np.ndarray]:
    # allow_pickle=False: a segment is numbers only, never objects.
    with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
        hashes, vectors = loaded["text_sha256"], loaded["vectors"]
    if hashes.ndim != 2 or hashes.shape[1] != DIGEST_BYTES or len(hashes) != len(vectors):
        raise ValueError("not an embedding cache segment")
    return [bytes(row) for row in hashes], np.asarray(vectors, dtype=np.float32)


class EmbeddingTable:
    """The cached embeddings of one encoder, as read from its segments."""

    def __init__(self, dimension: int):
        self.dimension = dimension
        self._rows: dict[bytes, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, digests: Iterable[bytes], vectors: np.ndarray) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors of shape {vectors.shape}, not (n, {self.dimension})")
        for digest, row in zip(digests, vectors, strict=True):
            self._rows.setdefault(digest, row)

    def missing(self, texts: Sequence[str]) -> tuple[list[bytes], list[str]]:
        """The digests and texts (each once, in first-seen order) the table lacks."""
        digests, out = [], []
        seen = set()
        for text in texts:
            digest = text_sha256(text)
            if digest not in self._rows and digest not in seen:
                seen.add(digest)
                digests.append(digest)
                out.append(text)
        return digests, out

    def matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Rows in ``texts`` order; every text must be in the table (``missing`` first)."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._rows[text_sha256(text)]
        return out
