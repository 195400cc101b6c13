"""Selection for entity recognisers: the least confident entity orders the candidates, a text
where nothing was found comes first, near-duplicates go, the random share stays."""

from __future__ import annotations

import pytest
from textloop.domain.datasets.formats import parse_entity_documents
from textloop.domain.feedback import FeedbackRecord
from textloop.domain.selection import review_batches, select_for_review, uncertainty_of

from .conftest import data_file


def entity_record(n, text, scores, *, entities=None, **extra) -> FeedbackRecord:
    """An implicit record whose prediction has one span per score (or ``entities`` as given)."""
    if entities is None:
        entities = [
            {"begin_offset": 2 * i, "end_offset": 2 * i + 1, "type": "SERVICE", "score": s}
            for i, s in enumerate(scores)
        ]
    return FeedbackRecord.from_dict(
        {
            "id": f"{n:064x}",
            "text": text,
            "source": "implicit",
            "reason": "below_threshold",
            "model_type": "ENTITY_RECOGNIZER",
            "model_version": "ner-1",
            "prediction": {"entities": entities, "routed_to_review": True},
            "thresholds": {"default": 0.9, "per_label": {"VERSION": 0.99}, "band": 0.1},
            "created_at": "2025-11-23T02:27:03.324Z",
            "observed_at": "2025-11-23T02:27:03.324Z",
            **extra,
        }
    )


@pytest.fixture(scope="module")
def aws_texts() -> list[str]:
    path = data_file("aws_service_ner", "comprehend", "train.csv")
    return list(dict.fromkeys(parse_entity_documents(path.read_text("utf-8"))))


def test_uncertainty_is_the_least_confident_entity():
    sure_and_doubtful = entity_record(1, "AWS Lambda 2.0", [0.99, 0.31])
    u = uncertainty_of(sure_and_doubtful)
    assert (u.measure, u.measure_value, u.value) == ("least_confidence", 0.31, pytest.approx(0.69))
    # The raw score, not its distance from the type's threshold (VERSION's is 0.99 here).
    version = entity_record(
        2,
        "AWS Lambda 2.0",
        [],
        entities=[{"begin_offset": 11, "end_offset": 14, "type": "VERSION", "score": 0.95}],
    )
    assert uncertainty_of(version).value == pytest.approx(0.05)
    nothing = uncertainty_of(entity_record(3, "no entities here", []))
    assert (nothing.measure, nothing.value, nothing.measure_value) == ("no_entity", 1.0, None)


def test_candidates_are_ranked_by_their_least_confident_entity(aws_texts):
    scores = {
        1: [0.95, 0.6],
        2: [0.3, 0.99],
        3: [],
        4: [0.5],
        5: [0.88, 0.89, 0.87],
    }
    records = [entity_record(n, aws_texts[n], s) for n, s in scores.items()]
    selection = select_for_review(records, {"budget": 5, "near_duplicate_similarity": None})
    assert [int(i.id, 16) for i in selection.selected] == [3, 2, 4, 1, 5]
    assert [i.measure for i in selection.selected][:2] == ["no_entity", "least_confidence"]
    assert [i.rank for i in selection.selected] == [1, 2, 3, 4, 5]
    item = selection.selected[1].to_dict()
    assert item["prediction"]["entities"][0]["score"] == 0.3  # what the reviewer is shown


def test_near_duplicates_are_removed_keeping_the_most_uncertain():
    base = (
        "Release: AWS SDK for Java {v} This release includes support for new features in "
        "Amazon S3 and Amazon EC2 Auto Scaling."
    )
    records = [
        entity_record(1, base.format(v="11135"), [0.8]),
        entity_record(2, base.format(v="11136"), [0.4]),  # a near copy, more uncertain
        entity_record(3, base.format(v="11135").upper(), [0.7]),  # the same normalised text
        entity_record(4, "Amazon Sumerian Service Update on 2019-04-26", [0.85]),
    ]
    selection = select_for_review(records, {"budget": 10})
    assert [int(i.id, 16) for i in selection.selected] == [2, 4]
    duplicates = {int(d["id"], 16): int(d["duplicate_of"], 16) for d in selection.duplicates}
    # 3 outranks its exact copy 1 (0.3 against 0.2), then falls to its near copy 2.
    assert duplicates == {1: 3, 3: 2}
    assert selection.selected[0].duplicate_ids == sorted([records[0].id, records[2].id])


def test_the_random_share_draws_from_beyond_the_most_uncertain(aws_texts):
    # 40 distinct announcements, the least confident entity falling with the index.
    records = [entity_record(n, aws_texts[n], [1.0 - n / 100]) for n in range(40)]
    config = {"budget": 10, "random_share": 0.3, "seed": "it-7"}
    selection = select_for_review(records, config)
    counts = selection.counts()
    assert (counts["selected"], counts["uncertain"], counts["random"]) == (10, 7, 3)
    uncertain = [int(i.id, 16) for i in selection.selected if i.reason == "uncertain"]
    assert uncertain == list(range(39, 32, -1))
    drawn = [int(i.id, 16) for i in selection.selected if i.reason == "random"]
    assert len(set(drawn)) == 3 and all(n < 33 for n in drawn)
    # Seeded: the same iteration draws the same texts; another iteration others.
    assert [i.id for i in select_for_review(records, config).selected] == [
        i.id for i in selection.selected
    ]
    other = select_for_review(records, {**config, "seed": "it-8"})
    assert {i.id for i in other.selected if i.reason == "random"} != {
        i.id for i in selection.selected if i.reason == "random"
    }
    batches = review_batches(selection, 4, "it-7")
    assert [len(b["items"]) for b in batches] == [4, 4, 2]


def test_a_trusted_entity_correction_goes_to_the_pool_and_answers_its_text():
    text = "AWS Lambda 2.0 is out"
    corrected = FeedbackRecord.from_dict(
        {
            "id": "c" * 64,
            "text": text,
            "source": "explicit-batch",
            "reason": "correction",
            "model_type": "ENTITY_RECOGNIZER",
            "corrected_labels": [{"begin_offset": 0, "end_offset": 10, "type": "SERVICE"}],
            "submitter": {"application_id": "support-team"},
            "trusted": True,
            "created_at": "2025-11-23T02:27:03.324Z",
            "observed_at": "2025-11-23T02:27:03.324Z",
        }
    )
    implicit = entity_record(1, text, [0.2])
    selection = select_for_review([corrected, implicit], {"budget": 5})
    assert selection.direct_to_pool == [corrected.id]
    assert selection.selected == []
    assert selection.skipped == [{"id": implicit.id, "reason": "corrected by explicit feedback"}]
