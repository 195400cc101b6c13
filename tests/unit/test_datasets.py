"""Data sets: Comprehend formats both ways, validation rules, frozen test set, splits."""

import csv
from collections import Counter
from functools import cache

import pytest
from textloop.domain.annotations import merge_answers
from textloop.domain.datasets.build import BuildConfig, build_datasets
from textloop.domain.datasets.formats import (
    parse_classifier_csv,
    parse_entity_annotations,
    parse_entity_files,
    write_classifier_csv,
    write_entity_files,
)
from textloop.domain.datasets.rules import (
    DatasetFormatError,
    DatasetValidationError,
    ValidationRules,
    validate_documents,
)
from textloop.domain.datasets.split import hash_test_set, iterative_stratification
from textloop.domain.hashing import normalise_text

from textloop_ops.data import DATA_DIR, NER_ANNOTATIONS, NER_DOCUMENTS

DATA = DATA_DIR
JIGSAW_LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]


@cache
def ag_news():
    text = (DATA / "ag_news" / "train.csv").read_text(encoding="utf-8")
    return tuple(parse_classifier_csv(text, "MULTI_CLASS"))


@cache
def ner_documents():
    return tuple(
        parse_entity_files(
            NER_DOCUMENTS.read_text(encoding="utf-8"),
            NER_ANNOTATIONS.read_text(encoding="utf-8"),
            "train.csv",
        )
    )


@cache
def jigsaw_records():
    with (DATA / "jigsaw_toxic" / "train.csv").open(newline="", encoding="utf-8") as handle:
        return tuple(csv.DictReader(handle))


def doc(text, labels, n=0):
    return {"id": f"d{n}", "text": text, "labels": labels}


def rules_of(report):
    return {p.rule for p in report.problems}


# --------------------------------------------------------------------------- formats


def test_ag_news_parses_as_comprehend_multi_class_csv():
    documents = ag_news()
    assert len(documents) == 6161
    assert Counter(d["labels"][0] for d in documents) == {
        "SciTech": 1553,
        "World": 1544,
        "Sports": 1534,
        "Business": 1530,
    }
    assert all(isinstance(d["labels"], list) and len(d["labels"]) == 1 for d in documents)
    first = documents[0]
    assert first["text"].startswith("Toshiba, M'shita LCD Venture")  # quoted, has a comma
    assert first["id"] == "train.csv:1"
    assert any("#39;" in d["text"] for d in documents)  # kept verbatim, not "fixed"


def test_classifier_csv_round_trips_with_rfc_4180_quoting():
    documents = [
        doc('He said "hi", then left', ["Sports"]),
        doc("plain text", ["World"]),
        doc("Ünïcödé, and a\r\nline break", ["SciTech"]),
    ]
    written = write_classifier_csv(documents, "MULTI_CLASS")
    assert written.splitlines()[0] == 'Sports,"He said ""hi"", then left"'
    assert written.splitlines()[1] == "World,plain text"
    back = parse_classifier_csv(written, "MULTI_CLASS")
    assert [d["labels"] for d in back] == [["Sports"], ["World"], ["SciTech"]]
    assert back[0]["text"] == 'He said "hi", then left'
    # Line breaks inside a text become spaces: one physical line per document.
    assert back[2]["text"] == "Ünïcödé, and a  line break"
    assert len(written.splitlines()) == 3


