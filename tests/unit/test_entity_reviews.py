"""Review of entity recognisers: the task (the model's spans with their scores, the entity
types), the answers (spans checked against the item's text, 400 naming the field), idempotent
completion through the review API and the A2I callback, and the merge of span answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from textloop.adapters.lake import DataLake
from textloop.adapters.reviews_store import ReviewStore
from textloop.domain import reviews
from textloop.domain.annotations import merge_answers
from textloop.domain.hashing import text_key
from textloop.domain.validation import InvalidInput

from tests.support import aws_examples
from tests.support.hostile import call, fields, invoke, people_env
from tests.support.stack import create_bucket, deploy_function

RECOGNIZER = "ENTITY_RECOGNIZER"
TYPES = ["SERVICE", "VERSION"]
TEXT_1 = "Amazon S3 now supports Glacier Deep Archive."
TEXT_2 = "Upgrade to Python 3.13 on AWS Lambda."
NOW = datetime(2025, 11, 23, 2, 30, tzinfo=UTC)


def span(begin, end, kind, score=None):
    out = {"begin_offset": begin, "end_offset": end, "type": kind}
    if score is not None:
        out["score"] = score
    return out


def selected_item(item_id, text, entities, **extra):
    """An item as SelectForReview stores it (``SelectedItem.to_dict``): the feedback record's
    prediction carries the model's spans with their scores."""
    return {
        "id": item_id,
        "text": text,
        "reason": "uncertain",
        "uncertainty": 0.4,
        "model_type": RECOGNIZER,
        "prediction": {"routed_to_review": True, "entities": entities},
        **extra,
    }


def entity_task(batch_id="it-ner-0000-0123456789ab", *, backend="local", now=NOW):
    return reviews.build_task(
        batch={
            "batch_id": batch_id,
            "items": [
                selected_item(
                    "item-1",
                    TEXT_1,
                    # Out of order on purpose: the task lists spans by offset.
                    [span(23, 43, "SERVICE", 0.61), span(0, 9, "SERVICE", 0.97)],
                ),
                selected_item("item-2", TEXT_2, [span(11, 22, "VERSION", 0.42)]),
            ],
        },
        iteration_id="it-ner",
        model_type=RECOGNIZER,
        mode=None,
        options=list(reversed(TYPES)),
        task_token="token-of-the-iteration",
        created_at=now,
        deadline=now + timedelta(hours=1),
        review_backend=backend,
    )


def test_an_entity_task_carries_the_models_spans_with_scores_and_the_types():
    task = entity_task()
    assert task["model_type"] == RECOGNIZER and task["mode"] is None
    assert task["entity_types"] == TYPES and task["options"] == TYPES
    first, second = task["items"]
    assert first["suggestion"] == {
        "entities": [span(0, 9, "SERVICE", 0.97), span(23, 43, "SERVICE", 0.61)],
        "confidence": 0.61,
    }
    assert second["suggestion"] == {"entities": [span(11, 22, "VERSION", 0.42)], "confidence": 0.42}
    assert (
        TEXT_1[0:9] == "Amazon S3"
        and TEXT_1[23:43] == "Glacier Deep Archive"
        and TEXT_2[11:22] == "Python 3.13"
    )


def test_no_entities_and_no_prediction_are_told_apart():
    none_found = reviews.entity_suggestion_of({"entities": []})
    assert none_found == {"entities": [], "confidence": None}
    assert reviews.entity_suggestion_of(None) is None


def test_an_untrusted_entity_correction_is_the_suggestion_with_the_model_beside():
    item = selected_item(
        "item-1",
        TEXT_1,
        [span(0, 9, "SERVICE", 0.97)],
        correction={
            "labels": [span(23, 43, "SERVICE"), span(0, 9, "SERVICE")],
            "submitted_by": "partner",
            "source": "explicit-api",
        },
    )
    suggestion = reviews.item_suggestion(item, None, RECOGNIZER)
    assert suggestion["from"] == "correction"
    assert suggestion["entities"] == [span(0, 9, "SERVICE"), span(23, 43, "SERVICE")]
    assert suggestion["model"]["entities"] == [span(0, 9, "SERVICE", 0.97)]


