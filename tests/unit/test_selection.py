"""Selection for review: candidates, uncertainty order, near-duplicates, random share, batches."""

import csv
import random
import re

import pytest
from textloop.domain.feedback import FeedbackRecord
from textloop.domain.hashing import text_key
from textloop.domain.selection import (
    SelectionConfig,
    batch_id,
    review_batches,
    select_for_review,
    uncertainty_of,
)

from textloop_ops.data import DATA_DIR

DATA = DATA_DIR
LABELS = ["World", "Sports", "Business", "SciTech"]
A2I_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")


def as_record(fields) -> FeedbackRecord:
    """A feedback record with ``fields``; what a test leaves out is filled in."""
    return FeedbackRecord.from_dict(
        {
            "id": "e" * 64,
            "text": "some text",
            "source": "implicit",
            "reason": "below_threshold",
            "created_at": "2025-11-23T02:27:03.324Z",
            "observed_at": "2025-11-23T02:27:03.324Z",
            **fields,
        }
    )


def record(n, text, scores, *, mode="MULTI_CLASS", source="implicit", **extra):
    return as_record(
        {
            "id": f"{n:064x}",
            "text": text,
            "source": source,
            "reason": "below_threshold",
            "model_type": "DOCUMENT_CLASSIFIER",
            "mode": mode,
            "prediction": {
                "labels": [{"label": k, "score": v} for k, v in scores.items()],
                "routed_to_review": True,
            },
            **extra,
        }
    )


def distinct_texts(n):
    words = [
        "alpha",
        "bravo",
        "charlie",
        "delta",
        "echo",
        "foxtrot",
        "golf",
        "hotel",
        "india",
        "juliet",
        "kilo",
        "lima",
    ]
    rng = random.Random(3)
    return [" ".join(rng.sample(words, 6)) + f" item {i} " + "xyz" * (i % 4) for i in range(n)]


def spread_records(n, seed=1):
    rng = random.Random(seed)
    out = []
    for i, text in enumerate(distinct_texts(n)):
        raw = [rng.random() ** 3 for _ in LABELS]
        total = sum(raw)
        out.append(record(i, text, {k: v / total for k, v in zip(LABELS, raw, strict=True)}))
    return out


def test_margin_and_entropy_rank_the_closest_call_first():
    sure = record(1, "a", {"World": 0.9, "Sports": 0.05, "Business": 0.05})
    close = record(2, "b", {"World": 0.45, "Sports": 0.44, "Business": 0.11})
    flat = record(3, "c", {"World": 0.34, "Sports": 0.33, "Business": 0.33})
    margin = {r.text: uncertainty_of(r, "margin") for r in (sure, close, flat)}
    assert margin["a"].measure == "margin"
    assert margin["a"].measure_value == pytest.approx(0.85)
    assert margin["a"].value < margin["b"].value
    # Margin looks at the top two only: b and c are both 0.01 apart, whatever the third score.
    assert margin["b"].value == pytest.approx(margin["c"].value)
    entropy = {r.text: uncertainty_of(r, "entropy") for r in (sure, close, flat)}
    assert entropy["a"].value < entropy["b"].value < entropy["c"].value
    assert entropy["c"].value == pytest.approx(1.0, abs=1e-3)
    # Only the top score known: the missing rest counts as one more outcome.
    partial = uncertainty_of(record(4, "d", {"World": 0.5}), "entropy")
    assert partial.value == pytest.approx(1.0)


def test_multi_label_uncertainty_is_the_closest_score_to_its_threshold():
    thresholds = {"default": 0.5, "per_label": {"threat": 0.2}, "band": 0.1}
    near_default = record(
        1,
        "x",
        {"toxic": 0.56, "threat": 0.9},
        mode="MULTI_LABEL",
        thresholds=thresholds,
        reason="near_threshold",
    )
    near_own = record(
        2, "y", {"toxic": 0.95, "threat": 0.21}, mode="MULTI_LABEL", thresholds=thresholds
    )
    a, b = uncertainty_of(near_default), uncertainty_of(near_own)
    assert a.measure == "threshold_distance"
    assert a.measure_value == pytest.approx(0.06)
    assert b.measure_value == pytest.approx(0.01)  # threat is 0.01 above its own 0.2
    assert b.value > a.value


