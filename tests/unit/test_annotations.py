"""The annotation pool: merge rule, tie-breaking, immutable versions, idempotent re-merge."""

import random

import pytest
from textloop.domain.annotations import (
    Answer,
    PoolVersion,
    annotations_as_documents,
    answer_from_feedback,
    merge_answers,
)
from textloop.domain.feedback import FeedbackRecord
from textloop.domain.hashing import content_hash, normalise_text, text_key

CLASSIFIER = "DOCUMENT_CLASSIFIER"
RECOGNIZER = "ENTITY_RECOGNIZER"


def answer(item, text, labels, reviewer, at, source="review"):
    return {
        "item_id": item,
        "text": text,
        "labels": labels,
        "reviewer_id": reviewer,
        "answered_at": at,
        "source": source,
    }


def only(pool):
    assert len(pool.annotations) == 1
    return pool.annotations[0]


def test_normalise_text_folds_case_width_and_whitespace():
    assert normalise_text("  Hello\u00a0\tWORLD \n") == "hello world"
    assert normalise_text("\uff21\uff22\uff23") == "abc"  # full-width letters (NFKC)
    assert normalise_text("Straße") == normalise_text("STRASSE")  # casefold, not lower
    assert normalise_text("a b") != normalise_text("ab")


def test_majority_vote_keeps_every_reviewer_and_the_vote_counts():
    pool = merge_answers(
        None,
        [
            answer("i1", "Stocks fell", ["Business"], "alice", "2025-01-01T10:00:00Z"),
            answer("i1", "Stocks fell", ["World"], "bob", "2025-01-01T11:00:00Z"),
            answer("i2", "stocks  FELL", ["Business"], "carol", "2025-01-01T09:00:00Z"),
        ],
        model_type=CLASSIFIER,
    )
    annotation = only(pool)  # normalised texts are one text
    assert annotation.labels == ("Business",)
    assert annotation.decided_by == "majority"
    assert annotation.reviewer_ids == ["alice", "bob", "carol"]
    assert annotation.item_ids == ["i1", "i2"]
    data = annotation.to_dict(CLASSIFIER)
    assert data["votes"] == [
        {"labels": ["Business"], "count": 2},
        {"labels": ["World"], "count": 1},
    ]
    # The earliest answer's text is the one kept.
    assert data["text"] == "stocks  FELL"


def test_tie_goes_to_the_latest_answer_whatever_the_arrival_order():
    answers = [
        answer("i1", "Match report", ["Sports"], "alice", "2025-01-01T10:00:00.000Z"),
        answer("i1", "Match report", ["World"], "bob", "2025-01-01T10:00:00.001Z"),
    ]
    forward = merge_answers(None, answers, model_type=CLASSIFIER)
    backward = merge_answers(None, list(reversed(answers)), model_type=CLASSIFIER)
    assert only(forward).labels == ("World",)
    assert only(forward).decided_by == "tie-latest"
    assert forward.content_hash == backward.content_hash

    # A third, later vote for the older label breaks the tie the other way.
    later = merge_answers(
        forward,
        [answer("i1", "Match report", ["Sports"], "carol", "2025-01-02T00:00:00Z")],
    )
    assert only(later).labels == ("Sports",)
    assert only(later).decided_by == "majority"


def test_tie_between_multi_label_sets_uses_the_latest_and_ignores_label_order():
    pool = merge_answers(
        None,
        [
            answer(
                "i1",
                "you idiot, I will find you",
                ["insult", "threat"],
                "a",
                "2025-01-01T00:00:01Z",
            ),
            answer(
                "i1",
                "you idiot, I will find you",
                ["threat", "insult"],
                "b",
                "2025-01-01T00:00:02Z",
            ),
            answer("i1", "you idiot, I will find you", ["insult"], "c", "2025-01-01T00:00:03Z"),
            answer("i1", "you idiot, I will find you", ["insult"], "d", "2025-01-01T00:00:04Z"),
            answer("i1", "you idiot, I will find you", [], "e", "2025-01-01T00:00:00Z"),
        ],
        model_type=CLASSIFIER,
    )
    annotation = only(pool)
    # {insult, threat} and {insult} have two votes each; {insult} has the latest answer (d).
    assert annotation.labels == ("insult",)
    assert annotation.decided_by == "tie-latest"
    votes = {tuple(v["labels"]): v["count"] for v in annotation.to_dict(CLASSIFIER)["votes"]}
    assert votes == {("insult", "threat"): 2, ("insult",): 2, (): 1}