def submit(answers, reviewer="rev-1"):
    return reviews.parse_submission({"reviewer_id": reviewer, "answers": answers})


def test_span_answers_are_checked_against_each_text():
    task = entity_task()
    good = submit(
        [
            {"item_id": "item-2", "entities": []},  # "no entities"
            {"item_id": "item-1", "entities": [span(23, 43, "SERVICE"), span(0, 9, "SERVICE")]},
        ]
    )
    reviews.check_submission(task, good)
    assert good.kind == "entities"
    # Sorted by item id, spans by offset: the same answers in another order are the same.
    assert good.to_dict()["answers"] == [
        {"item_id": "item-1", "entities": [span(0, 9, "SERVICE"), span(23, 43, "SERVICE")]},
        {"item_id": "item-2", "entities": []},
    ]

    bad = submit(
        [
            {
                "item_id": "item-1",
                "entities": [
                    span(0, 9, "SERVICE"),
                    span(3, 12, "SERVICE"),  # overlaps entities[0]
                    span(30, 30, "SERVICE"),  # empty
                    span(40, 99, "SERVICE"),  # past the end of the text
                    span(7, 8, "SERVICE"),  # inside entities[0] and [1]
                ],
            },
            {"item_id": "item-2", "entities": [span(0, 7, "PRODUCT"), span(10, 11, "VERSION")]},
            {"item_id": "item-9", "entities": []},
        ]
    )
    with pytest.raises(InvalidInput) as caught:
        reviews.check_submission(task, bad)
    assert [e.as_tuple() for e in caught.value.errors] == [
        ("answers[0].entities[2].end_offset", "must be greater than begin_offset"),
        ("answers[0].entities[3].end_offset", f"must be <= {len(TEXT_1)} (the length of text)"),
        ("answers[0].entities[1]", "overlaps answers[0].entities[0]"),
        ("answers[0].entities[4]", "overlaps answers[0].entities[1]"),
        (
            "answers[1].entities[0].type",
            "'PRODUCT' is not among the entity types ['SERVICE', 'VERSION']",
        ),
        ("answers[1].entities[1]", "covers only blanks"),
        ("answers[2].item_id", "'item-9' is not in this batch"),
    ]


@pytest.mark.parametrize(
    ("answers", "field", "message"),
    [
        ([{"item_id": "item-1"}], "answers[0]", "needs labels"),
        (
            [{"item_id": "item-1", "labels": ["SERVICE"], "entities": []}],
            "answers[0]",
            "needs labels (a document classifier) or entities (an entity recogniser), not both",
        ),
        (
            [{"item_id": "item-1", "entities": []}, {"item_id": "item-2", "labels": []}],
            "answers",
            "answers are all labels or all entities",
        ),
        (
            [{"item_id": "item-1", "entities": [span(-1, 3, "SERVICE")]}],
            "answers[0].entities[0].begin_offset",
            "must be >= 0",
        ),
        (
            [{"item_id": "item-1", "entities": [{"begin_offset": 0, "end_offset": 3}]}],
            "answers[0].entities[0].type",
            "is required",
        ),
        (
            [{"item_id": "item-1", "entities": [span(0, 3.5, "SERVICE")]}],
            "answers[0].entities[0].end_offset",
            "must be an integer",
        ),
    ],
)
def test_malformed_span_answers_name_the_field(answers, field, message):
    with pytest.raises(InvalidInput) as caught:
        submit(answers)
    assert caught.value.errors[0].field == field
    assert caught.value.errors[0].message.startswith(message), caught.value.errors


def test_labels_for_an_entity_batch_and_spans_for_a_classifier_batch_are_refused():
    with pytest.raises(InvalidInput) as caught:
        reviews.check_submission(entity_task(), submit([{"item_id": "item-1", "labels": []}]))
    assert caught.value.errors[0].as_tuple() == (
        "answers[0].entities",
        "is required: this batch reviews a ENTITY_RECOGNIZER",
    )
    classifier = {"model_type": "DOCUMENT_CLASSIFIER", "mode": "MULTI_CLASS", "options": ["A"]}
    classifier["items"] = [{"item_id": "item-1", "text": TEXT_1}]
    with pytest.raises(InvalidInput) as caught:
        reviews.check_submission(classifier, submit([{"item_id": "item-1", "entities": []}]))
    assert caught.value.errors[0].field == "answers[0].labels"