def test_records_without_scores_are_the_most_uncertain():
    bare = as_record(
        {
            "id": "f" * 64,
            "text": "please review this",
            "source": "explicit-batch",
            "reason": "review_requested",
            "model_type": "DOCUMENT_CLASSIFIER",
            "mode": "MULTI_CLASS",
        }
    )
    assert uncertainty_of(bare).value == 1.0
    assert uncertainty_of(bare).measure == "none"
    entity = as_record(
        {
            "model_type": "ENTITY_RECOGNIZER",
            "prediction": {"entities": [], "routed_to_review": True},
        }
    )
    assert uncertainty_of(entity).value == 1.0
    scored = as_record(
        {
            "model_type": "ENTITY_RECOGNIZER",
            "prediction": {
                "entities": [
                    {"begin_offset": 0, "end_offset": 3, "type": "SERVICE", "score": 0.45},
                    {"begin_offset": 5, "end_offset": 8, "type": "VERSION", "score": 0.99},
                ],
                "routed_to_review": True,
            },
        }
    )
    # The least confident entity (SERVICE at 0.45), whatever the types' thresholds.
    assert uncertainty_of(scored).measure == "least_confidence"
    assert uncertainty_of(scored).measure_value == pytest.approx(0.45)
    assert uncertainty_of(scored).value == pytest.approx(0.55)


def test_trusted_corrections_go_to_the_pool_and_everything_else_is_a_candidate():
    records = [
        record(1, "implicit one", {"World": 0.5, "Sports": 0.5}),
        record(2, "liked, no correction", {"World": 0.9, "Sports": 0.1}, source="explicit-api"),
        record(
            3,
            "corrected",
            {"World": 0.9},
            source="explicit-api",
            corrected_labels=["Sports"],
            trusted=True,
        ),
        # An empty correction is an answer too ("no label applies").
        record(4, "none apply", {"a": 0.9}, mode="MULTI_LABEL", corrected_labels=[], trusted=True),
        record(5, "   ", {"World": 0.5}),
        # The same text as the correction above: the correction answers it.
        record(6, "CORRECTED", {"World": 0.5, "Sports": 0.5}),
    ]
    selection = select_for_review(records, {"budget": 10})
    assert sorted(selection.item_ids) == [f"{1:064x}", f"{2:064x}"]
    assert selection.direct_to_pool == [f"{3:064x}", f"{4:064x}"]
    assert selection.skipped == [
        {"id": f"{5:064x}", "reason": "no id or no text"},
        {"id": f"{6:064x}", "reason": "corrected by explicit feedback"},
    ]
    counts = selection.counts()
    assert (counts["records"], counts["candidates"], counts["selected"]) == (6, 2, 2)
    assert [(c["id"], c["path"]) for c in selection.corrections] == [
        (f"{3:064x}", "pool"),
        (f"{4:064x}", "pool"),
    ]


def test_untrusted_corrections_are_candidates_shown_with_their_correction():
    submitter = {"application_id": "partner"}
    records = [
        record(1, "implicit one", {"World": 0.5, "Sports": 0.5}),
        # Untrusted (explicitly, and by default when the record predates trust).
        record(
            2,
            "corrected by a partner",
            {"World": 0.9, "Sports": 0.1},
            source="explicit-api",
            corrected_labels=["Sports"],
            submitter=submitter,
            trusted=False,
        ),
        record(
            3,
            "an old correction",
            {"World": 0.6},
            source="explicit-batch",
            corrected_labels=["World"],
            submitter={"user_id": "u-3"},
        ),
        # The same text as an implicit record: it stays a candidate, so that text is reviewed.
        record(4, "IMPLICIT ONE", {"World": 0.7}, corrected_labels=["Business"], trusted=False),
        record(5, "over budget", {"World": 0.99, "Sports": 0.01}, corrected_labels=["Sports"]),
    ]
    selection = select_for_review(records, {"budget": 2})
    assert selection.direct_to_pool == []
    assert sorted(selection.item_ids) == [f"{1:064x}", f"{3:064x}"]
    paths = {c["id"]: c["path"] for c in selection.corrections}
    assert paths == {
        f"{2:064x}": "deferred",
        f"{3:064x}": "review",
        f"{4:064x}": "duplicate",
        f"{5:064x}": "deferred",
    }
    assert selection.correction_paths() == {
        "pool": 0,
        "review": 1,
        "duplicate": 1,
        "skipped": 0,
        "deferred": 2,
    }
    (under_review,) = [i.to_dict() for i in selection.selected if i.id == f"{3:064x}"]
    assert under_review["correction"] == {
        "labels": ["World"],
        "submitted_by": "u-3",
        "application_id": None,
        "source": "explicit-batch",
        "trusted": False,
    }
    # A bigger budget reviews the partner's correction too; it never skips review.
    wider = select_for_review(records, {"budget": 10})
    assert f"{2:064x}" in wider.item_ids and wider.direct_to_pool == []
    partner = next(i.to_dict() for i in wider.selected if i.id == f"{2:064x}")
    assert partner["correction"]["application_id"] == "partner"
    assert partner["correction"]["labels"] == ["Sports"]


