"""Review batches in the data lake, and the completion path shared by the review API and the
A2I callback.

Per batch (keys in ``layout``): the task with its token, the answers (written once), the expiry
(written once, when the review's deadline passed), and the index entry that finds a batch's
iteration (the API and A2I only know the batch id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from textloop.adapters.lake import DataLake
from textloop.adapters.task_tokens import TaskTokens
from textloop.domain import layout, reviews
from textloop.domain.timestamps import format_timestamp


class BatchNotFound(LookupError):
    pass


class BatchClosed(Exception):
    """The batch cannot take these answers: it expired (``expired``), its iteration no longer
    waits (``stopped``, ``failed``, ...: the execution's status), or it was answered
    differently (``answered``)."""

    def __init__(self, batch_id: str, status: str, message: str):
        self.batch_id = batch_id
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Completion:
    batch_id: str
    iteration_id: str
    status: str
    answered: int
    duplicate: bool
    token_delivered: bool
    token_code: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "status": self.status,
            "answered": self.answered,
            "duplicate": self.duplicate,
        }


class ReviewStore:
    def __init__(self, lake: DataLake):
        self.lake = lake

    def put_task(self, task: dict[str, Any]) -> str:
        iteration_id, batch_id = task["iteration_id"], task["batch_id"]
        key = layout.review_task_key(iteration_id, batch_id)
        # Overwritten on purpose: a retried StartReview task gets a new token, and only the
        # newest token completes the wait.
        self.lake.put_json(key, task)
        self.lake.put_json(
            layout.review_index_key(batch_id),
            {
                "batch_id": batch_id,
                "iteration_id": iteration_id,
                "task_key": key,
                "items": len(task["items"]),
                "created_at": task["created_at"],
                "deadline": task["deadline"],
            },
        )
        return key

    def index(self, batch_id: str) -> dict[str, Any] | None:
        if not isinstance(batch_id, str) or not layout.BATCH_ID.fullmatch(batch_id):
            return None
        return self.lake.get_json(layout.review_index_key(batch_id))

    def task(self, batch_id: str) -> dict[str, Any]:
        entry = self.index(batch_id)
        task = self.lake.get_json(entry["task_key"]) if entry else None
        if task is None:
            raise BatchNotFound(f"no review batch {batch_id!r}")
        return task

    def answers(self, iteration_id: str, batch_id: str) -> dict[str, Any] | None:
        return self.lake.get_json(layout.review_answers_key(iteration_id, batch_id))

    def is_expired(self, iteration_id: str, batch_id: str) -> bool:
        return self.lake.exists(layout.review_expired_key(iteration_id, batch_id))

    def status(self, iteration_id: str, batch_id: str) -> str:
        if self.lake.exists(layout.review_answers_key(iteration_id, batch_id)):
            return "answered"
        if self.is_expired(iteration_id, batch_id):
            return "expired"
        return "pending"

    def withdraw_answers(self, iteration_id: str, batch_id: str) -> None:
        """Remove answers stored a moment after the iteration stopped waiting (see
        ``complete_batch``); the versioned bucket keeps them as a deleted version."""
        self.lake.s3.delete_object(
            Bucket=self.lake.bucket, Key=layout.review_answers_key(iteration_id, batch_id)
        )

    def expire(self, iteration_id: str, batch_id: str, *, at: datetime) -> bool:
        return self.lake.put_json(
            layout.review_expired_key(iteration_id, batch_id),
            {
                "batch_id": batch_id,
                "iteration_id": iteration_id,
                "expired_at": format_timestamp(at),
            },
            once=True,
        )

    def iteration_answers(
        self,
        iteration_id: str,
        batch_results: Iterable[Mapping[str, Any]],
        *,
        strict: bool = True,
    ) -> list[dict[str, Any]]:
        """An iteration's answers: the corrections its selection set aside, then the answers of
        every batch the Map reported ``answered``. ``strict``: such a batch without stored
        answers is an error (the audit of a failed iteration skips it instead)."""
        selection = self.lake.get_json(layout.selection_key(iteration_id)) or {}
        answers = list(selection.get("corrections", []))
        for result in batch_results:
            if result.get("status") != "answered":
                continue
            document = self.answers(iteration_id, result["batch_id"])
            if document is None:
                if strict:
                    raise LookupError(
                        f"batch {result['batch_id']} reported answered but has no answers"
                    )
                continue
            answers += document["answers"]
        return answers

    def pending(self, now: datetime) -> list[dict[str, Any]]:
        """Open batches, oldest first: neither answered nor expired, deadline not passed."""
        out = []
        stamp = format_timestamp(now)
        for key in self.lake.keys(layout.REVIEW_INDEX_PREFIX):
            entry = self.lake.get_json(key)
            if entry is None or entry["deadline"] <= stamp:
                continue
            if self.status(entry["iteration_id"], entry["batch_id"]) != "pending":
                continue
            out.append(
                {
                    "batch_id": entry["batch_id"],
                    "iteration_id": entry["iteration_id"],
                    "items": entry["items"],
                    "created_at": entry["created_at"],
                    "deadline": entry["deadline"],
                }
            )
        return sorted(out, key=lambda e: (e["created_at"], e["batch_id"]))


def complete_batch(
    store: ReviewStore,
    tokens: TaskTokens,
    batch_id: str,
    submissions: Sequence[reviews.Submission],
    *,
    source: str,
    now: datetime | None = None,
) -> Completion:
    """Check, store once, then complete the iteration's wait. Safe to call again with the same
    answers (a re-delivered callback or a double click): nothing changes, and the token is
    offered again in case the first call died between the write and SendTaskSuccess.

    New answers are stored only while the iteration still waits on the batch: not past the
    task's deadline, not once the batch expired, and only while the execution is RUNNING
    (``BatchClosed`` otherwise, naming why). Should Step Functions still refuse the token
    (the wait ended between the check and the call) and the batch be closed by then, the
    stored answers are withdrawn and the batch is reported closed: a late answer changes
    nothing. An answer the batch already accepted stays accepted (a duplicate)."""
    now = now or datetime.now(UTC)
    task = store.task(batch_id)
    iteration_id = task["iteration_id"]
    for submission in submissions:
        reviews.check_submission(task, submission)
    document = reviews.answers_document(task, submissions, source=source, answered_at=now)
    stored = store.answers(iteration_id, batch_id)
    if stored is None:
        _refuse_if_closed(store, tokens, task, now)
        written = store.lake.put_json(
            layout.review_answers_key(iteration_id, batch_id), document, once=True
        )
        stored = document if written else store.answers(iteration_id, batch_id) or {}
    else:
        written = False
    if stored.get("submission_hash") != document["submission_hash"]:
        raise BatchClosed(
            batch_id,
            "answered",
            f"review batch {batch_id} was already answered with other answers",
        )
    result = tokens.succeed(task["task_token"], reviews.completion_output(stored))
    if written and not result.delivered:
        try:
            _refuse_if_closed(store, tokens, task, now)
        except BatchClosed:
            store.withdraw_answers(iteration_id, batch_id)
            raise
    return Completion(
        batch_id=batch_id,
        iteration_id=iteration_id,
        status="answered",
        answered=stored["answered_items"],
        duplicate=not written,
        token_delivered=result.delivered,
        token_code=result.code,
    )


def closed_state(status: str | None) -> str:
    """How a 409 names an execution that no longer waits: its status in lower case, a stopped
    one (ABORTED in Step Functions) ``stopped``, an unknown one ``gone``."""
    if status is None:
        return "gone"
    return "stopped" if status == "ABORTED" else status.lower()


def _refuse_if_closed(
    store: ReviewStore, tokens: TaskTokens, task: Mapping[str, Any], now: datetime
) -> None:
    """``BatchClosed`` unless the iteration still waits on this batch."""
    iteration_id, batch_id = task["iteration_id"], task["batch_id"]
    if store.is_expired(iteration_id, batch_id) or task["deadline"] <= format_timestamp(now):
        raise BatchClosed(
            batch_id,
            "expired",
            f"review batch {batch_id} expired at {task['deadline']}; its items return to the pool",
        )
    # Tasks stored before the execution was recorded in them are judged by the deadline alone.
    if task.get("execution_arn"):
        status = tokens.execution_status(task["execution_arn"])
        if status != "RUNNING":
            state = closed_state(status)
            raise BatchClosed(
                batch_id,
                state,
                f"review batch {batch_id} is closed: its iteration {iteration_id} is {state} "
                "and waits for no answers",
            )