def test_a_reviewer_who_answers_twice_has_one_vote_their_latest():
    pool = merge_answers(
        None,
        [
            answer("i1", "Oil prices", ["World"], "alice", "2025-01-01T10:00:00Z"),
            answer("i1", "Oil prices", ["World"], "bob", "2025-01-01T10:00:00Z"),
            answer("i1", "Oil prices", ["Business"], "alice", "2025-01-01T12:00:00Z"),
        ],
        model_type=CLASSIFIER,
    )
    annotation = only(pool)
    # alice's latest (Business) and bob (World) tie 1:1; alice's answer is later.
    assert annotation.labels == ("Business",)
    assert {tuple(k): n for k, n in annotation.votes} == {("Business",): 1, ("World",): 1}
    assert len(annotation.answers) == 3  # every answer is kept for the audit


def test_re_merging_the_same_answers_is_a_no_op_with_the_same_hash():
    answers = [
        answer("i1", "Mars rover lands", ["SciTech"], "alice", "2025-01-01T10:00:00Z"),
        answer("i2", "Cup final tonight", ["Sports"], "bob", "2025-01-01T10:05:00Z"),
    ]
    first = merge_answers(None, answers, model_type=CLASSIFIER)
    again = merge_answers(first, answers)
    assert again is first
    assert again.content_hash == first.content_hash
    # Re-delivered after a round trip through storage: still nothing new.
    stored = PoolVersion.from_dict(first.to_dict())
    assert stored.content_hash == first.content_hash
    assert merge_answers(stored, answers).content_hash == first.content_hash
    assert merge_answers(stored, answers).sequence == first.sequence


def test_merging_in_batches_equals_merging_at_once():
    rng = random.Random(7)
    labels = ["World", "Sports", "Business", "SciTech"]
    answers = [
        answer(
            f"i{n % 13}",
            f"text number {n % 13}",
            [rng.choice(labels)],
            f"r{n % 5}",
            f"2025-01-01T10:{n:02d}:00Z",
        )
        for n in range(40)
    ]
    at_once = merge_answers(None, answers, model_type=CLASSIFIER)
    pool = None
    for start in range(0, 40, 7):
        pool = merge_answers(pool, answers[start : start + 7], model_type=CLASSIFIER)
    assert pool.content_hash == at_once.content_hash
    assert pool.sequence == 6 and at_once.sequence == 1


def test_a_merge_returns_a_new_version_and_leaves_the_previous_one_untouched():
    v1 = merge_answers(
        None,
        [answer("i1", "Bank merger", ["Business"], "alice", "2025-01-01T10:00:00Z")],
        model_type=CLASSIFIER,
    )
    v1_dict = v1.to_dict()
    v2 = merge_answers(
        v1,
        [
            answer("i1", "Bank merger", ["World"], "bob", "2025-01-02T10:00:00Z"),
            answer("i1", "Bank merger", ["World"], "carol", "2025-01-02T11:00:00Z"),
            answer("i2", "New chip", ["SciTech"], "bob", "2025-01-02T10:00:00Z"),
            answer("i3", "Title race", ["Sports"], "bob", "2025-01-02T10:00:00Z"),
        ],
    )
    assert v1.to_dict() == v1_dict
    assert v2.content_hash != v1.content_hash
    assert (v2.sequence, v2.parent_pool_version) == (2, v1.pool_version)
    changes = {c["text"]: c for c in v2.changes}
    assert changes["Bank merger"]["change"] == "relabelled"
    assert changes["Bank merger"]["previous"] == ["Business"]
    assert changes["Bank merger"]["current"] == ["World"]
    assert changes["Bank merger"]["answers_added"] == 2
    assert changes["New chip"]["change"] == "added"
    assert changes["New chip"]["previous"] is None

    v3 = merge_answers(v2, [answer("i2", "new chip", ["SciTech"], "dave", "2025-01-03T10:00:00Z")])
    assert [c["change"] for c in v3.changes] == ["votes-added"]
    assert v3.changes[0]["reviewer_ids"] == ["bob", "dave"]


def test_a_stored_pool_that_was_edited_is_refused():
    pool = merge_answers(
        None,
        [answer("i1", "Bank merger", ["Business"], "alice", "2025-01-01T10:00:00Z")],
        model_type=CLASSIFIER,
    ).to_dict()
    pool["annotations"][0]["answers"][0]["labels"] = ["World"]
    with pytest.raises(ValueError, match="does not match its content hash"):
        PoolVersion.from_dict(pool)