def test_multi_label_csv_joins_labels_with_a_configurable_delimiter():
    documents = [doc("you are awful", ["insult", "toxic"]), doc("fine", ["clean"])]
    piped = write_classifier_csv(documents, "MULTI_LABEL")
    assert piped.splitlines()[0] == "insult|toxic,you are awful"
    assert parse_classifier_csv(piped, "MULTI_LABEL")[0]["labels"] == ["insult", "toxic"]
    semi = write_classifier_csv(documents, "MULTI_LABEL", delimiter=";")
    assert semi.splitlines()[0] == "insult;toxic,you are awful"
    assert parse_classifier_csv(semi, "MULTI_LABEL", delimiter=";")[0]["labels"] == [
        "insult",
        "toxic",
    ]
    # Read with the wrong delimiter, the joined labels stay one label: validation flags it.
    wrong = parse_classifier_csv(semi, "MULTI_LABEL")
    report = validate_documents(
        [*wrong, doc("x", ["insult"]), doc("y", ["toxic"])],
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_LABEL",
        check_counts=False,
    )
    assert rules_of(report) == {"suspect-delimiter"}
    assert report.problems[0].examples[0] == {"label": "insult;toxic", "delimiter": ";"}


def test_malformed_csv_rows_are_all_listed():
    content = 'World,ok\nSports,"one",extra\nnolabel\nBusiness,"fine"\n'
    with pytest.raises(DatasetFormatError) as caught:
        parse_classifier_csv(content, "MULTI_CLASS")
    message = str(caught.value)
    assert "malformed-row" in message
    assert "line=2" in message and "line=3" in message
    assert caught.value.report.problems[0].count == 2


def test_entity_documents_end_at_every_line_end_comprehend_knows():
    """Comprehend: "Each line must end with a line feed (LF, \\n), a carriage return (CR, \\r),
    or both (CRLF, \\r\\n). You can't use the UTF-8 line separator (u+2028) to end a line."
    (https://docs.aws.amazon.com/comprehend/latest/dg/api-async-insights.html, Prerequisites).
    A file with CR line ends is as many documents for textloop as for Comprehend, so the
    annotations' Line numbers name the same texts."""
    from textloop.domain.datasets.formats import parse_entity_documents, parse_entity_files

    content = "Amazon S3\rAWS Lambda\r\nAmazon EC2 \u2028 runs\nAWS Glue\r"
    assert parse_entity_documents(content) == [
        "Amazon S3",
        "AWS Lambda",
        "Amazon EC2 \u2028 runs",
        "AWS Glue",
    ]
    annotations = "File,Line,Begin Offset,End Offset,Type\nd.txt,3,4,8,SERVICE\n"
    documents = parse_entity_files(content, annotations, "d.txt")
    assert documents[3]["text"][4:8] == "Glue"
    assert documents[3]["entities"] == [{"begin_offset": 4, "end_offset": 8, "type": "SERVICE"}]


def test_entity_files_parse_and_round_trip():
    documents = ner_documents()
    assert len(documents) == 1182
    assert sum(len(d["entities"]) for d in documents) == 665
    assert not any(d["text"].endswith("\r") for d in documents)  # CRLF file
    first = documents[0]
    assert first["text"][0:9] == "AWS X-Ray"
    assert first["entities"][0] == {"begin_offset": 0, "end_offset": 9, "type": "SERVICE"}
    assert validate_documents(documents, model_type="ENTITY_RECOGNIZER").ok

    texts, annotations = write_entity_files(documents[:50], "docs.txt")
    assert annotations.splitlines()[0] == "File,Line,Begin Offset,End Offset,Type"
    back = parse_entity_files(texts, annotations, "docs.txt")
    assert [(d["text"], d["entities"]) for d in back] == [
        (d["text"], d["entities"]) for d in documents[:50]
    ]
    with pytest.raises(DatasetFormatError, match="annotation-line-missing"):
        parse_entity_files(
            "only one line\n",
            "File,Line,Begin Offset,End Offset,Type\ndocs.txt,3,0,4,SERVICE\n",
            "docs.txt",
        )
    with pytest.raises(DatasetFormatError, match="malformed-header"):
        parse_entity_annotations("file,line\n")


# --------------------------------------------------------------------------- validation


