"""Incremental iterations (domain/intake.py): the watermark, lateness, the carry-over and its
expiry, the pre-ranking. Prepare and the Record step's commit run as step code over moto; the S3
requests are counted with a botocore event hook on the lake's client."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import boto3
import pytest
from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.annotations import Answer, merge_answers
from textloop.domain.feedback import FeedbackRecord, record_id
from textloop.domain.intake import (
    Watermark,
    carry_over,
    decode_carry_over,
    next_watermark,
    read_plan,
    stored_rows,
)
from textloop.domain.iteration import Iteration
from textloop.domain.local_model import LocalBackend
from textloop.domain.selection import (
    PrerankStream,
    SelectionConfig,
    prerank,
    select_for_review,
    uncertainty_of,
)
from textloop.steps import prepare, record
from textloop.steps import select_for_review as select_step
from textloop.steps.select_for_review import rescored

from tests.support.iteration_data import put_feedback_file
from tests.support.iteration_data import record as batch_record
from tests.support.iteration_stack import BUCKET, PREFIX, TABLE
from tests.support.stack import create_registry_table

MT = "DOCUMENT_CLASSIFIER"


@pytest.fixture
def ctx(aws):
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    create_registry_table(TABLE)
    return Stack(
        {
            "DATA_LAKE_BUCKET": BUCKET,
            "REGISTRY_TABLE": TABLE,
            "ACTIVE_MODEL_PARAMETER_PREFIX": PREFIX,
            "ITERATION_DEFAULTS": '{"min_new_items": 1, "review_budget": 4, "random_share": 0}',
        }
    )


class S3Requests:
    """Every request the lake's S3 client sends: (operation, key or prefix)."""

    def __init__(self, client):
        self.calls: list[tuple[str, str]] = []
        # Once per request with the API's parameters (a paginator's every page included).
        client.meta.events.register("before-parameter-build.s3", self._record)

    def _record(self, model, params, **kwargs):
        self.calls.append((model.name, params.get("Key") or params.get("Prefix") or ""))

    def of(self, operation: str) -> list[str]:
        return [key for name, key in self.calls if name == operation]


def implicit(text: str, top: float, observed_at: str = "2026-12-01T10:00:00.000Z"):
    """An implicit record whose stored prediction has margin ``2 * top - 1`` (two labels)."""
    data = {
        "schema_version": 1,
        "source": "implicit",
        "reason": "low_confidence",
        "text": text,
        "model_type": MT,
        "mode": "MULTI_CLASS",
        "model_version": "v-served",
        "prediction": {
            "routed_to_review": True,
            "labels": [
                {"label": "World", "score": top},
                {"label": "Sports", "score": round(1 - top, 6)},
            ],
        },
        "created_at": observed_at,
        "observed_at": observed_at,
    }
    data["id"] = record_id(data)
    return FeedbackRecord.from_dict(data)


def run_prepare(ctx: Stack, iteration_id: str, started_at: str, **config) -> dict:
    it = prepare.run(
        ctx,
        {
            "input": {"config": config},
            "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:x:{iteration_id}",
            "iteration_id": iteration_id,
            "started_at": started_at,
        },
    )
    # Each test's iterations run one after another: the lock goes with the iteration.
    ctx.registry.release(MT, holder=it["lock"]["holder"])
    return it


def decided(ctx: Stack, it: dict) -> dict:
    """What RecordDecision commits for the iteration (its audit record's ``inputs.intake``)."""
    return record.commit_intake(ctx, Iteration.from_dict(it), "DECIDED")


def watermark(ctx: Stack) -> Watermark | None:
    return Watermark.from_dict(ctx.lake.get_json(layout.watermark_key(MT)))