def test_answers_must_carry_label_lists_and_valid_fields():
    with pytest.raises(ValueError, match="labels must be a list"):
        Answer.from_dict(answer("i1", "t", "World", "alice", "2025-01-01T00:00:00Z"), CLASSIFIER)
    with pytest.raises(ValueError, match="reviewer_id"):
        Answer.from_dict(answer("i1", "t", ["World"], " ", "2025-01-01T00:00:00Z"), CLASSIFIER)
    with pytest.raises(ValueError, match="answered_at"):
        Answer.from_dict(answer("i1", "t", ["World"], "alice", "yesterday"), CLASSIFIER)
    with pytest.raises(ValueError, match="source"):
        Answer.from_dict(
            answer("i1", "t", ["World"], "alice", "2025-01-01T00:00:00Z", source="robot"),
            CLASSIFIER,
        )
    with pytest.raises(ValueError, match="pool holds"):
        merge_answers(merge_answers(None, [], model_type=CLASSIFIER), [], model_type=RECOGNIZER)


def test_entity_answers_vote_on_span_sets_of_the_exact_text():
    text = "Amazon S3 adds Glacier"
    spans_a = [
        {"begin_offset": 0, "end_offset": 9, "type": "SERVICE"},
        {"begin_offset": 15, "end_offset": 22, "type": "SERVICE"},
    ]
    spans_b = [{"begin_offset": 0, "end_offset": 9, "type": "SERVICE"}]
    pool = merge_answers(
        None,
        [
            {**answer("i1", text, None, "a", "2025-01-01T00:00:00Z"), "entities": spans_a},
            {**answer("i1", text, None, "b", "2025-01-01T00:00:01Z"), "entities": spans_b},
            # Spans in corrected_labels style (labels holding spans) are accepted too.
            {**answer("i1", text, list(reversed(spans_a)), "c", "2025-01-01T00:00:02Z")},
            # Another spelling of the text is another text: offsets differ between them.
            {**answer("i2", text.lower(), spans_b, "a", "2025-01-01T00:00:00Z")},
        ],
        model_type=RECOGNIZER,
    )
    assert len(pool.annotations) == 2
    exact = pool.by_key()[text_key(text, RECOGNIZER)]
    assert exact.entities == ((0, 9, "SERVICE"), (15, 22, "SERVICE"))
    assert exact.decided_by == "majority"
    documents = {d["text"]: d for d in annotations_as_documents(pool)}
    assert documents[text]["entities"][1] == {
        "begin_offset": 15,
        "end_offset": 22,
        "type": "SERVICE",
    }


def test_explicit_corrections_become_answers_from_their_submitter():
    record = {
        "id": "a" * 64,
        "source": "explicit-api",
        "reason": "dislike",
        "text": "The match was cancelled",
        "model_type": CLASSIFIER,
        "mode": "MULTI_CLASS",
        "corrected_labels": ["Sports"],
        "submitter": {"user_id": "u-42"},
        "observed_at": "2025-03-01T08:00:00.000Z",
        "created_at": "2025-03-01T08:00:01.000Z",
        "trusted": True,
    }
    converted = answer_from_feedback(FeedbackRecord.from_dict(record))
    assert (converted.item_id, converted.reviewer_id, converted.source) == (
        "a" * 64,
        "u-42",
        "explicit-correction",
    )
    assert converted.labels == ("Sports",)
    assert converted.answered_at == "2025-03-01T08:00:00.000Z"
    with pytest.raises(ValueError, match="no corrected_labels"):
        answer_from_feedback(FeedbackRecord.from_dict({**record, "corrected_labels": None}))


@pytest.mark.parametrize("trusted", [False, None])
def test_an_untrusted_correction_is_never_taken_as_an_answer(trusted):
    record = {
        "id": "b" * 64,
        "source": "explicit-batch",
        "reason": "correction",
        "text": "The match was cancelled",
        "model_type": CLASSIFIER,
        "mode": "MULTI_CLASS",
        "corrected_labels": ["World"],
        "submitter": {"application_id": "partner"},
        "observed_at": "2025-03-01T08:00:00.000Z",
        "created_at": "2025-03-01T08:00:01.000Z",
    }
    if trusted is not None:
        record["trusted"] = trusted
    with pytest.raises(ValueError, match="untrusted source"):
        answer_from_feedback(FeedbackRecord.from_dict(record))


def test_content_hash_is_independent_of_key_order():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