def test_classifier_validation_reports_every_rule_readably():
    blank = parse_classifier_csv("toxic||insult,two pipes\ninsult|,trailing\n", "MULTI_LABEL")
    documents = [
        *[doc(f"toxic {i}", ["toxic"], i) for i in range(12)],
        *[doc(f"insult {i}", ["insult"], 100 + i) for i in range(3)],
        doc("no label at all", [], 200),
        doc("", ["toxic"], 201),
        doc("joined", ["toxic;insult"], 202),
        doc("too long", ["x" * 30], 203),
        *blank,
    ]
    rules = ValidationRules(min_docs_per_label=10, max_labels=3, max_label_length=20)
    report = validate_documents(
        documents, model_type="DOCUMENT_CLASSIFIER", mode="MULTI_LABEL", rules=rules
    )
    assert rules_of(report) == {
        "unlabelled",
        "blank-label",
        "empty-text",
        "suspect-delimiter",
        "label-too-long",
        "too-many-labels",
        "too-few-documents",
    }
    by_rule = {p.rule: p for p in report.problems}
    assert by_rule["blank-label"].count == 2
    assert by_rule["unlabelled"].examples[0]["id"] == "d200"
    few = {e["label"]: e["documents"] for e in by_rule["too-few-documents"].examples}
    assert few["insult"] == 5  # 3 + the two parsed rows
    with pytest.raises(DatasetValidationError) as caught:
        report.raise_if_invalid()
    message = str(caught.value)
    for rule in rules_of(report):
        assert f"[{rule}]" in message
    assert "every label needs at least 10 training documents" in message
    assert "label='insult', documents=5" in message


def test_multi_class_rules_and_comprehend_default_minimums():
    forty_nine = [doc(f"a{i}", ["A"], i) for i in range(49)]
    fifty = [doc(f"b{i}", ["B"], 100 + i) for i in range(50)]
    report = validate_documents(
        [*forty_nine, *fifty], model_type="DOCUMENT_CLASSIFIER", mode="MULTI_CLASS"
    )
    assert rules_of(report) == {"too-few-documents"}
    assert report.problems[0].examples == ({"label": "A", "documents": 49},)
    assert "at least 50 training documents (MULTI_CLASS)" in report.problems[0].detail
    both = validate_documents(
        [*fifty, doc("both", ["A", "B"], 999)],
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        check_counts=False,
    )
    assert rules_of(both) == {"multiple-labels"}
    relaxed = validate_documents(
        forty_nine,
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        rules=ValidationRules(min_docs_per_label=10),
    )
    assert relaxed.ok
    multi_label = validate_documents(
        [doc(f"a{i}", ["A"], i) for i in range(10)],
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_LABEL",
    )
    assert multi_label.ok  # Comprehend's multi-label minimum is 10


def test_entity_validation_catches_size_range_overlap_type_and_counts():
    documents = [dict(d) for d in ner_documents()[:40]]
    documents[0] = {**documents[0], "text": "x" * 4999 + "é"}  # 5,001 bytes
    documents[1] = {
        **documents[1],
        "entities": [{"begin_offset": 5, "end_offset": 500, "type": "SERVICE"}],
    }
    documents[2] = {
        **documents[2],
        "text": "Amazon Simple Storage Service",
        "entities": [
            {"begin_offset": 0, "end_offset": 29, "type": "SERVICE"},
            {"begin_offset": 7, "end_offset": 13, "type": "SERVICE"},
            {"begin_offset": 14, "end_offset": 21, "type": "SERVICE"},
        ],
    }
    documents[3] = {
        **documents[3],
        "text": "Lambda 2",
        "entities": [{"begin_offset": 7, "end_offset": 8, "type": "BAD TYPE"}],
    }
    report = validate_documents(documents, model_type="ENTITY_RECOGNIZER")
    by_rule = {p.rule: p for p in report.problems}
    assert set(by_rule) == {
        "document-too-large",
        "span-out-of-range",
        "overlapping-spans",
        "invalid-entity-type",
        "too-few-annotations",
    }
    assert by_rule["document-too-large"].examples[0]["bytes"] == 5001
    # The long span overlaps both later ones, not only its neighbour.
    assert by_rule["overlapping-spans"].count == 2
    types = {e["type"] for e in by_rule["too-few-annotations"].examples}
    assert "BAD TYPE" in types
    tiny = validate_documents(documents[4:6], model_type="ENTITY_RECOGNIZER")
    assert "too-few-documents" in rules_of(tiny)
    assert not rules_of(
        validate_documents(documents[4:6], model_type="ENTITY_RECOGNIZER", check_counts=False)
    )