def test_an_iteration_after_a_second_batch_lists_only_new_hours_and_reads_only_new_files(ctx):
    first = put_feedback_file(
        BUCKET, [batch_record(f"first batch {n}") for n in range(3)], hour="2026-12-01T10"
    )
    it1 = run_prepare(ctx, "it-1", "2026-12-01T10:40:00.000Z")
    assert it1["new_items"]["count"] == 3
    assert it1["intake"]["watermark_hour"] is None and "first incremental" in it1["intake"]["note"]
    assert decided(ctx, it1)["committed"] is True
    assert watermark(ctx) == Watermark("2026-12-01T10", frozenset({first}))

    second = put_feedback_file(
        BUCKET, [batch_record(f"second batch {n}") for n in range(2)], hour="2026-12-01T15"
    )
    requests = S3Requests(ctx.lake.s3)
    it2 = run_prepare(ctx, "it-2", "2026-12-01T15:05:00.000Z")

    # Hours 07 (the watermark's hour minus the lateness of 3) to 15, one ListObjectsV2 each.
    hours = [f"2026-12-01T{h:02d}" for h in range(7, 16)]
    assert requests.of("ListObjectsV2") == [layout.feedback_hour_prefix(MT, h) for h in hours]
    # Only the new file, the watermark, the carry-over and the pool pointer are read.
    assert sorted(requests.of("GetObject")) == sorted(
        [
            second,
            layout.watermark_key(MT),
            layout.carry_over_key(MT),
            layout.current_pool_key(MT),
        ]
    )
    assert sorted(requests.of("PutObject")) == sorted(
        [layout.intake_key("it-2"), layout.new_feedback_key("it-2")]
    )
    # The first batch's three records were not answered: they come back as the carry-over.
    assert (
        it2["intake"] | {"prefixes_listed": 9, "files_read": 1, "carried_over": 3} == it2["intake"]
    )
    assert it2["new_items"]["count"] == 5


def test_a_file_landing_late_in_an_hour_already_read_is_read_once(ctx):
    early = put_feedback_file(BUCKET, [batch_record("on time")], hour="2026-12-01T10")
    decided(ctx, run_prepare(ctx, "it-1", "2026-12-01T10:40:00.000Z"))
    # The buffer wrote this batch into hour 10 after it-1 had listed hour 10.
    late = put_feedback_file(BUCKET, [batch_record("late")], hour="2026-12-01T10")

    requests = S3Requests(ctx.lake.s3)
    it2 = run_prepare(ctx, "it-2", "2026-12-01T11:20:00.000Z")
    assert late in requests.of("GetObject") and early not in requests.of("GetObject")
    assert it2["intake"]["files_read"] == 1
    decided(ctx, it2)
    assert watermark(ctx).read == {early, late}

    requests.calls.clear()
    it3 = run_prepare(ctx, "it-3", "2026-12-01T12:20:00.000Z")
    assert it3["intake"]["files_listed"] == 2 and it3["intake"]["files_read"] == 0
    assert not {early, late} & set(requests.of("GetObject"))
    # Past the lateness window the watermark forgets the files: hour 10 is never listed again.
    decided(ctx, run_prepare(ctx, "it-4", "2026-12-01T14:20:00.000Z"))
    assert watermark(ctx) == Watermark("2026-12-01T14", frozenset())


@pytest.mark.parametrize("outcome", ["FAILED", "NO_OP"])
def test_a_failed_or_no_op_iteration_leaves_the_watermark_and_the_next_reads_again(ctx, outcome):
    key = put_feedback_file(
        BUCKET, [batch_record(f"text {n}") for n in range(3)], hour="2026-12-01T10"
    )
    it1 = run_prepare(ctx, "it-1", "2026-12-01T10:40:00.000Z")
    event = {"iteration": it1, "outcome": outcome}
    if outcome == "FAILED":
        event |= {"failure": {"Error": "States.TaskFailed", "Cause": "boom"}, "progress": {}}
    else:
        event["reason"] = "too little"
    result = record.run(ctx, event)
    audit = ctx.lake.get_json(result["key"])
    assert audit["inputs"]["intake"]["committed"] is False
    assert audit["inputs"]["intake"]["files_read"] == 1
    assert ctx.lake.get_json(layout.watermark_key(MT)) is None
    assert ctx.lake.get_bytes(layout.carry_over_key(MT)) is None

    requests = S3Requests(ctx.lake.s3)
    it2 = run_prepare(ctx, "it-2", "2026-12-01T11:40:00.000Z")
    assert key in requests.of("GetObject") and it2["new_items"]["count"] == 3