def test_answers_become_pool_answers_that_merge_per_span():
    task = entity_task()
    ann = submit(
        [
            {"item_id": "item-1", "entities": [span(0, 9, "SERVICE"), span(23, 43, "SERVICE")]},
            {"item_id": "item-2", "entities": [span(11, 22, "VERSION")]},
        ],
        "ann",
    )
    bob = submit(
        [
            {"item_id": "item-1", "entities": [span(0, 9, "SERVICE")]},
            {"item_id": "item-2", "entities": []},
        ],
        "bob",
    )
    cem = submit(
        [
            {"item_id": "item-1", "entities": [span(0, 9, "SERVICE"), span(23, 30, "SERVICE")]},
            {"item_id": "item-2", "entities": []},
        ],
        "cem",
    )
    document = reviews.answers_document(task, [ann, bob, cem], source="review-api", answered_at=NOW)
    assert document["reviewers"] == ["ann", "bob", "cem"] and document["answered_items"] == 2
    bobs = [a for a in document["answers"] if a["reviewer_id"] == "bob"]
    assert {a["item_id"]: a["entities"] for a in bobs} == {
        "item-1": [span(0, 9, "SERVICE")],
        "item-2": [],  # "no entities" is an answer, written as such
    }
    assert all("labels" not in a for a in document["answers"])

    pool = merge_answers(None, document["answers"], model_type=RECOGNIZER)
    merged = pool.by_key()
    first = merged[text_key(TEXT_1, RECOGNIZER)]
    # S3 3 of 3; "Glacier Deep Archive" and "Glacier" 1 of 3 each: only S3 is kept.
    assert first.entities == ((0, 9, "SERVICE"),)
    assert first.decided_by == "majority"
    assert first.reviewer_ids == ["ann", "bob", "cem"]
    second = merged[text_key(TEXT_2, RECOGNIZER)]
    assert second.entities == () and second.decided_by == "majority"
    data = second.to_dict(RECOGNIZER)
    assert data["entities"] == []
    assert data["votes"] == [
        {"entities": [], "count": 2},
        {"entities": [span(11, 22, "VERSION")], "count": 1},
    ]
    # The stored pool re-derives to its hash, and merging the same answers again is a no-op.
    assert merge_answers(pool.to_dict(), document["answers"]) is not None
    assert merge_answers(pool, document["answers"]).content_hash == pool.content_hash


def test_a_tie_keeps_the_latest_voters_spans_and_kept_spans_never_overlap():
    early = {
        "item_id": "i",
        "text": TEXT_1,
        "reviewer_id": "ann",
        "answered_at": "2025-01-01T00:00:00Z",
        "source": "review",
        "entities": [span(0, 9, "SERVICE"), span(23, 30, "SERVICE")],
    }
    late = {
        **early,
        "reviewer_id": "bob",
        "answered_at": "2025-01-01T00:00:05Z",
        "entities": [span(0, 9, "SERVICE"), span(23, 43, "SERVICE")],
    }
    (annotation,) = merge_answers(None, [early, late], model_type=RECOGNIZER).annotations
    assert annotation.entities == ((0, 9, "SERVICE"), (23, 43, "SERVICE"))
    assert annotation.decided_by == "tie-latest"
    # Order of arrival changes nothing: the tie goes to the latest answer, not the last merged.
    again = merge_answers(None, [late, early], model_type=RECOGNIZER)
    assert again.annotations[0].entities == annotation.entities
    # A reviewer who changes their mind has one vote: their latest answer.
    changed = {**early, "answered_at": "2025-01-01T00:00:09Z", "entities": []}
    (annotation,) = merge_answers(None, [early, late, changed], model_type=RECOGNIZER).annotations
    assert annotation.entities == () and annotation.decided_by == "tie-latest"