def test_the_budget_caps_the_selection_and_the_most_uncertain_come_first():
    records = spread_records(60)
    selection = select_for_review(records, SelectionConfig(budget=10))
    assert len(selection.selected) == 10
    assert all(item.reason == "uncertain" for item in selection.selected)
    expected = sorted(records, key=lambda r: -uncertainty_of(r).value)[:10]
    assert [i.id for i in selection.selected] == [r.id for r in expected]
    values = [i.uncertainty for i in selection.selected]
    assert values == sorted(values, reverse=True)
    assert [i.rank for i in selection.selected] == list(range(1, 11))
    by_entropy = select_for_review(records, {"budget": 10, "strategy": "entropy"})
    expected = sorted(records, key=lambda r: -uncertainty_of(r, "entropy").value)[:10]
    assert by_entropy.item_ids == [r.id for r in expected]
    assert by_entropy.item_ids != selection.item_ids  # the two measures disagree on this data


def test_random_share_is_drawn_from_the_rest_and_reproducible_with_a_seed():
    records = spread_records(200)
    config = {"budget": 20, "random_share": 0.25, "seed": 11}
    selection = select_for_review(records, config)
    uncertain = [i for i in selection.selected if i.reason == "uncertain"]
    drawn = [i for i in selection.selected if i.reason == "random"]
    assert (len(uncertain), len(drawn)) == (15, 5)
    assert max(i.rank for i in uncertain) == 15
    assert all(i.rank > 15 for i in drawn)  # drawn from what the uncertain slots left
    assert len(set(selection.item_ids)) == 20

    shuffled = list(records)
    random.Random(99).shuffle(shuffled)
    again = select_for_review(shuffled, config)
    assert again.item_ids == selection.item_ids  # input order does not matter
    other_seed = select_for_review(records, {**config, "seed": 12})
    assert other_seed.item_ids[:15] == selection.item_ids[:15]
    assert other_seed.item_ids[15:] != selection.item_ids[15:]
    by_string = select_for_review(records, {**config, "seed": "iteration-7"})
    assert (
        by_string.item_ids == select_for_review(records, {**config, "seed": "iteration-7"}).item_ids
    )


def test_random_share_one_and_a_budget_larger_than_the_candidates():
    records = spread_records(8)
    all_random = select_for_review(records, {"budget": 5, "random_share": 1.0, "seed": 1})
    assert [i.reason for i in all_random.selected] == ["random"] * 5
    everything = select_for_review(records, {"budget": 50, "random_share": 0.5})
    assert sorted(everything.item_ids) == sorted(r.id for r in records)
    assert select_for_review(records, {"budget": 0}).selected == []


def test_random_share_halves_every_half_life_of_labels_but_keeps_one_slot():
    decaying = SelectionConfig(budget=50, random_share=0.2, random_share_half_life=250)
    # 10, 5, 2.5, 1.25, 0.6, ~0 slots, rounded half up; never fewer than one.
    labelled = (0, 250, 500, 750, 1000, 100_000)
    assert [decaying.random_slots(n) for n in labelled] == [10, 5, 3, 1, 1, 1]
    constant = SelectionConfig(budget=50, random_share=0.2)
    assert {constant.random_slots(n) for n in labelled} == {10}
    # The floor of one is kept only where the undecayed share gives a slot at all.
    tiny = SelectionConfig(budget=2, random_share=0.2, random_share_half_life=250)
    assert tiny.random_slots(0) == 0
    none = SelectionConfig(budget=50, random_share=0.0, random_share_half_life=250)
    assert none.random_slots(0) == 0
    everything = SelectionConfig(budget=50, random_share=1.0, random_share_half_life=250)
    assert (everything.random_slots(0), everything.random_slots(250)) == (50, 25)