def test_the_first_iteration_reads_the_old_per_record_layout_once_and_says_so(ctx):
    legacy = batch_record("stored one object per record")
    # Where the writers before the partitioned files put a record.
    key = layout.feedback_record_key(legacy.id, legacy.model_version, legacy.observed_at)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=legacy.to_json())
    it1 = run_prepare(ctx, "it-1", "2026-12-01T10:40:00.000Z")
    assert it1["new_items"]["count"] == 1 and it1["intake"]["legacy_records"] == 1
    assert "old per-record layout (1 record(s)) once" in it1["intake"]["note"]
    decided(ctx, it1)
    requests = S3Requests(ctx.lake.s3)
    it2 = run_prepare(ctx, "it-2", "2026-12-01T11:40:00.000Z")
    assert not [p for p in requests.of("ListObjectsV2") if "model_version=" in p]
    # Unanswered, it stays in the loop through the carry-over.
    assert it2["intake"]["legacy_records"] == 0 and it2["intake"]["carried_over"] == 1


def test_the_carry_over_is_bounded_and_expiry_is_audited(ctx):
    records = [implicit(f"doubtful {n}", 0.5 + n / 40) for n in range(8)]
    put_feedback_file(BUCKET, records, hour="2026-12-01T10")
    it1 = run_prepare(ctx, "it-1", "2026-12-01T10:40:00.000Z", carry_over_limit=3)
    committed = decided(ctx, it1)
    # The three most uncertain by stored margin stay; five are dropped and counted.
    kept, first_seen = decode_carry_over(ctx.lake.get_bytes(layout.carry_over_key(MT)))
    assert {r.text for r in kept} == {"doubtful 0", "doubtful 1", "doubtful 2"}
    assert set(first_seen.values()) == {"2026-12-01T10:40:00.000Z"}
    assert (
        committed["carry_over"] | {"kept": 3, "dropped_over_limit": 5, "expired": 0}
        == (committed["carry_over"])
    )

    # Eight days later nothing new arrived: the carried candidates expire, counted with why.
    it2 = run_prepare(ctx, "it-2", "2026-12-09T11:00:00.000Z", carry_over_limit=3)
    assert it2["intake"]["carried_over"] == 3
    committed = decided(ctx, it2)
    assert committed["carry_over"]["expired"] == 3
    assert "more than 7 day(s)" in committed["carry_over"]["expired_reason"]
    assert committed["carry_over"]["expired_corrections"] == []
    assert decode_carry_over(ctx.lake.get_bytes(layout.carry_over_key(MT)))[0] == []


def test_explicit_corrections_are_carried_past_the_limit_and_listed_when_they_expire():
    now = "2026-12-09T11:00:00.000Z"
    corrections = [batch_record(f"corrected {n}", "World", trusted=False) for n in range(4)]
    doubtful = [implicit(f"doubtful {n}", 0.6) for n in range(3)]
    seen = {r.id: "2026-12-08T10:00:00.000Z" for r in [*corrections, *doubtful]}
    seen[corrections[0].id] = "2026-11-20T10:00:00.000Z"  # older than 7 days
    result = carry_over(
        [*corrections, *doubtful], now=now, first_seen=seen, limit=1, max_age_days=7
    )
    assert {r.id for r in result.kept if r.is_correction} == {r.id for r in corrections[1:]}
    assert sum(1 for r in result.kept if not r.is_correction) == 1
    audit = result.audit()
    assert audit["expired"] == 1 and audit["expired_corrections"] == [corrections[0].id]
    assert audit["dropped_over_limit"] == 2 and audit["kept_corrections"] == 3


def test_pre_ranking_re_scores_only_the_top_k_and_a_sample_for_the_random_share(ag_news_model):
    records = [
        implicit(f"story number {n} about markets and games", 0.5 + n / 200) for n in range(60)
    ]
    config = SelectionConfig(budget=4, random_share=0.5, seed="it-x")
    ranked = prerank(records, config, factor=2, labelled=0)
    margin = {r.id: uncertainty_of(r).value for r in records}
    top = sorted(records, key=lambda r: (-margin[r.id], r.id))[:8]
    assert [r.id for r in ranked.records[:8]] == [r.id for r in top]
    # Two random slots, twice over: four drawn from beyond the top, and only those may be drawn.
    assert len(ranked.random_from) == 4 and not set(ranked.random_from) & {r.id for r in top}
    assert ranked.counts() == {"prerank_candidates": 60, "rescored": 12, "not_rescored": 48}

    fresh = rescored(ranked.records, LocalBackend(ag_news_model))
    assert Counter(r.model_version for r in fresh) == {"agnews-test-1": 12}
    chosen = select_for_review(fresh, config, random_from=ranked.random_from)
    drawn = [item.id for item in chosen.selected if item.reason == "random"]
    assert len(drawn) == 2 and set(drawn) <= set(ranked.random_from)
    # With no more candidates than the top, nothing changes: all re-scored, random as before.
    small = prerank(records[:8], config, factor=2)
    assert small.random_from is None and small.rescored == 8


