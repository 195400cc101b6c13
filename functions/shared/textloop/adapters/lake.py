"""The data lake bucket: JSON and text documents read, written once, listed; and feedback records
(the buffered lake's files: ``put_feedback_file``, ``read_feedback_files``, and the iteration's
streaming read of them, ``feedback_file_rows``).

Writes that must happen once use ``If-None-Match: *``: a retried step finds its own object and
goes on (``put_json_once`` answers False), and two deliveries racing cannot both win.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.domain import layout
from textloop.domain.feedback import FeedbackRecord, feedback_file
from textloop.domain.intake import stored_rows

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
# botocore's default connection pool holds 10 connections per client; more threads would wait
# for one.
READ_CONCURRENCY = 10
READ_WINDOW = 1_000
_EXISTS = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


@dataclass(frozen=True, slots=True)
class WriteResult:
    key: str
    written: bool  # False: the object was already there (the same content, by its name)


class DataLake:
    def __init__(self, s3_client: Any, bucket: str):
        self.s3 = s3_client
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def key_of(self, uri: str) -> str:
        prefix = f"s3://{self.bucket}/"
        if not uri.startswith(prefix):
            raise ValueError(f"{uri} is not in the data lake s3://{self.bucket}")
        return uri[len(prefix) :]

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise

    def get_text(self, key: str) -> str | None:
        body = self.get_bytes(key)
        return None if body is None else body.decode("utf-8")

    def get_json(self, key: str) -> Any:
        body = self.get_bytes(key)
        return None if body is None else json.loads(body)

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return False
            raise
        return True

    def put_bytes(self, key: str, body: bytes, content_type: str, *, once: bool = False) -> bool:
        """Store ``body``; with ``once``, only if nothing is there (False: something was)."""
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
        }
        if once:
            kwargs["IfNoneMatch"] = "*"
        try:
            self.s3.put_object(**kwargs)
        except ClientError as exc:
            if once and error_code(exc) in _EXISTS:
                return False
            raise
        return True

    def put_json(self, key: str, value: Any, *, once: bool = False) -> bool:
        body = (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
        return self.put_bytes(key, body, "application/json", once=once)

    def put_text(self, key: str, text: str, content_type: str, *, once: bool = False) -> bool:
        return self.put_bytes(key, text.encode("utf-8"), content_type, once=once)

    def keys(self, prefix: str) -> Iterator[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def feedback_records(self, prefix: str = layout.FEEDBACK_PREFIX) -> list[FeedbackRecord]:
        """Every feedback record under ``prefix``: the buffered lake's files (``*.jsonl.gz``),
        and the objects of the layout before it (single records ``<id>.json``, batch chunks
        ``batch-*.jsonl``), each record once (ids are content hashes, so a record stored twice
        is the same record), by id. It reads the whole prefix: an iteration's reader lists only
        the partitions it needs and reads them with ``read_feedback_files``."""
        keys = [k for k in self.keys(prefix) if layout.is_feedback_object(k)]
        records: dict[str, FeedbackRecord] = {}
        for key, body in zip(keys, self.get_many(keys), strict=True):
            if body is None:  # removed between listing and reading
                continue
            for record in _records_of(body, key):
                records.setdefault(record.id, record)
        return [records[k] for k in sorted(records)]

    def put_feedback_file(
        self, model_type: str, hour: str, records: Iterable[FeedbackRecord]
    ) -> WriteResult:
        """Store ``records`` (all of ``model_type``) as one gzipped JSON Lines file in the
        partition of ``hour`` (``YYYY-MM-DDTHH``), named by its content (``feedback_file``) and
        written only if absent: the same records again (a re-delivered batch) change nothing."""
        records = list(records)
        others = {r.model_type for r in records} - {model_type}
        if others:
            raise ValueError(f"records of {sorted(others)} in a {model_type} feedback file")
        name, body = feedback_file(records)
        key = layout.feedback_file_key(model_type, hour, name)
        written = self.put_bytes(
            key, gzip.compress(body, compresslevel=6, mtime=0), "application/x-ndjson", once=True
        )
        return WriteResult(key, written)

    def read_feedback_files(self, keys: Iterable[str]) -> Iterator[FeedbackRecord]:
        """The records of the files at ``keys``, file by file in the keys' order (read
        ``READ_CONCURRENCY`` at a time). Not deduplicated: a record re-delivered in another
        batch is in two files; callers keep one per id."""
        keys = list(keys)
        for key, body in zip(keys, self.get_many(keys), strict=True):
            if body is None:  # removed between listing and reading
                continue
            yield from _records_of(body, key)

    def listing(self, prefix: str) -> Iterator[tuple[str, str]]:
        """``(key, ETag)`` of every object under ``prefix``."""
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], item["ETag"]

    def feedback_file_rows(self, files: Sequence[Mapping[str, str]]) -> Iterator[dict[str, Any]]:
        """The stored dicts (``feedback.stored_row``) of the feedback files ``files``
        (``{"key", "etag"}``, as ``listing`` gave them), file by file in their order: what an
        iteration's steps stream instead of holding records. Each GET is conditional on the
        ETag Prepare recorded (``If-Match``), so SelectForReview and Record read exactly the
        bytes Prepare counted, or fail naming the file; a file gone is an error too. Files are
        fetched ``READ_CONCURRENCY`` at a time and inflated in the fetching threads, a few
        windows ahead at most: memory follows a file, not the iteration."""
        files = list(files)

        def fetch(entry: Mapping[str, str]) -> bytes:
            key = entry["key"]
            try:
                body = self.s3.get_object(Bucket=self.bucket, Key=key, IfMatch=entry["etag"])
            except ClientError as exc:
                code = error_code(exc)
                if code in _MISSING:
                    raise LookupError(f"feedback file {key} is gone since it was listed") from exc
                if code in ("PreconditionFailed", "412"):
                    raise RuntimeError(f"feedback file {key} changed since it was listed") from exc
                raise
            raw = body["Body"].read()
            return gzip.decompress(raw) if key.endswith(".gz") else raw

        window = 2 * READ_CONCURRENCY
        with ThreadPoolExecutor(max_workers=READ_CONCURRENCY) as pool:
            for start in range(0, len(files), window):
                chunk = files[start : start + window]
                for entry, body in zip(chunk, pool.map(fetch, chunk), strict=True):
                    yield from stored_rows(body, entry["key"])

    def put_records(self, key: str, records: Iterable[FeedbackRecord]) -> None:
        """Store ``records`` as one gzipped JSON Lines object (replacing what is there)."""
        body = gzip.compress(b"".join(r.to_json() for r in records), mtime=0)
        self.put_bytes(key, body, "application/x-ndjson")

    def put_json_lines(self, key: str, rows: Iterable[Any], *, once: bool = False) -> bool:
        """Store ``rows`` as one gzipped JSON Lines object (Athena's JSON SerDe and DuckDB read
        it as a table); ``once`` as in ``put_bytes``."""
        lines = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
        body = gzip.compress("".join(lines).encode("utf-8"), mtime=0)
        return self.put_bytes(key, body, "application/x-ndjson", once=once)

    def get_records(self, key: str) -> list[FeedbackRecord] | None:
        """The records ``put_records`` stored at ``key``; None when there is no such object."""
        body = self.get_bytes(key)
        return (
            None if body is None else list(_records_of(gzip.decompress(body), key, gzipped=False))
        )

    def get_many(self, keys: list[str]) -> Iterator[bytes | None]:
        """``get_bytes`` of each key, in the keys' order, ``READ_CONCURRENCY`` requests at a
        time: the classify path writes one object per routed record, and one GET after another
        (20-30 ms each on S3) would make a step's time grow with the lake until its Lambda
        times out."""
        if len(keys) <= 1:
            yield from (self.get_bytes(k) for k in keys)
            return
        with ThreadPoolExecutor(max_workers=min(READ_CONCURRENCY, len(keys))) as pool:
            # Executor.map submits every key at once; a window keeps the pending futures (and
            # bodies read ahead of a slow one) bounded on a lake of millions of objects.
            for start in range(0, len(keys), READ_WINDOW):
                yield from pool.map(self.get_bytes, keys[start : start + READ_WINDOW])


def _records_of(body: bytes, key: str, *, gzipped: bool | None = None) -> Iterator[FeedbackRecord]:
    """The records of one object; an object that holds anything else is named, not skipped:
    feedback is never dropped silently, and nothing but textloop's writers writes there."""
    if key.endswith(".gz") if gzipped is None else gzipped:
        body = gzip.decompress(body)
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield FeedbackRecord.from_json(line)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{key} line {number} is not a feedback record ({exc!r})") from None
