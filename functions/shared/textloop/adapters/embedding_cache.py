"""The embedding cache in the lake (``domain.embedding_cache``): the embeddings of texts, from
earlier training runs where they have them, from the encoder where not.

AWS: s3:ListBucket (the cache's prefix), s3:GetObject and s3:PutObject
(``layout.embedding_cache_prefix``: ``models/encoders/<name>/<sha256>/cache/*``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from textloop.adapters.lake import DataLake
from textloop.domain import layout
from textloop.domain.embedding_cache import EmbeddingTable, read_segment, segment_bytes
from textloop.domain.embedding_model import Encoder

# Texts encoded and stored per segment: about 90 s of encoding on one vCPU (45 ms a text), 3 MB.
SEGMENT_TEXTS = 2_000


class EmbeddingCache:
    def __init__(self, lake: DataLake, encoder: Encoder):
        self.lake = lake
        self.encoder = encoder

    def table(self) -> tuple[EmbeddingTable, int]:
        """Every cached embedding of this encoder, and how many segments held them."""
        prefix = layout.embedding_cache_prefix(self.encoder.name, self.encoder.sha256)
        keys = sorted(k for k in self.lake.keys(prefix) if k.endswith(".npz"))
        table = EmbeddingTable(self.encoder.dimension)
        for body in self.lake.get_many(keys):
            if body is not None:
                table.add(*read_segment(body))
        return table, len(keys)

    def embeddings(
        self, texts: Sequence[str], *, segment: str
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Rows in ``texts`` order. Texts the cache lacks are encoded ``SEGMENT_TEXTS`` at a
        time, each batch stored at once as a segment named ``<segment>-<hash of its texts>``:
        a run stopped half-way (the Lambda's time limit) keeps what it embedded, and the next
        run, or a retry, carries on from there. Segments are written once."""
        table, segments = self.table()
        digests, new = table.missing(texts)
        for start in range(0, len(new), SEGMENT_TEXTS):
            chunk = digests[start : start + SEGMENT_TEXTS]
            vectors = np.asarray(
                self.encoder.encode(new[start : start + SEGMENT_TEXTS]), dtype=np.float32
            )
            name = f"{segment}-{hashlib.sha256(b''.join(chunk)).hexdigest()[:16]}"
            key = layout.embedding_cache_segment_key(self.encoder.name, self.encoder.sha256, name)
            self.lake.put_bytes(
                key, segment_bytes(chunk, vectors), "application/octet-stream", once=True
            )
            table.add(chunk, vectors)
        return table.matrix(texts), {
            "texts": len(texts),
            "embedded": len(new),
            "cached": len(texts) - len(new),
            "segments_read": segments,
        }