def test_read_plan_and_next_watermark():
    mark = Watermark("2026-12-01T23", frozenset())
    plan = read_plan(mark, "2026-12-02T01", 3)
    assert plan.hours == (
        "2026-12-01T20",
        "2026-12-01T21",
        "2026-12-01T22",
        "2026-12-01T23",
        "2026-12-02T00",
        "2026-12-02T01",
    )
    old = layout.feedback_file_key(MT, "2026-12-01T21", "a" * 32)
    recent = layout.feedback_file_key(MT, "2026-12-01T22", "b" * 32)
    after = next_watermark(plan, Watermark("2026-12-01T23", frozenset({old})), [recent])
    assert after == Watermark("2026-12-02T01", frozenset({recent}))
    assert read_plan(None, "2026-12-02T01", 3).first


def test_the_state_machine_carries_what_prepare_read_to_the_record_step():
    # Prepare's ResultSelector names each field of $.iteration: one left out never reaches
    # RecordDecision, which then commits no watermark.
    asl = json.loads(
        (Path(__file__).parents[2] / "statemachines" / "iteration.asl.json").read_text()
    )
    selected = {k.removesuffix(".$") for k in asl["States"]["Prepare"]["ResultSelector"]}
    fields = Iteration.from_dict(
        {
            "iteration_id": "it",
            "execution_arn": "arn",
            "started_at": "2026-12-01T10:00:00.000Z",
            "model_type": MT,
            "config": {},
        }
    ).to_dict()
    assert selected == set(fields)


# --------------------------------------------------------------------------- streaming


def run_select(ctx: Stack, it: dict) -> dict:
    return select_step.run(ctx, {"iteration": it})


def test_select_reads_exactly_the_files_prepare_named_and_chooses_from_what_it_counted(ctx):
    first = put_feedback_file(
        BUCKET,
        [implicit(f"counted story {n}", 0.55 + n / 100) for n in range(4)],
        hour="2026-12-01T10",
    )
    second = put_feedback_file(BUCKET, [batch_record("counted upload")], hour="2026-12-01T11")
    it = run_prepare(ctx, "it-1", "2026-12-01T11:40:00.000Z")
    proposal = ctx.lake.get_json(layout.intake_key("it-1"))
    assert [f["key"] for f in proposal["files"]] == sorted([first, second])
    assert all(f["etag"].strip('"') for f in proposal["files"])
    assert proposal["new_items"] == it["new_items"]["count"] == 5
    # No record is copied: what Prepare stores holds only what no file holds (no carry-over yet).
    assert ctx.lake.get_records(layout.new_feedback_key("it-1")) == []

    # A file landing after Prepare listed the hour is the next iteration's, not this one's.
    late = put_feedback_file(BUCKET, [implicit("arrived too late", 0.5)], hour="2026-12-01T11")
    requests = S3Requests(ctx.lake.s3)
    selected = run_select(ctx, it)
    assert late not in requests.of("GetObject")
    assert {first, second} <= set(requests.of("GetObject"))
    assert not requests.of("ListObjectsV2")
    assert selected["counts"]["prerank_candidates"] == 5
    items = {
        i["text"]
        for b in ctx.lake.get_json(selected["selection_key"])["batches"]
        for i in b["items"]
    }
    assert "arrived too late" not in items and len(items) == 4  # the review budget


def test_a_file_changed_or_gone_after_prepare_fails_select_naming_it(ctx):
    key = put_feedback_file(BUCKET, [implicit("first words", 0.6)], hour="2026-12-01T10")
    it = run_prepare(ctx, "it-1", "2026-12-01T10:40:00.000Z")
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body + b"")  # the same bytes: the same ETag
    assert run_select(ctx, it)["counts"]["prerank_candidates"] == 1
    other = gzip.compress(implicit("other words", 0.6).to_json(), mtime=0)
    s3.put_object(Bucket=BUCKET, Key=key, Body=other)
    with pytest.raises(RuntimeError, match=f"{key} changed"):
        run_select(ctx, it)
    s3.delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(LookupError, match=f"{key} is gone"):
        run_select(ctx, it)