# --------------------------------------------------------------------------- splits


def test_multi_class_split_is_stratified_per_label():
    build = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        original_documents=ag_news()[:2000],
        config={"seed": 4},
    )
    assert build.manifest["split"]["method"] == "train_test_split(stratify)"
    total = Counter(d["labels"][0] for d in [*build.train, *build.test])
    in_test = build.manifest["test"]["per_label"]
    for label, count in total.items():
        assert abs(in_test[label] - 0.2 * count) <= 1
    train_texts = {normalise_text(d["text"]) for d in build.train}
    assert train_texts.isdisjoint(normalise_text(d["text"]) for d in build.test)


def test_iterative_stratification_balances_every_jigsaw_label_and_places_threat():
    rows = jigsaw_records()
    label_sets = [[lb for lb in JIGSAW_LABELS if row[lb] == "1"] for row in rows]
    test = iterative_stratification(label_sets, 0.2, seed=3)
    assert abs(len(test) - 800) <= 1
    totals = Counter(lb for s in label_sets for lb in s)
    in_test = Counter(lb for i in test for lb in label_sets[i])
    for label in JIGSAW_LABELS:
        assert abs(in_test[label] - 0.2 * totals[label]) <= 1, label
    assert (totals["threat"], in_test["threat"]) == (4, 1)
    assert iterative_stratification(label_sets, 0.2, seed=3) == test


def test_a_broken_data_set_fails_the_build_with_every_problem():
    rows = jigsaw_records()
    documents = [
        {
            "id": row["id"],
            "text": row["comment_text"],
            "labels": [lb for lb in JIGSAW_LABELS if row[lb] == "1"],
        }
        for row in rows
    ]
    with pytest.raises(DatasetValidationError) as caught:
        build_datasets(
            model_type="DOCUMENT_CLASSIFIER", mode="MULTI_LABEL", original_documents=documents
        )
    message = str(caught.value)
    assert "training set: " in message and "[unlabelled]" in message
    assert "label='threat', documents=3" in message
    lenient = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_LABEL",
        original_documents=documents,
        strict=False,
    )
    assert not lenient.report.ok
    assert lenient.manifest["validation"]["ok"] is False


