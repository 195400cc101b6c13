"""Annotation pool versions in the data lake.

``layout.pool_key`` holds one immutable version (written once; the version is a content hash,
so the same content always lands on the same key) and ``layout.current_pool_key`` names the
latest version of each model type. The
pointer is per model type because the per-model lock serialises writers of one model type only.
"""

from __future__ import annotations

from typing import Any

from textloop.adapters.lake import DataLake
from textloop.domain.annotations import PoolVersion
from textloop.domain.layout import current_pool_key, pool_key


class PoolStore:
    def __init__(self, lake: DataLake):
        self.lake = lake

    def current(self, model_type: str) -> PoolVersion | None:
        pointer = self.lake.get_json(current_pool_key(model_type))
        if pointer is None:
            return None
        return self.get(pointer["pool_version"])

    def get(self, pool_version: str) -> PoolVersion:
        data = self.lake.get_json(pool_key(pool_version))
        if data is None:
            raise LookupError(f"pool version {pool_version} is missing from the data lake")
        return PoolVersion.from_dict(data)

    def publish(self, pool: PoolVersion, *, iteration_id: str) -> dict[str, Any]:
        """Store ``pool`` (once) and make it the current version of its model type."""
        key = pool_key(pool.pool_version)
        self.lake.put_json(key, pool.to_dict(), once=True)
        self.lake.put_json(
            current_pool_key(pool.model_type),
            {
                "pool_version": pool.pool_version,
                "key": key,
                "sequence": pool.sequence,
                "iteration_id": iteration_id,
            },
        )
        return {"pool_version": pool.pool_version, "pool_key": key}