def test_select_refuses_a_count_that_differs_from_prepares(ctx):
    put_feedback_file(BUCKET, [implicit(f"story {n}", 0.6) for n in range(3)], hour="2026-12-01T10")
    it = run_prepare(ctx, "it-1", "2026-12-01T10:40:00.000Z")
    with pytest.raises(RuntimeError, match=r"Prepare counted 4 new feedback record.*Select read 3"):
        run_select(ctx, {**it, "new_items": {**it["new_items"], "count": 4}})


def test_select_counts_with_the_pool_prepare_counted_with(ctx):
    texts = [f"pooled story {n}" for n in range(3)]
    put_feedback_file(BUCKET, [implicit(t, 0.6) for t in texts], hour="2026-12-01T10")
    it = run_prepare(ctx, "it-1", "2026-12-01T10:40:00.000Z")
    # A pool version published after Prepare answers one of the texts: Select still reads the
    # three Prepare counted (and leaves the answered one out of the ranking, as before).
    answer = Answer(
        item_id="x",
        text=texts[0],
        reviewer_id="rev-1",
        answered_at="2026-12-01T10:50:00.000Z",
        source="review",
        labels=("World",),
    )
    ctx.pools.publish(merge_answers(None, [answer], model_type=MT), iteration_id="other")
    selected = run_select(ctx, it)
    assert selected["counts"]["prerank_candidates"] == 2


def test_a_retried_prepare_writes_the_same_objects_and_returns_the_same(ctx):
    put_feedback_file(BUCKET, [implicit(f"story {n}", 0.6) for n in range(3)], hour="2026-12-01T10")
    first = run_prepare(ctx, "it-1", "2026-12-01T10:40:00.000Z", carry_over_limit=1)
    decided(ctx, first)  # something carried over, so Prepare stores records too
    put_feedback_file(BUCKET, [implicit("newer", 0.6)], hour="2026-12-01T11")
    it = run_prepare(ctx, "it-2", "2026-12-01T11:40:00.000Z")
    keys = [layout.intake_key("it-2"), layout.new_feedback_key("it-2")]
    stored = [ctx.lake.get_bytes(k) for k in keys]
    assert len(ctx.lake.get_records(keys[1])) == 1
    again = run_prepare(ctx, "it-2", "2026-12-01T11:40:00.000Z")
    # The lock's expiry is the clock's; the rest is what the lake held.
    assert again | {"lock": None} == it | {"lock": None}
    assert [ctx.lake.get_bytes(k) for k in keys] == stored
    assert run_select(ctx, it) == run_select(ctx, again)


def test_record_carries_over_from_the_files_prepare_named(ctx):
    records = [implicit(f"doubtful {n}", 0.5 + n / 40) for n in range(6)]
    put_feedback_file(BUCKET, records, hour="2026-12-01T10")
    it = run_prepare(ctx, "it-1", "2026-12-01T10:40:00.000Z", carry_over_limit=2)
    requests = S3Requests(ctx.lake.s3)
    committed = decided(ctx, it)
    assert [f["key"] for f in ctx.lake.get_json(layout.intake_key("it-1"))["files"]] == [
        k for k in requests.of("GetObject") if k.startswith("feedback/")
    ]
    kept, _ = decode_carry_over(ctx.lake.get_bytes(layout.carry_over_key(MT)))
    assert [r.text for r in sorted(kept, key=lambda r: r.text)] == ["doubtful 0", "doubtful 1"]
    assert committed["carry_over"]["unsettled"] == 6


def test_carry_over_reads_a_generator_once_and_a_limit_of_zero_still_counts():
    records = [implicit(f"doubtful {n}", 0.5 + n / 40) for n in range(5)]
    correction = batch_record("corrected", "World")
    now = "2026-12-01T10:00:00.000Z"
    listed = carry_over([*records, correction], now=now, first_seen={}, limit=2, max_age_days=7)
    streamed = carry_over(
        iter([*records, correction]), now=now, first_seen={}, limit=2, max_age_days=7
    )
    assert streamed == listed and len(listed.kept) == 3
    # Stored dicts, as the Record step streams them: the same decision, records kept.
    rows = carry_over(
        (r.to_dict() for r in [*records, correction]),
        now=now,
        first_seen={},
        limit=2,
        max_age_days=7,
    )
    assert rows == listed
    nothing = carry_over(iter(records), now=now, first_seen={}, limit=0, max_age_days=7)
    assert nothing.kept == [] and nothing.dropped_over_limit == 5