def test_the_frozen_test_set_survives_a_second_iteration_unchanged():
    originals = ag_news()[:1200]
    first = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        original_documents=originals,
        config={"seed": 1, "rules": {"min_docs_per_label": 10}},
    )
    frozen = {d["key"]: d for d in first.split_state["test"]}
    assert first.manifest["previous_test_set_hash"] is None
    assert first.test_set_hash == first.split_state["test_set_hash"]

    test_doc = first.test[0]
    train_doc = first.train[0]
    flipped = {"World": "Sports", "Sports": "World", "Business": "SciTech", "SciTech": "Business"}
    new_rows = ag_news()[1200:1250]
    answers = [
        {
            "item_id": f"new-{n}",
            "text": row["text"],
            "labels": row["labels"],
            "reviewer_id": "alice",
            "answered_at": "2025-02-01T00:00:00Z",
            "source": "review",
        }
        for n, row in enumerate(new_rows)
    ]
    answers += [
        {  # a test text, relabelled and spelt differently: must not leak or change the test set
            "item_id": "relabel-test",
            "text": "  " + test_doc["text"].upper(),
            "labels": [flipped[test_doc["labels"][0]]],
            "reviewer_id": "bob",
            "answered_at": "2025-02-01T00:00:00Z",
            "source": "review",
        },
        {  # a training text, relabelled: training follows the pool
            "item_id": "relabel-train",
            "text": train_doc["text"],
            "labels": [flipped[train_doc["labels"][0]]],
            "reviewer_id": "bob",
            "answered_at": "2025-02-01T00:00:00Z",
            "source": "review",
        },
    ]
    pool = merge_answers(None, answers, model_type="DOCUMENT_CLASSIFIER")
    second = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        original_documents=originals,
        pool=pool,
        split_state=first.split_state,
        config={"seed": 999, "rules": {"min_docs_per_label": 10}},
    )
    # Every frozen item is still there, with the content it was frozen with.
    second_test = {d["key"]: d for d in second.test}
    for key, frozen_doc in frozen.items():
        assert second_test[key]["text"] == frozen_doc["text"]
        assert second_test[key]["labels"] == frozen_doc["labels"]
    assert hash_test_set(d for d in second.test if d["key"] in frozen) == first.test_set_hash
    split = second.manifest["split"]
    assert split["frozen_test_documents"] == len(frozen)
    assert split["new_documents"] == 50
    assert split["new_to_test"] == 10 and split["new_to_train"] == 40
    assert len(second.test) == len(frozen) + 10
    assert second.manifest["previous_test_set_hash"] == first.test_set_hash
    assert second.manifest["source_pool_version"] == pool.pool_version
    assert second.manifest["sources"]["frozen_test_relabels_ignored"] == 1
    # Earlier training documents stay in training; the relabelled one carries the new label.
    second_train = {d["key"]: d for d in second.train}
    assert {d["key"] for d in first.train} <= set(second_train)
    assert second_train[train_doc["key"]]["labels"] == [flipped[train_doc["labels"][0]]]
    # No text is in both.
    train_texts = {normalise_text(d["text"]) for d in second.train}
    assert train_texts.isdisjoint(normalise_text(d["text"]) for d in second.test)

    # Same inputs, same data set: versions are content hashes.
    again = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        original_documents=originals,
        pool=pool,
        split_state=first.split_state,
        config={"seed": 999, "rules": {"min_docs_per_label": 10}},
    )
    assert again.dataset_version == second.dataset_version
    assert again.files == second.files
    # A third iteration with nothing new keeps the (grown) test set exactly.
    third = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        original_documents=originals,
        pool=pool,
        split_state=second.split_state,
        config={"rules": {"min_docs_per_label": 10}},
    )
    assert third.test_set_hash == second.test_set_hash
    assert third.manifest["split"]["new_documents"] == 0


