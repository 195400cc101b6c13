"""Sending feedback records to the intake queue (Amazon SQS), one message per record.

The classify and feedback APIs send; ``events.write_feedback`` receives batches and writes them
to the lake as files partitioned by model type and hour. SQS rather than Kinesis Data Firehose:
Firehose names its own objects, so a re-delivered batch could not land on the same content-
addressed key, and LocalStack's Firehose does not buffer (one object per record), so tests would
not see what AWS does. A send is one ``SendMessage`` (body: ``FeedbackRecord.to_json()``);
a failure raises after botocore's retries (the API answers 5xx and the client retries), it is
never dropped.

``duplicate``: with a queue, whether a record is already in the lake is not known when it is
sent. ``send`` answers ``queued=False`` only when this instance itself queued the very same
record (same id) a moment ago (a retry that reached the same warm Lambda), and then sends
nothing; any other repeat is queued again and is one record to every reader of the lake (ids
are content hashes).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock
from typing import Any

from textloop.domain.feedback import FeedbackRecord

# Characters SQS refuses in a message body (InvalidMessageContents): it takes only XML's
# characters. A text holding one (U+FFFE, say) goes JSON-escaped: the same record when parsed.
_NOT_XML_CHARACTER = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Ids of records this instance queued, newest last: a retry of a request arrives within
# seconds, and 10,000 64-character ids are about 1 MB.
RECENT_IDS = 10_000


@dataclass(frozen=True, slots=True)
class SendResult:
    feedback_id: str
    queued: bool  # False: this instance had already queued this record (a duplicate)


class FeedbackQueue:
    def __init__(self, sqs_client: Any, queue_url: str, *, remember: int = RECENT_IDS):
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.remember = remember
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = Lock()

    def send(self, record: FeedbackRecord) -> SendResult:
        with self._lock:
            if record.id in self._recent:
                self._recent.move_to_end(record.id)
                return SendResult(record.id, queued=False)
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=message_body(record))
        with self._lock:
            self._recent[record.id] = None
            while len(self._recent) > self.remember:
                self._recent.popitem(last=False)
        return SendResult(record.id, queued=True)


def message_body(record: FeedbackRecord) -> str:
    """The record's stored JSON line, ASCII-escaped only when SQS would refuse it as it is."""
    body = record.to_json().decode("utf-8")
    if _NOT_XML_CHARACTER.search(body):
        return json.dumps(
            record.to_dict(), ensure_ascii=True, sort_keys=True, separators=(",", ":")
        )
    return body