def test_pre_ranking_a_stream_holds_only_the_top_and_the_sample():
    config = SelectionConfig(budget=3, random_share=0.5, seed="it-s")
    records = [implicit(f"news item {n}", 0.5 + (n * 37 % 100) / 250) for n in range(400)]
    rows = (r.to_dict() for r in records)  # what the steps stream: stored dicts
    stream = PrerankStream(config, factor=2, labelled=0)
    largest = 0
    for row in rows:
        stream.add(row)
        largest = max(largest, len(stream.top) + len(stream.hashed))
    # The top 2 x 3 and, for 2 x 2 random slots, the 4 + 6 smallest hashes: never more.
    assert largest == 6 + 10
    ranked = stream.result()
    brute = sorted(records, key=lambda r: (-uncertainty_of(r).value, r.id))
    assert [r.id for r in ranked.records[:6]] == [r.id for r in brute[:6]]
    assert all(isinstance(r, FeedbackRecord) for r in ranked.records)
    assert len(ranked.random_from) == 4
    assert not set(ranked.random_from) & {r.id for r in brute[:6]}
    # The same records as FeedbackRecords, in another order: the same choice.
    again = prerank(list(reversed(records)), config, factor=2, labelled=0)
    assert [r.id for r in again.records] == [r.id for r in ranked.records]
    assert again.random_from == ranked.random_from


def test_pre_ranking_with_a_review_budget_of_zero_counts_and_keeps_nothing():
    # review_budget 0 is a valid iteration (the LocalStack test uses it to train on
    # corrections alone): no top to keep, the candidates still counted, corrections still kept.
    config = SelectionConfig(budget=0, random_share=0.2, seed="it-0")
    records = [implicit(f"news item {n}", 0.5 + n / 100) for n in range(5)]
    stream = PrerankStream(config, factor=5, labelled=0)
    for row in (r.to_dict() for r in records):
        stream.add(row)
    ranked = stream.result()
    assert stream.candidates == 5 and stream.top == []
    assert ranked.records == []


def test_a_stored_line_parses_as_before_or_is_named():
    data = implicit("a story", 0.6).to_dict() | {"origin": {"score": float("nan")}}
    line = json.dumps(data).encode()  # NaN: orjson refuses it, json (as before) does not
    assert len(list(stored_rows(line + b"\n", "f.jsonl"))) == 1
    with pytest.raises(ValueError, match=r"f\.jsonl line 2 is not a feedback record"):
        list(stored_rows(line + b"\n" + b'{"id": "x"}\n', "f.jsonl"))
    with pytest.raises(ValueError, match="line 1 is not a feedback record"):
        list(stored_rows(b"[1, 2]\n", "f.jsonl"))


def test_the_stored_uncertainty_of_a_line_is_the_uncertainty_of_its_record():
    from textloop.domain.selection import stored_uncertainty

    labels = [("World", 0.41), ("Sports", 0.39), ("Business", 0.2)]
    multi = implicit("labels", 0.7).to_dict() | {
        "mode": "MULTI_LABEL",
        "thresholds": {"default": 0.5, "per_label": {"Sports": 0.3}},
        "prediction": {
            "routed_to_review": True,
            "labels": [{"label": lb, "score": s} for lb, s in labels],
        },
    }
    entity = implicit("Ada Lovelace wrote", 0.7).to_dict() | {"model_type": "ENTITY_RECOGNIZER"}
    entity.pop("mode")
    spans = [
        {"begin_offset": 0, "end_offset": 3, "type": "PERSON", "score": 0.8},
        {"begin_offset": 4, "end_offset": 12, "type": "PERSON", "score": 0.55},
    ]
    rows = [
        implicit("two labels", 0.62).to_dict(),
        batch_record("no prediction").to_dict(),
        multi,
        entity | {"prediction": {"routed_to_review": True, "entities": spans}},
        entity | {"prediction": {"routed_to_review": True, "entities": []}},
        {k: v for k, v in entity.items() if k != "prediction"},
    ]
    for row in rows:
        record = FeedbackRecord.from_dict(row)
        for strategy in ("margin", "entropy"):
            assert stored_uncertainty(row, strategy) == uncertainty_of(record, strategy), row