def test_the_frozen_entity_test_set_survives_a_second_iteration_unchanged():
    # The recogniser's test set is frozen as the classifier's is: a reviewer re-marking a test
    # text's spans changes nothing in it, new documents only add to it.
    originals = [d for d in ner_documents() if d["entities"]]
    first = build_datasets(
        model_type="ENTITY_RECOGNIZER", original_documents=originals, config={"seed": 5}
    )
    frozen = {d["key"]: d for d in first.split_state["test"]}
    assert frozen and first.manifest["previous_test_set_hash"] is None

    def answer(item_id, text, entities):
        return {
            "item_id": item_id,
            "text": text,
            "entities": entities,
            "reviewer_id": "alice",
            "answered_at": "2025-02-01T00:00:00Z",
            "source": "review",
        }

    # New texts: a known document behind a prefix, its spans moved along with it.
    prefix = "Update: "
    new = [
        answer(
            f"new-{n}",
            prefix + d["text"],
            [
                {**s, "begin_offset": s["begin_offset"] + 8, "end_offset": s["end_offset"] + 8}
                for s in d["entities"]
            ],
        )
        for n, d in enumerate(first.train[:40])
    ]
    test_doc, train_doc = first.test[0], first.train[0]
    relabels = [
        answer("relabel-test", test_doc["text"], []),  # a frozen test text: ignored
        answer("relabel-train", train_doc["text"], train_doc["entities"][:1]),  # followed
    ]
    pool = merge_answers(None, new + relabels, model_type="ENTITY_RECOGNIZER")
    second = build_datasets(
        model_type="ENTITY_RECOGNIZER",
        original_documents=originals,
        pool=pool,
        split_state=first.split_state,
        config={"seed": 999},
    )
    second_test = {d["key"]: d for d in second.test}
    for key, frozen_doc in frozen.items():
        assert second_test[key]["text"] == frozen_doc["text"]
        assert second_test[key]["entities"] == frozen_doc["entities"]
    assert hash_test_set(d for d in second.test if d["key"] in frozen) == first.test_set_hash
    split = second.manifest["split"]
    assert split["frozen_test_documents"] == len(frozen)
    assert split["new_documents"] == 40
    assert split["new_to_test"] == 8 and split["new_to_train"] == 32  # the 0.2 test share
    assert len(second.test) == len(frozen) + 8
    assert second.manifest["previous_test_set_hash"] == first.test_set_hash
    assert second.manifest["sources"]["frozen_test_relabels_ignored"] == 1
    second_train = {d["key"]: d for d in second.train}
    assert {d["key"] for d in first.train} <= set(second_train)
    assert second_train[train_doc["key"]]["entities"] == train_doc["entities"][:1]
    # The test files Comprehend reads hold the frozen spans, re-read exactly.
    test_back = parse_entity_files(
        second.files["test.txt"], second.files["test-annotations.csv"], "test.txt"
    )
    assert hash_test_set(test_back) == second.test_set_hash
    third = build_datasets(
        model_type="ENTITY_RECOGNIZER",
        original_documents=originals,
        pool=pool,
        split_state=second.split_state,
    )
    assert third.test_set_hash == second.test_set_hash
    assert third.manifest["split"]["new_documents"] == 0


def test_an_edited_or_mismatched_split_state_is_refused():
    build = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        original_documents=ag_news()[:400],
        config={"rules": {"min_docs_per_label": 10}},
    )
    state = {**build.split_state, "test": [dict(d) for d in build.split_state["test"]]}
    state["test"][0]["labels"] = ["World" if state["test"][0]["labels"] != ["World"] else "Sports"]
    with pytest.raises(ValueError, match="frozen test set does not match its hash"):
        build_datasets(
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_CLASS",
            original_documents=ag_news()[:400],
            split_state=state,
        )
    with pytest.raises(ValueError, match="split state is for"):
        build_datasets(
            model_type="DOCUMENT_CLASSIFIER",
            mode="MULTI_LABEL",
            original_documents=ag_news()[:400],
            split_state=build.split_state,
        )


def test_oversampling_touches_training_only_and_is_seeded():
    documents = [
        *[doc(f"common text {i}", ["common"], i) for i in range(60)],
        *[doc(f"rare text {i}", ["rare", "common"], 100 + i) for i in range(14)],
    ]
    config = BuildConfig(
        seed=2,
        oversample_min_count=30,
        rules=ValidationRules(min_docs_per_label=10),
    )
    build = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_LABEL",
        original_documents=documents,
        config=config,
    )
    train = build.manifest["train"]
    assert train["per_label"]["rare"] == 30
    assert train["distinct_documents"] < train["documents"] == len(build.train)
    assert build.manifest["oversampling"]["added"] == {
        "rare": train["documents"] - train["distinct_documents"]
    }
    assert build.manifest["test"]["documents"] == len({d["key"] for d in build.test})
    assert not {d["key"] for d in build.train} & {d["key"] for d in build.test}
    written = parse_classifier_csv(build.files["train.csv"], "MULTI_LABEL")
    assert len(written) == train["documents"]
    same = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_LABEL",
        original_documents=documents,
        config=config,
    )
    assert same.files == build.files
    unsampled = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_LABEL",
        original_documents=documents,
        config={"seed": 2, "rules": {"min_docs_per_label": 10}},
    )
    assert unsampled.files["test.csv"] == build.files["test.csv"]
    assert unsampled.manifest["oversampling"] is None