# ----------------------------------------------------------------------- the review API

BUCKET = "textloop-test-entity-reviews"
API = "textloop-entity-reviews"
CALLBACK = "textloop-entity-a2i-callback"
BATCH = "it-ner-0000-0123456789ab"
A2I_BATCH = "it-ner-0001-0123456789ab"
FLOW = "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/textloop-review"
ENTITY_FLOW = "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/textloop-entity-review"


def stored(batch_id):
    return DataLake(boto3.client("s3"), BUCKET).get_json(
        f"reviews/it-ner/batches/{batch_id}/answers.json"
    )


@pytest.fixture
def review_api(lambdas):
    """The entity batches stored, the review API and the A2I callback deployed."""
    create_bucket(BUCKET)
    store = ReviewStore(DataLake(boto3.client("s3"), BUCKET))
    now = datetime.now(UTC)
    store.put_task(entity_task(BATCH, now=now))
    store.put_task(entity_task(A2I_BATCH, backend="a2i", now=now))
    env = {"DATA_LAKE_BUCKET": BUCKET, "STAGE": "test"}
    deploy_function(lambdas, API, "reviews", {**env, **people_env()})
    deploy_function(
        lambdas,
        CALLBACK,
        "a2i_callback",
        {**env, "A2I_FLOW_DEFINITION_ARN": FLOW, "A2I_ENTITY_FLOW_DEFINITION_ARN": ENTITY_FLOW},
    )
    return lambdas


ANSWERS = {
    "answers": [
        {"item_id": "item-1", "entities": [span(23, 43, "SERVICE"), span(0, 9, "SERVICE")]},
        {"item_id": "item-2", "entities": []},
    ]
}


def test_the_review_api_shows_spans_and_takes_span_answers_once(review_api):
    status, task = call(API, f"/reviews/{BATCH}", "GET")
    assert status == 200, task
    assert "task_token" not in task and task["entity_types"] == TYPES
    assert task["items"][0]["suggestion"]["entities"][0] == span(0, 9, "SERVICE", 0.97)

    status, answer = call(API, f"/reviews/{BATCH}/answers", body=ANSWERS)
    assert status == 200, answer
    assert answer == {"batch_id": BATCH, "status": "answered", "answered": 2, "duplicate": False}
    first = stored(BATCH)
    assert [a["entities"] for a in first["answers"]] == [
        [span(0, 9, "SERVICE"), span(23, 43, "SERVICE")],
        [],
    ]
    # The same spans in another order: a duplicate that changes nothing.
    reordered = {
        "answers": [
            ANSWERS["answers"][1],
            {**ANSWERS["answers"][0], "entities": [span(0, 9, "SERVICE"), span(23, 43, "SERVICE")]},
        ]
    }
    status, answer = call(API, f"/reviews/{BATCH}/answers", body=reordered)
    assert status == 200 and answer["duplicate"] is True, answer
    assert stored(BATCH) == first
    # Other spans: refused, the first answer stands.
    other = {"answers": [{"item_id": "item-1", "entities": []}]}
    status, answer = call(API, f"/reviews/{BATCH}/answers", body=other)
    assert status == 409 and answer["status"] == "answered", answer
    assert stored(BATCH) == first


def test_a_bad_span_is_a_400_naming_it_and_nothing_is_stored(review_api):
    body = {
        "answers": [
            {"item_id": "item-1", "entities": []},
            {"item_id": "item-2", "entities": [span(0, 7, "VERSION"), span(11, 99, "VERSION")]},
        ]
    }
    status, answer = call(API, f"/reviews/{BATCH}/answers", body=body)
    assert status == 400, answer
    assert fields(answer) == ["answers[1].entities[1].end_offset"]
    assert stored(BATCH) is None