def test_on_real_ag_news_early_iterations_explore_and_later_ones_exploit(ag_news_rows):
    from textloop.domain import local_model

    seed = ag_news_rows[:50]
    model = local_model.fit([t for _, t in seed], [y for y, _ in seed], "MULTI_CLASS")
    backend = local_model.LocalBackend(model)
    candidates = ag_news_rows[2000:2800]
    predictions = backend.predict([t for _, t in candidates])
    records = [
        record(n, text, {ls.label: ls.score for ls in p.labels})
        for n, ((_, text), p) in enumerate(zip(candidates, predictions, strict=True))
    ]
    config = {"budget": 50, "random_share": 0.2, "random_share_half_life": 250, "seed": "it-7"}

    early = select_for_review(records, config, labelled=50)
    late = select_for_review(records, config, labelled=1500)
    # 0.2 * 0.5 ** (50 / 250) of 50 slots: 8.7, so 9; after 1,500 labels the floor of one.
    assert (early.counts()["uncertain"], early.counts()["random"]) == (41, 9)
    assert (late.counts()["uncertain"], late.counts()["random"]) == (49, 1)
    assert (early.labelled, early.random_slots) == (50, 9)
    assert early.to_dict()["labelled"] == 50 and late.to_dict()["random_slots"] == 1

    def uncertain(selection):
        return [i.id for i in selection.selected if i.reason == "uncertain"]

    # Both take the model's closest calls in the same order; the late one takes more of them.
    assert uncertain(late)[:41] == uncertain(early)
    values = [i.uncertainty for i in late.selected if i.reason == "uncertain"]
    assert values == sorted(values, reverse=True)
    # The random slots come from everything the uncertain slots left, not from near the top.
    last_uncertain = max(i.rank for i in early.selected if i.reason == "uncertain")
    drawn = [i for i in early.selected if i.reason == "random"]
    assert all(i.rank > last_uncertain for i in drawn)
    assert max(i.rank for i in drawn) > len(records) / 2

    # Without ``labelled``, the texts already labelled (annotated_keys) are counted.
    known = {text_key(t) for _, t in ag_news_rows[:1500]} - {text_key(r.text) for r in records}
    by_keys = select_for_review(records, config, annotated_keys=known)
    assert by_keys.labelled == len(known) and by_keys.counts()["random"] == 1
    # And without a half-life the share stays what random_share says.
    constant = select_for_review(records, {**config, "random_share_half_life": None}, labelled=1500)
    assert constant.counts()["random"] == 10


def test_near_duplicates_are_removed_keeping_the_most_uncertain():
    base = "Oil prices rose sharply on Tuesday after the pipeline outage in the north"
    records = [
        record(1, base, {"World": 0.5, "Business": 0.5}),
        # Same text up to case and whitespace: an exact duplicate.
        record(
            2,
            "  OIL prices rose sharply on Tuesday after the pipeline outage in the north",
            {"World": 0.55, "Business": 0.45},
        ),
        # One word changed: a near-duplicate.
        record(3, base.replace("Tuesday", "Monday"), {"World": 0.6, "Business": 0.4}),
        record(
            4, "The home side won the cup final with a late goal", {"Sports": 0.7, "World": 0.3}
        ),
    ]
    selection = select_for_review(records, {"budget": 10, "near_duplicate_similarity": 0.8})
    assert selection.item_ids == [f"{1:064x}", f"{4:064x}"]
    dupes = {d["id"]: d for d in selection.duplicates}
    assert dupes[f"{2:064x}"] == {"id": f"{2:064x}", "duplicate_of": f"{1:064x}", "similarity": 1.0}
    assert dupes[f"{3:064x}"]["duplicate_of"] == f"{1:064x}"
    assert 0.8 <= dupes[f"{3:064x}"]["similarity"] < 1.0
    assert selection.selected[0].duplicate_ids == [f"{2:064x}", f"{3:064x}"]
    # With near-duplicate detection off, only the exact duplicate goes.
    exact_only = select_for_review(records, {"budget": 10, "near_duplicate_similarity": None})
    assert sorted(exact_only.item_ids) == [f"{1:064x}", f"{3:064x}", f"{4:064x}"]


def test_texts_already_in_the_pool_are_skipped():
    records = spread_records(5)
    annotated = {text_key(records[0].text)}
    selection = select_for_review(records, {"budget": 5}, annotated_keys=annotated)
    assert records[0].id not in selection.item_ids
    assert selection.skipped == [{"id": records[0].id, "reason": "already in the annotation pool"}]


def test_selection_explains_itself_as_json():
    selection = select_for_review(spread_records(30), {"budget": 6, "random_share": 0.5, "seed": 3})
    data = selection.to_dict()
    assert data["counts"]["uncertain"] == 3 and data["counts"]["random"] == 3
    item = data["selected"][0]
    assert set(item) >= {"id", "text", "reason", "uncertainty", "measure", "rank", "prediction"}
    assert item["feedback_reason"] == "below_threshold"
    assert data["config"]["random_share"] == 0.5