def test_entity_recogniser_data_set_build():
    build = build_datasets(
        model_type="ENTITY_RECOGNIZER",
        original_documents=ner_documents(),
        config={"seed": 5},
    )
    manifest = build.manifest
    assert set(build.files) == {
        "train.txt",
        "train-annotations.csv",
        "test.txt",
        "test-annotations.csv",
    }
    assert manifest["mode"] is None and manifest["labels"] == ["SERVICE", "VERSION"]
    assert manifest["split"]["method"] == "iterative-stratification"
    assert (
        manifest["train"]["annotations_sha256"]
        == (manifest["files"]["train-annotations.csv"]["sha256"])
    )
    # Duplicated lines in the source collapse to one document each.
    assert manifest["train"]["documents"] + manifest["test"]["documents"] == len(
        {d["key"] for d in ner_documents()}
    )
    train_back = parse_entity_files(
        build.files["train.txt"], build.files["train-annotations.csv"], "train.txt"
    )
    assert sum(len(d["entities"]) for d in train_back) == sum(
        manifest["train"]["per_label"].values()
    )
    test_back = parse_entity_files(
        build.files["test.txt"], build.files["test-annotations.csv"], "test.txt"
    )
    assert hash_test_set(test_back) == build.test_set_hash
    for label, count in manifest["test"]["per_label"].items():
        total = count + manifest["train"]["per_label"][label]
        assert 0.1 * total <= count <= 0.3 * total


def test_jigsaw_rows_without_labels_can_be_labelled_clean():
    documents = [
        {
            "id": row["id"],
            "text": row["comment_text"],
            "labels": [lb for lb in JIGSAW_LABELS if row[lb] == "1"],
        }
        for row in jigsaw_records()
    ]
    build = build_datasets(
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_LABEL",
        original_documents=documents,
        config={"label_for_no_labels": "clean", "seed": 3},
        strict=False,
    )
    # Only the count rule is left: threat has 3 training documents, Comprehend wants 10.
    assert [p.rule for p in build.report.problems] == ["too-few-documents"]
    assert [e["label"] for e in build.report.problems[0].examples] == ["threat"]
    assert build.manifest["train"]["per_label"]["clean"] > 2500
    assert "clean" in build.manifest["labels"]
    # Texts with line breaks and quotes survive the CSV as one row each.
    back = parse_classifier_csv(build.files["train.csv"], "MULTI_LABEL")
    assert len(back) == build.manifest["train"]["documents"]


def test_an_entity_text_spelt_differently_never_reaches_both_sides():
    documents = list(ner_documents())
    first = build_datasets(
        model_type="ENTITY_RECOGNIZER", original_documents=documents, config={"seed": 5}
    )
    variants = [
        {
            "item_id": f"v{n}",
            "text": "  " + d["text"].upper(),
            "entities": [],
            "reviewer_id": "alice",
            "answered_at": "2025-05-01T00:00:00Z",
            "source": "review",
        }
        for n, d in enumerate(first.test[:20])
    ]
    pool = merge_answers(None, variants, model_type="ENTITY_RECOGNIZER")
    second = build_datasets(
        model_type="ENTITY_RECOGNIZER",
        original_documents=documents,
        pool=pool,
        split_state=first.split_state,
        config={"seed": 5},
    )
    split = second.manifest["split"]
    assert split["new_documents"] == 20  # exact texts differ: new keys
    assert split["new_joining_a_known_text"] == 20
    assert split["new_to_test"] == 20 and split["new_to_train"] == 0
    train_texts = {normalise_text(d["text"]) for d in second.train}
    assert train_texts.isdisjoint(normalise_text(d["text"]) for d in second.test)
    assert {d["key"] for d in first.train} <= {d["key"] for d in second.train}