def a2i_output(entities, loop=A2I_BATCH):
    """An A2I output.json of the entity template. Shapes: the custom task type's output
    (humanAnswers[].answerContent, workerId, workerMetadata) from "Amazon A2I Output Data",
    https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-output-data.html ("Output Data From
    Custom Task Types", "Track Worker Activity"); answerContent is keyed by the element's name
    and holds {"entities": [{"endOffset", "label", "startOffset"}]} as in "Sample Element
    Outputs" of https://docs.aws.amazon.com/sagemaker/latest/dg/sms-ui-template-crowd-entity-annotation.html."""
    task = entity_task(loop)
    return aws_examples.a2i_output(
        aws_examples.human_answer(
            aws_examples.entity_annotation(entities), worker_id="a12b3cdefg4h5i67"
        ),
        loop=loop,
        flow_definition_arn=ENTITY_FLOW,
        input_content=reviews.a2i_entity_input(task),
    )


def test_the_a2i_entity_input_joins_the_texts_and_moves_the_spans():
    content = json.loads(reviews.a2i_input_content(entity_task()))
    assert content["text"] == TEXT_1 + "\n\n" + TEXT_2
    second = len(TEXT_1) + 2
    assert [(i["item_id"], i["begin_offset"], i["end_offset"]) for i in content["items"]] == [
        ("item-1", 0, len(TEXT_1)),
        ("item-2", second, second + len(TEXT_2)),
    ]
    assert content["initial_value"] == [
        {"label": "SERVICE", "startOffset": 0, "endOffset": 9},
        {"label": "SERVICE", "startOffset": 23, "endOffset": 43},
        {"label": "VERSION", "startOffset": second + 11, "endOffset": second + 22},
    ]
    joined = content["text"]
    assert [joined[v["startOffset"] : v["endOffset"]] for v in content["initial_value"]] == [
        "Amazon S3",
        "Glacier Deep Archive",
        "Python 3.13",
    ]
    assert content["labels"] == [
        {"label": "SERVICE", "shortDisplayName": "SERV"},
        {"label": "VERSION", "shortDisplayName": "VERS"},
    ]
    # A type the batch does not offer is not pre-filled (the widget knows only its labels).
    task = entity_task()
    task["items"][1]["suggestion"]["entities"].append(span(26, 36, "PRODUCT"))
    assert reviews.a2i_entity_input(task)["initial_value"] == content["initial_value"]


def test_a2i_spans_go_back_to_their_items():
    second = len(TEXT_1) + 2
    output = a2i_output(
        [
            {"endOffset": second + 22, "label": "VERSION", "startOffset": second + 11},
            {"endOffset": 9, "label": "SERVICE", "startOffset": 0},
            {"endOffset": second + 36, "label": "SERVICE", "startOffset": second + 26},
            # A highlight that caught the blank line before the text: the words it covers.
            {"endOffset": second + 7, "label": "SERVICE", "startOffset": second - 1},
        ]
    )
    (submission,) = reviews.submissions_from_a2i_output(output, entity_task(A2I_BATCH))
    assert submission.reviewer_id == "a12b3cdefg4h5i67"
    assert submission.to_dict()["answers"] == [
        {"item_id": "item-1", "entities": [span(0, 9, "SERVICE")]},
        {
            "item_id": "item-2",
            "entities": [span(0, 7, "SERVICE"), span(11, 22, "VERSION"), span(26, 36, "SERVICE")],
        },
    ]
    assert TEXT_2[26:36] == "AWS Lambda" and TEXT_2[0:7] == "Upgrade"


@pytest.mark.parametrize(
    ("entities", "field"),
    [
        # Across the blank line between two texts.
        (
            [{"startOffset": 40, "endOffset": len(TEXT_1) + 8, "label": "SERVICE"}],
            "humanAnswers[0].answerContent.crowd-entity-annotation.entities[0]",
        ),
        (
            [{"startOffset": "0", "endOffset": 9, "label": "SERVICE"}],
            "humanAnswers[0].answerContent.crowd-entity-annotation.entities[0].startOffset",
        ),
        (
            [{"startOffset": 0, "endOffset": 9}],
            "humanAnswers[0].answerContent.crowd-entity-annotation.entities[0].label",
        ),
        ({"startOffset": 0}, "humanAnswers[0].answerContent.crowd-entity-annotation.entities"),
    ],
)
def test_a2i_spans_that_fit_no_text_are_named(entities, field):
    with pytest.raises(InvalidInput) as caught:
        reviews.submissions_from_a2i_output(a2i_output(entities), entity_task(A2I_BATCH))
    assert caught.value.errors[0].field == field


