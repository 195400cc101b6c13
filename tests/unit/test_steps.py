"""Step modules called directly, ``run(ctx, event)``, with a ``Stack`` over moto: no Lambda, no
state machine. The flow tests (test_iteration_flow.py) run the same modules through both."""

from __future__ import annotations

import boto3
import pytest
from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.steps import prepare, release_lock, select_for_review

from tests.support.iteration_data import put_feedback, put_seed
from tests.support.iteration_stack import BUCKET, PREFIX, TABLE
from tests.support.stack import create_registry_table

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:textloop-test-iteration:it-steps"


@pytest.fixture
def ctx(aws):
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    create_registry_table(TABLE)
    return Stack(
        {
            "DATA_LAKE_BUCKET": BUCKET,
            "REGISTRY_TABLE": TABLE,
            "ACTIVE_MODEL_PARAMETER_PREFIX": PREFIX,
            "ITERATION_DEFAULTS": '{"min_new_items": 3, "review_budget": 50, "random_share": 0}',
        }
    )


def prepared(ctx: Stack) -> dict:
    return prepare.run(
        ctx,
        {
            "input": {"config": {"review_batch_size": 4}},
            "execution_arn": EXECUTION,
            "iteration_id": "it-steps",
            "started_at": "2025-11-23T02:27:03.324Z",
        },
    )


def test_select_chooses_from_what_prepare_saw_and_the_lake_is_scanned_once(
    ctx, ag_news_rows, monkeypatch
):
    put_seed(BUCKET, ag_news_rows[:40])
    texts = [text for _, text in ag_news_rows[3000:3010]]
    first = put_feedback(BUCKET, texts[:6], [("Sports", texts[6])])
    it = prepared(ctx)
    assert it["new_items"]["count"] == 7 and it["new_items"]["enough"]
    assert it["config"]["review_batch_size"] == 4 and it["config"]["review_budget"] == 50
    assert it["lock"]["acquired"] and it["lock"]["holder"] == EXECUTION

    # Feedback arriving after Prepare waits for the next iteration; Select never lists the
    # feedback prefix again.
    put_feedback(BUCKET, texts[7:])

    def no_second_scan(*args, **kwargs):
        raise AssertionError("SelectForReview scanned the feedback again")

    monkeypatch.setattr(type(ctx.lake), "feedback_records", no_second_scan)
    result = select_for_review.run(ctx, {"iteration": it})
    selection = ctx.lake.get_json(layout.selection_key("it-steps"))
    selected = {item["id"] for item in selection["selection"]["selected"]}
    assert selected == {r.id for r in first[:6]}
    assert [c["item_id"] for c in selection["corrections"]] == [first[6].id]
    assert result["counts"]["selected"] == 6 and result["counts"]["corrections"] == 1
    assert [b["items"] for b in result["batches"]] == [4, 2]

    assert release_lock.run(ctx, {"iteration": it}) == {"released": True}
    assert release_lock.run(ctx, {"iteration": it}) == {"released": False}


def test_too_little_new_feedback_stores_nothing_for_select(ctx, ag_news_rows):
    put_feedback(BUCKET, [text for _, text in ag_news_rows[3000:3002]])
    it = prepared(ctx)
    assert it["new_items"]["enough"] is False
    assert ctx.lake.get_records(layout.new_feedback_key("it-steps")) is None
    with pytest.raises(LookupError, match="no new feedback"):
        select_for_review.run(ctx, {"iteration": it})


def test_merge_writes_the_answers_it_added_once_to_the_annotations_table(ctx, ag_news_rows):
    import gzip
    import json

    from textloop.steps import merge_answers

    put_seed(BUCKET, ag_news_rows[:40])
    texts = [text for _, text in ag_news_rows[3000:3006]]
    corrections = put_feedback(BUCKET, texts[:3], [("Sports", texts[3]), ("World", texts[4])])[3:]
    it = prepared(ctx)
    selected = select_for_review.run(ctx, {"iteration": it})
    event = {"iteration": it, "selection": selected, "reviews": {"batches": []}}
    result = merge_answers.run(ctx, event)

    key = layout.annotations_added_key("DOCUMENT_CLASSIFIER", "2025-11-23", "it-steps")
    assert key == "annotations/added/model_type=DOCUMENT_CLASSIFIER/dt=2025-11-23/it-steps.jsonl.gz"
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    rows = [json.loads(line) for line in gzip.decompress(body).splitlines()]
    assert sorted((r["item_id"], r["labels"], r["pool_labels"]) for r in rows) == sorted(
        (c.id, list(c.corrected_labels), list(c.corrected_labels)) for c in corrections
    )
    assert {r["pool_version"] for r in rows} == {result["pool_version"]}
    assert {r["iteration_id"] for r in rows} == {"it-steps"}
    assert {r["source"] for r in rows} == {"explicit-correction"}

    # A retried merge, even one that lost its stored result after publishing, adds nothing and
    # leaves the file as it was.
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=layout.merge_result_key("it-steps"))
    again = merge_answers.run(ctx, event)
    assert again["pool_version"] == result["pool_version"] and again["changes"] == {}
    assert boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
