"""Incremental intake: what an iteration reads of the feedback lake, and what it carries over.

**Watermark.** Each model type keeps one (``layout.watermark_key``): the partition hour its last
decided iteration read up to (the hour that iteration started in) and the files it read within
the lateness window before that hour. A feedback file lands in its partition hour up to
``intake_lateness_hours`` late (the buffer's batches take the hour of their earliest message), so
an iteration lists the hour prefixes from ``watermark hour - lateness`` to the hour it started
in, and skips the files the watermark names: a file landing late in an hour already read is read
once, a file read before is not read again. Without a watermark (the deployment's first
incremental iteration) it lists the model type's whole partition tree and the old
one-object-per-record layout (``layout.legacy_feedback_prefix``), once, so an upgrade loses
nothing; the audit record says so.

**Commit.** Prepare only proposes the next watermark (``layout.intake_key``). The Record step of
a *decided* iteration commits it, with the carry-over. A failed or crashed iteration commits
nothing, so the next one reads the same files again; a no-op commits nothing either: it used
none of the records it counted, and the next iteration must see them.

**Carry-over** (``layout.carry_over_key``): the candidates a decided iteration left unsettled
(not selected, or selected and not answered), for the next iteration, bounded by this policy
(``carry_over``):

1. A candidate first read by an iteration more than ``carry_over_max_age_days`` before this
   one started expires (its age in the loop, not since ``observed_at``: a batch upload of last
   month's corrections must not expire before anyone saw it); the audit record counts them,
   and lists every expired explicit correction by id.
2. Explicit corrections are carried regardless of the limit until a person reviews them (or
   they expire, listed).
3. Of the rest, at most ``carry_over_limit`` are kept: the most uncertain by the confidence
   stored at classification time (``selection.uncertainty_of`` of the stored prediction; a
   record without one ranks first), ties by id. The audit record counts those dropped.
"""

from __future__ import annotations

import gzip
import heapq
import itertools
import json
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from textloop.domain import layout
from textloop.domain.feedback import FeedbackRecord, stored_is_correction, stored_row
from textloop.domain.selection import stored_uncertainty, uncertainty_of
from textloop.domain.timestamps import parse_timestamp

WATERMARK_VERSION = 1


@dataclass(frozen=True)
class Watermark:
    """The last partition hour read, and the files read in the lateness window before it."""

    hour: str
    read: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Watermark | None:
        if not data:
            return None
        hour = data["hour"]
        layout.hour_shifted(hour, 0)  # refuses anything but YYYY-MM-DDTHH
        return cls(hour=hour, read=frozenset(data.get("read") or ()))

    def to_dict(self) -> dict[str, Any]:
        return {"version": WATERMARK_VERSION, "hour": self.hour, "read": sorted(self.read)}


@dataclass(frozen=True)
class ReadPlan:
    """The hour prefixes Prepare lists: ``hours`` (oldest first), or, without a watermark,
    the model type's whole tree and the legacy layout (``first``)."""

    hours: tuple[str, ...]
    first: bool
    start_hour: str
    lateness: int


def read_plan(watermark: Watermark | None, start_hour: str, lateness: int) -> ReadPlan:
    """What to list for an iteration that started in ``start_hour``."""
    if watermark is None:
        return ReadPlan(hours=(), first=True, start_hour=start_hour, lateness=lateness)
    first_hour = layout.hour_shifted(watermark.hour, -lateness)
    hours = []
    hour = first_hour
    # A clock moved back (or a watermark from the future) still re-reads the lateness window.
    last = max(start_hour, watermark.hour)
    while hour <= last:
        hours.append(hour)
        hour = layout.hour_shifted(hour, 1)
    return ReadPlan(hours=tuple(hours), first=False, start_hour=start_hour, lateness=lateness)


def files_to_read(listed: Iterable[str], watermark: Watermark | None) -> list[str]:
    """The listed feedback files the watermark has not read, sorted."""
    done = watermark.read if watermark else frozenset()
    return sorted({k for k in listed if layout.feedback_file_partition(k) and k not in done})


def next_watermark(
    plan: ReadPlan, watermark: Watermark | None, read_now: Iterable[str]
) -> Watermark:
    """The watermark after an iteration that read ``read_now``: its start hour, and every file
    read (now or before) whose hour the next iteration will list again."""
    hour = max(plan.start_hour, watermark.hour) if watermark else plan.start_hour
    horizon = layout.hour_shifted(hour, -plan.lateness)
    earlier = watermark.read if watermark else frozenset()
    kept = set()
    for key in (*earlier, *read_now):
        partition = layout.feedback_file_partition(key)
        if partition is not None and partition[1] >= horizon:
            kept.add(key)
    return Watermark(hour=hour, read=frozenset(kept))


# --------------------------------------------------------------------------- the new feedback


def stored_rows(body: bytes, where: str) -> Iterator[dict[str, Any]]:
    """The records of one JSON Lines body (``feedback.stored_row``: dicts, not records). A line
    that is not a record is named, not skipped: feedback is never dropped silently."""
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield stored_row(line)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where} line {number} is not a feedback record ({exc!r})") from None


def first_of_each(
    rows: Iterable[Mapping[str, Any]], seen: set[str] | None = None
) -> Iterator[Mapping[str, Any]]:
    """Each record once, the first met (ids are content hashes: a record re-delivered in
    another file is the same record); ``seen`` collects the ids."""
    seen = set() if seen is None else seen
    for row in rows:
        record_id = row["id"]
        if record_id not in seen:
            seen.add(record_id)
            yield row