def test_config_is_checked():
    with pytest.raises(ValueError, match="random_share"):
        SelectionConfig(budget=5, random_share=1.5)
    with pytest.raises(ValueError, match="strategy"):
        SelectionConfig(budget=5, strategy="least-confidence")
    with pytest.raises(ValueError, match="budget"):
        SelectionConfig(budget=-1)
    with pytest.raises(ValueError, match="unknown selection settings"):
        SelectionConfig.from_dict({"budget": 5, "randomshare": 0.1})
    for half_life in (0, -250, True, "250"):
        with pytest.raises(ValueError, match="random_share_half_life"):
            SelectionConfig(budget=5, random_share=0.2, random_share_half_life=half_life)
    config = SelectionConfig.from_dict({"budget": 5, "random_share_half_life": 250})
    assert config.to_dict()["random_share_half_life"] == 250


def test_review_batches_have_stable_ids_that_are_valid_human_loop_names():
    selection = select_for_review(spread_records(23), {"budget": 23})
    iteration = "Iteration_2025-11-23T02-00-00Z-manual"
    batches = review_batches(selection, 10, iteration)
    assert [len(b["item_ids"]) for b in batches] == [10, 10, 3]
    assert [i for b in batches for i in b["item_ids"]] == selection.item_ids
    assert review_batches(selection, 10, iteration) == batches
    for batch in batches:
        assert A2I_NAME.match(batch["batch_id"]) and len(batch["batch_id"]) <= 63
    assert len({b["batch_id"] for b in batches}) == 3
    other = review_batches(selection, 10, "another-iteration")
    assert {b["batch_id"] for b in other}.isdisjoint({b["batch_id"] for b in batches})
    long_arn = "arn:aws:states:eu-west-1:123456789012:execution:textloop-iteration:" + "x" * 80
    assert len(batch_id(long_arn, 3, ["a"])) == 63
    assert A2I_NAME.match(batch_id("___", 0, ["a"]))
    with pytest.raises(ValueError, match="batch_size"):
        review_batches(selection, 0, iteration)


def test_real_ag_news_duplicates_are_caught_and_a_few_thousand_candidates_stay_fast():
    with (DATA / "ag_news" / "train.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[:3000]
    rng = random.Random(5)
    records = []
    for n, (_, text) in enumerate(rows):
        raw = [rng.random() for _ in LABELS]
        records.append(record(n, text, {k: v / sum(raw) for k, v in zip(LABELS, raw, strict=True)}))
    exact_dupes = len(rows) - len({" ".join(t.casefold().split()) for _, t in rows})
    assert exact_dupes > 0  # the sample has repeated stories
    everything = select_for_review(records, {"budget": len(records), "seed": 1})
    assert len(everything.duplicates) >= exact_dupes
    assert len(everything.selected) + len(everything.duplicates) == len(records)
    kept_texts = [" ".join(i.text.casefold().split()) for i in everything.selected]
    assert len(kept_texts) == len(set(kept_texts))

    some = select_for_review(records, {"budget": 1000, "random_share": 0.1, "seed": 1})
    assert sum(1 for i in some.selected if i.reason == "random") == 100
    assert sum(1 for i in some.selected if i.reason == "uncertain") == 900


def test_a_text_the_pool_answers_settles_untrusted_corrections_but_not_trusted_ones():
    from textloop.domain.annotations import Answer, merge_answers
    from textloop.domain.iteration import unsettled_records

    pool = merge_answers(
        None,
        [
            Answer(
                item_id="reviewed-item",
                text="Answered text",
                reviewer_id="rev-1",
                answered_at="2025-11-22T00:00:00.000Z",
                source="review",
                labels=("World",),
            )
        ],
        model_type="DOCUMENT_CLASSIFIER",
    )
    records = [
        record(1, "answered text", {"World": 0.5}),
        record(2, "answered text", {"World": 0.5}, corrected_labels=["Sports"], trusted=False),
        record(3, "answered text", {"World": 0.5}, corrected_labels=["Sports"]),
        record(4, "answered text", {"World": 0.5}, corrected_labels=["Sports"], trusted=True),
        record(5, "new text", {"World": 0.5}, corrected_labels=["Sports"], trusted=False),
    ]
    # A trusted correction is one more vote; an untrusted one cannot reopen a reviewed text.
    assert [r.id for r in unsettled_records(records, "DOCUMENT_CLASSIFIER", pool)] == [
        f"{4:064x}",
        f"{5:064x}",
    ]
