"""Writing feedback records to the data lake.

Recommended: ``S3FeedbackWriter``. Each record goes to its own key, derived from its content
(``FeedbackRecord.key``), with ``If-None-Match: *``: a retried API call, a re-run Lambda or a
re-delivered S3 event writes nothing new, and the same code behaves the same on AWS and on
LocalStack. Batch uploads write chunks of records (``batch.process_batch``) through
``put_bytes`` with the same conditional put.

``FirehoseFeedbackWriter`` (DirectPut) is the alternative for high volumes: Firehose buffers
records into few large objects, which is cheaper per record. But it cannot give idempotent keys
(object names are Firehose's; delivery is at least once), so duplicates must be removed
downstream by record id; and LocalStack's Firehose has no buffering (one object per put), so
it behaves differently in tests than in production. Use it only if the per-record PUT cost
matters, and dedupe by ``id`` when building annotations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from textloop.domain.feedback import FeedbackRecord

_PRECONDITION_CODES = frozenset({"PreconditionFailed", "412"})
# Two conditional writes to one key racing: S3 answers 409 to the loser; the winner wrote the
# same content (same key means same id), so the loser has nothing left to do.
_CONFLICT_CODES = frozenset({"ConditionalRequestConflict", "409"})


@dataclass(frozen=True, slots=True)
class WriteResult:
    key: str
    written: bool  # False: an object was already there (a duplicate)


class S3FeedbackWriter:
    """``conditional="if-none-match"`` (S3, LocalStack, moto) or ``"head"`` for S3-compatible
    stores without conditional writes (a HEAD first; a race then writes the same content twice,
    which is harmless)."""

    def __init__(self, s3_client: Any, bucket: str, *, conditional: str = "if-none-match"):
        if conditional not in ("if-none-match", "head"):
            raise ValueError("conditional must be 'if-none-match' or 'head'")
        self.s3 = s3_client
        self.bucket = bucket
        self.conditional = conditional

    def write(self, record: FeedbackRecord) -> WriteResult:
        return WriteResult(
            record.key, self.put_bytes(record.key, record.to_json(), "application/json")
        )

    def put_bytes(self, key: str, body: bytes, content_type: str = "application/x-ndjson") -> bool:
        """Create ``key`` unless it exists; True if this call wrote it."""
        if self.conditional == "head" and self._exists(key):
            return False
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
        }
        if self.conditional == "if-none-match":
            kwargs["IfNoneMatch"] = "*"
        try:
            self.s3.put_object(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _PRECONDITION_CODES or code in _CONFLICT_CODES:
                return False
            raise
        return True

    def put_json(self, key: str, value: Any) -> None:
        """Plain (overwriting) put of a JSON document, e.g. a batch upload's errors object."""
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(value, indent=2, sort_keys=True).encode("utf-8"),
            ContentType="application/json",
        )

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


class FirehoseFeedbackWriter:
    """Records as newline-delimited JSON into a DirectPut delivery stream (see module doc)."""

    # PutRecordBatch limits: 500 records and 4 MiB per call.
    MAX_BATCH_RECORDS = 500
    MAX_BATCH_BYTES = 4 * 1024 * 1024

    def __init__(self, firehose_client: Any, stream_name: str, *, max_retries: int = 3):
        self.firehose = firehose_client
        self.stream_name = stream_name
        self.max_retries = max_retries

    def write(self, record: FeedbackRecord) -> None:
        self.firehose.put_record(
            DeliveryStreamName=self.stream_name, Record={"Data": record.to_json()}
        )

    def write_many(self, records: Iterable[FeedbackRecord]) -> int:
        """Send records in PutRecordBatch calls; returns how many were sent."""
        sent = 0
        batch: list[bytes] = []
        size = 0
        for record in records:
            data = record.to_json()
            if batch and (
                len(batch) >= self.MAX_BATCH_RECORDS or size + len(data) > self.MAX_BATCH_BYTES
            ):
                sent += self._send(batch)
                batch, size = [], 0
            batch.append(data)
            size += len(data)
        if batch:
            sent += self._send(batch)
        return sent

    def _send(self, batch: list[bytes]) -> int:
        pending = batch
        for _ in range(self.max_retries + 1):
            response = self.firehose.put_record_batch(
                DeliveryStreamName=self.stream_name, Records=[{"Data": d} for d in pending]
            )
            if not response.get("FailedPutCount"):
                return len(batch)
            # Only the failed entries go again (their order in the answer matches the request).
            pending = [
                d
                for d, result in zip(pending, response["RequestResponses"], strict=True)
                if "ErrorCode" in result
            ]
        raise RuntimeError(f"{len(pending)} records still failing after {self.max_retries} retries")