def iteration_rows(
    stored: bytes, files: Iterable[Mapping[str, Any]], *, where: str
) -> Iterator[Mapping[str, Any]]:
    """The new feedback of an iteration, each record once, as Prepare counted it: the records
    Prepare stored at ``layout.new_feedback_key`` (``stored``, gzipped: the carry-over and the
    old layout's records that came first), then the rows of the files it read (``files``,
    in Prepare's order). SelectForReview and RecordDecision read it this way, not from a copy."""
    return first_of_each(itertools.chain(stored_rows(gzip.decompress(stored), where), files))


# --------------------------------------------------------------------------- carry-over


def stored_rank_key(strategy: str = "margin", mode: str | None = None):
    """Sort key of the pre-ranking: most uncertain first by the prediction stored at
    classification time (no stored prediction: 1.0, first), ties by id."""

    def key(record: FeedbackRecord | Mapping[str, Any]) -> tuple[float, str]:
        if isinstance(record, FeedbackRecord):
            return (-uncertainty_of(record, strategy, mode).value, record.id)
        return (-stored_uncertainty(record, strategy, mode).value, record["id"])

    return key


def encode_carry_over(records: Iterable[FeedbackRecord], first_seen: Mapping[str, str]) -> bytes:
    """The carry-over object: gzipped JSON Lines of ``{"first_seen", "record"}``."""
    lines = [
        json.dumps({"first_seen": first_seen[r.id], "record": r.to_dict()}, sort_keys=True)
        for r in records
    ]
    return gzip.compress("".join(line + "\n" for line in lines).encode(), mtime=0)


def decode_carry_over(body: bytes | None) -> tuple[list[FeedbackRecord], dict[str, str]]:
    """``(records, first_seen by id)`` of a carry-over object (None: none yet)."""
    if body is None:
        return [], {}
    records, first_seen = [], {}
    for line in gzip.decompress(body).splitlines():
        if line.strip():
            entry = json.loads(line)
            record = FeedbackRecord.from_dict(entry["record"])
            records.append(record)
            first_seen[record.id] = entry["first_seen"]
    return records, first_seen


@dataclass
class CarryOver:
    """The next carry-over and what the policy did (the audit record's ``carry_over``)."""

    kept: list[FeedbackRecord]
    first_seen: dict[str, str] = field(default_factory=dict)
    expired: int = 0
    expired_corrections: list[str] = field(default_factory=list)
    dropped_over_limit: int = 0
    limit: int = 0
    max_age_days: int = 0

    def audit(self) -> dict[str, Any]:
        corrections = sum(1 for r in self.kept if r.is_correction)
        return {
            "kept": len(self.kept),
            "kept_corrections": corrections,
            "expired": self.expired,
            "expired_reason": (
                f"first read more than {self.max_age_days} day(s) before the iteration "
                "started (carry_over_max_age_days)"
            ),
            "expired_corrections": list(self.expired_corrections),
            "dropped_over_limit": self.dropped_over_limit,
            "dropped_reason": (
                f"beyond carry_over_limit {self.limit}: the least uncertain by stored confidence"
            ),
        }


def carry_over(
    unsettled: Iterable[FeedbackRecord | Mapping[str, Any]],
    *,
    now: str,
    first_seen: Mapping[str, str],
    limit: int,
    max_age_days: int,
    strategy: str = "margin",
    mode: str | None = None,
) -> CarryOver:
    """The candidates to keep for the next iteration (the module docstring's policy); ``now``
    is the iteration's start (a retried Record step decides the same), ``first_seen`` when an
    earlier iteration first read a carried record (records not in it: ``now``).

    ``unsettled`` (records, or stored dicts: ``feedback.stored_row``) is read once and may be a
    generator: beyond the explicit corrections, the memory held is the ``limit`` kept (a bounded
    heap), not the candidates; only what is kept becomes a ``FeedbackRecord``."""
    oldest = parse_timestamp(now) - timedelta(days=max_age_days)
    now_expired = parse_timestamp(now) < oldest
    expired = 0
    expired_corrections: list[str] = []
    corrections: list[FeedbackRecord | Mapping[str, Any]] = []
    others = 0

    def not_expired_others() -> Iterator[FeedbackRecord | Mapping[str, Any]]:
        nonlocal expired, others
        for record in unsettled:
            if isinstance(record, FeedbackRecord):
                record_id, correction = record.id, record.is_correction
            else:
                record_id, correction = record["id"], stored_is_correction(record)
            seen_at = first_seen.get(record_id)
            # Records read first by this iteration (nearly all) are dated ``now``: no parsing.
            if now_expired if seen_at is None else parse_timestamp(seen_at) < oldest:
                expired += 1
                if correction:
                    expired_corrections.append(record_id)
                continue
            if correction:
                corrections.append(record)
                continue
            others += 1
            yield record

    candidates = not_expired_others()
    top = heapq.nsmallest(max(limit, 0), candidates, key=stored_rank_key(strategy, mode))
    deque(candidates, maxlen=0)  # nsmallest(0, ...) reads nothing; the counts need it all
    kept = [
        r if isinstance(r, FeedbackRecord) else FeedbackRecord.from_dict(r)
        for r in [*corrections, *top]
    ]
    kept.sort(key=lambda r: r.id)
    return CarryOver(
        kept=kept,
        first_seen={r.id: first_seen.get(r.id, now) for r in kept},
        expired=expired,
        expired_corrections=sorted(expired_corrections),
        dropped_over_limit=max(others - limit, 0),
        limit=limit,
        max_age_days=max_age_days,
    )
