"""The registry table (DynamoDB, keys ``pk`` and ``sk``, both strings): the per-model iteration
lock and the history of promotions and rollbacks.

Items:

* ``pk=LOCK#<model_type>, sk=LOCK``: ``holder`` (execution ARN), ``iteration_id``,
  ``acquired_at``, ``expires_at`` (epoch seconds; also usable as the table's TTL attribute).
* ``pk=MODEL#<model_type>, sk=EVENT#<event_id>``: one promotion or rollback. ``event_id`` is the
  iteration id (promotions) or a hash of the request (rollbacks), and the put is conditional, so
  a retried step records nothing twice. Nested values are stored as JSON strings: DynamoDB
  numbers would turn the metrics' floats into Decimals.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from textloop.adapters.clients import error_code
from textloop.domain.names import ModelType

_CONDITION_FAILED = "ConditionalCheckFailedException"


def lock_pk(model_type: str) -> str:
    return f"LOCK#{ModelType(model_type).value}"


def history_pk(model_type: str) -> str:
    return f"MODEL#{ModelType(model_type).value}"


@dataclass(frozen=True)
class Lock:
    acquired: bool
    holder: str | None
    iteration_id: str | None
    expires_at: int | None
    taken_over_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "acquired": self.acquired,
            "holder": self.holder,
            "iteration_id": self.iteration_id,
            "expires_at": self.expires_at,
            "taken_over_from": self.taken_over_from,
        }


class Registry:
    def __init__(self, dynamodb_client: Any, table: str):
        self.db = dynamodb_client
        self.table = table

    # ------------------------------------------------------------------ lock

    def lock_holder(self, model_type: str, *, now: datetime | None = None) -> dict[str, Any] | None:
        """The unexpired lock of ``model_type`` (``{holder, iteration_id, expires_at,
        acquired_at}``), if any."""
        now = now or datetime.now(UTC)
        item = self.db.get_item(
            TableName=self.table,
            Key={"pk": {"S": lock_pk(model_type)}, "sk": {"S": "LOCK"}},
            ConsistentRead=True,
        ).get("Item")
        if not item or int(item["expires_at"]["N"]) <= int(now.timestamp()):
            return None
        return {
            "holder": item["holder"]["S"],
            "iteration_id": item["iteration_id"]["S"],
            "expires_at": int(item["expires_at"]["N"]),
            "acquired_at": item.get("acquired_at", {}).get("S"),
        }

    def acquire(
        self,
        model_type: str,
        *,
        holder: str,
        iteration_id: str,
        ttl_seconds: int,
        now: datetime | None = None,
        is_running: Callable[[str], bool] | None = None,
    ) -> Lock:
        """Take the lock unless another live iteration holds it.

        Taken when free, expired, already ours (a retried step), or when ``is_running`` says the
        holder's execution has ended (it crashed, or was stopped before releasing).
        """
        now = now or datetime.now(UTC)
        epoch = int(now.timestamp())
        expires_at = epoch + int(ttl_seconds)
        item = {
            "pk": {"S": lock_pk(model_type)},
            "sk": {"S": "LOCK"},
            "holder": {"S": holder},
            "iteration_id": {"S": iteration_id},
            "acquired_at": {"S": now.isoformat()},
            "expires_at": {"N": str(expires_at)},
        }
        try:
            self.db.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=(
                    "attribute_not_exists(pk) OR holder = :me OR expires_at <= :now"
                ),
                ExpressionAttributeValues={":me": {"S": holder}, ":now": {"N": str(epoch)}},
            )
            return Lock(True, holder, iteration_id, expires_at)
        except ClientError as exc:
            if error_code(exc) != _CONDITION_FAILED:
                raise
        current = self.lock_holder(model_type, now=now)
        if current is None:  # released or expired between the put and the read: try again
            return self.acquire(
                model_type,
                holder=holder,
                iteration_id=iteration_id,
                ttl_seconds=ttl_seconds,
                now=now,
                is_running=None,
            )
        if is_running is not None and not is_running(current["holder"]):
            try:
                self.db.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="holder = :old",
                    ExpressionAttributeValues={":old": {"S": current["holder"]}},
                )
                return Lock(True, holder, iteration_id, expires_at, current["holder"])
            except ClientError as exc:
                if error_code(exc) != _CONDITION_FAILED:
                    raise
                current = self.lock_holder(model_type, now=now) or current
        return Lock(False, current["holder"], current["iteration_id"], current["expires_at"])

    def release(self, model_type: str, *, holder: str) -> bool:
        """Free the lock if ``holder`` has it; False when someone else (or nobody) does."""
        try:
            self.db.delete_item(
                TableName=self.table,
                Key={"pk": {"S": lock_pk(model_type)}, "sk": {"S": "LOCK"}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": holder}},
            )
        except ClientError as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    # ------------------------------------------------------------------ history

    def record(self, model_type: str, event_id: str, entry: Mapping[str, Any]) -> bool:
        """Add one history entry once; False if ``event_id`` is already recorded."""
        item: dict[str, Any] = {
            "pk": {"S": history_pk(model_type)},
            "sk": {"S": f"EVENT#{event_id}"},
            "event_id": {"S": event_id},
            "entry": {"S": json.dumps(dict(entry), sort_keys=True)},
            "promoted_at": {"S": entry["promoted_at"]},
            "model_version": {"S": entry["model_version"]},
        }
        try:
            self.db.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(sk)"
            )
        except ClientError as exc:
            if error_code(exc) == _CONDITION_FAILED:
                return False
            raise
        return True

    def event(self, model_type: str, event_id: str) -> dict[str, Any] | None:
        item = self.db.get_item(
            TableName=self.table,
            Key={"pk": {"S": history_pk(model_type)}, "sk": {"S": f"EVENT#{event_id}"}},
            ConsistentRead=True,
        ).get("Item")
        return json.loads(item["entry"]["S"]) if item else None

    def history(self, model_type: str) -> list[dict[str, Any]]:
        """Every promotion and rollback of ``model_type``, oldest first."""
        entries = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :events)",
            "ExpressionAttributeValues": {
                ":pk": {"S": history_pk(model_type)},
                ":events": {"S": "EVENT#"},
            },
        }
        while True:
            page = self.db.query(**kwargs)
            entries += [json.loads(i["entry"]["S"]) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(entries, key=lambda e: (e["promoted_at"], e.get("event_id", "")))