def test_the_a2i_callback_completes_an_entity_batch_once(review_api):
    key = f"a2i-output/textloop-entity-review/2025/11/23/02/27/03/{A2I_BATCH}/output.json"
    body = a2i_output([{"endOffset": 9, "label": "SERVICE", "startOffset": 0}])
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(body))
    # The published "SageMaker A2I HumanLoop Status Change" event (a2i-cloudwatch-events.html).
    event = aws_examples.a2i_status_change(
        A2I_BATCH, flow_definition_arn=ENTITY_FLOW, output_uri=f"s3://{BUCKET}/{key}"
    )
    first = invoke(CALLBACK, event)
    assert first["status"] == "answered" and first["answered"] == 2, first
    document = stored(A2I_BATCH)
    assert document["source"] == "a2i" and document["reviewers"] == ["a12b3cdefg4h5i67"]
    assert {a["item_id"]: a["entities"] for a in document["answers"]} == {
        "item-1": [span(0, 9, "SERVICE")],
        "item-2": [],
    }
    again = invoke(CALLBACK, event)
    assert again["duplicate"] is True and stored(A2I_BATCH) == document


def test_start_review_opens_an_entity_batch_in_the_entity_flow(review_api):
    from textloop.adapters import clients
    from textloop.domain import iteration, layout

    batch = {
        "batch_id": "it-ner-0002-0123456789ab",
        "index": 2,
        "items": [selected_item("item-1", TEXT_1, [span(0, 9, "SERVICE", 0.97)])],
    }
    lake = DataLake(boto3.client("s3"), BUCKET)
    lake.put_json(layout.selection_key("it-ner"), {"options": TYPES, "batches": [batch]})
    deploy_function(
        review_api,
        "textloop-entity-start-review",
        "start_review",
        {
            "DATA_LAKE_BUCKET": BUCKET,
            "STAGE": "test",
            "REVIEW_BACKEND": "a2i",
            "A2I_FLOW_DEFINITION_ARN": FLOW,
            "A2I_ENTITY_FLOW_DEFINITION_ARN": ENTITY_FLOW,
        },
    )
    it = {
        "iteration_id": "it-ner",
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:m:it-ner",
        "started_at": "2025-11-23T02:27:03.324Z",
        "model_type": RECOGNIZER,
        "mode": None,
        "config": dict(iteration.DEFAULTS),
        "lock": {"acquired": True},
    }
    a2i = boto3.client("sagemaker-a2i-runtime")
    stubber = aws_examples.stubber(a2i)
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:human-loop/{batch['batch_id']}"
    expected = reviews.build_task(
        batch=batch,
        iteration_id="it-ner",
        model_type=RECOGNIZER,
        mode=None,
        options=TYPES,
        task_token="t",
        created_at=NOW,
        deadline=NOW,
        review_backend="a2i",
    )
    stubber.add_response(
        "start_human_loop",
        aws_examples.response("sagemaker-a2i-runtime/start-human-loop", HumanLoopArn=arn),
        {
            "HumanLoopName": batch["batch_id"],
            "FlowDefinitionArn": ENTITY_FLOW,
            "HumanLoopInput": {"InputContent": reviews.a2i_input_content(expected)},
        },
    )
    with stubber, clients.override("sagemaker-a2i-runtime", a2i):
        result = invoke(
            "textloop-entity-start-review",
            {
                "batch": {"batch_id": batch["batch_id"], "index": 2, "items": 1},
                "iteration": it,
                "task_token": "t",
            },
        )
    stubber.assert_no_pending_responses()
    assert result["human_loop"] == {
        "human_loop_name": batch["batch_id"],
        "started": True,
        "arn": arn,
    }
    stored_task = ReviewStore(lake).task(batch["batch_id"])
    assert stored_task["entity_types"] == TYPES
    assert stored_task["items"][0]["suggestion"]["entities"] == [span(0, 9, "SERVICE", 0.97)]
