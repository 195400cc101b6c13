"""Importing entity seed data: Ground Truth NER manifests, Comprehend's entity files, the seed
layout and the one reader of seed data that SelectForReview and BuildDatasets share."""

from __future__ import annotations

import json

import boto3
import pytest
from textloop.adapters.stack import Stack
from textloop.domain import layout
from textloop.domain.datasets.formats import parse_entity_files
from textloop.domain.datasets.ground_truth import (
    parse_manifest_line,
    parse_manifest_object,
    read_manifest,
)
from textloop.domain.datasets.rules import DatasetFormatError, validate_documents
from textloop.domain.datasets.seed import (
    distinct_documents,
    seed_documents,
    seed_files,
    seed_labels,
)
from textloop.steps import select_for_review

from tests.unit.conftest import data_file
from textloop_ops import cli

JOB = "a2i-comprehend-gtner7c0bf6de-b5a1-11ea-bf5f-12acee018271"


def manifest_line(text, entities, job="my-ner-job", **extra):
    data = {
        "source": text,
        job: {"annotations": {"entities": entities, "labels": [{"label": "SERVICE"}]}},
        f"{job}-metadata": {"type": "groundtruth/text-span", "job-name": f"labeling-job/{job}"},
    }
    data.update(extra)
    return json.dumps(data)


def span(start, end, label="SERVICE"):
    return {"startOffset": start, "endOffset": end, "label": label}


def errors_of(entry):
    return [(e.field, e.message) for e in entry.errors]


# ---------------------------------------------------------------------- the sample manifest


def test_the_sample_manifest_converts_to_the_comprehend_files_shipped_beside_it():
    content = data_file("aws_service_ner", "groundtruth", "output.manifest").read_text("utf-8")
    imported = read_manifest(content)
    assert imported.rejected == []
    assert imported.label_attributes == [JOB]  # found on the lines, not assumed
    documents = imported.documents
    assert len(documents) == 202
    assert documents[0]["text"].startswith("AWS X-Ray Supports Analytics")
    assert documents[0]["entities"] == [
        {"begin_offset": 0, "end_offset": 9, "type": "SERVICE"},
        {"begin_offset": 46, "end_offset": 51, "type": "SERVICE"},
    ]
    assert documents[0]["text"][0:9] == "AWS X-Ray"
    # The sample's Comprehend files hold the same 202 documents first, with the same spans
    # (more, unannotated, documents follow).
    shipped = parse_entity_files(
        data_file("aws_service_ner", "comprehend", "train.csv").read_text("utf-8"),
        data_file("aws_service_ner", "comprehend", "annotations.csv").read_text("utf-8"),
        "train.csv",
    )
    assert [(d["text"], d["entities"]) for d in shipped[:202]] == [
        (d["text"], d["entities"]) for d in documents
    ]
    report = validate_documents(documents, model_type="ENTITY_RECOGNIZER")
    assert report.ok, report.render()
    counts = {
        t: sum(1 for d in documents for s in d["entities"] if s["type"] == t)
        for t in seed_labels(documents)
    }
    assert counts == {"SERVICE": 351, "VERSION": 314}


def test_any_job_name_is_found_and_a_named_attribute_is_read():
    line = manifest_line("Amazon S3 adds a feature", [span(0, 9)], job="team-x-ner-2026")
    entry = parse_manifest_line(line, line=4)
    assert entry.ok and entry.label_attribute == "team-x-ner-2026"
    assert entry.document["id"] == "output.manifest:4"
    assert entry.document["entities"] == [{"begin_offset": 0, "end_offset": 9, "type": "SERVICE"}]
    # Two jobs chained on one line: the text-span one is read; two text-span jobs are ambiguous.
    chained = json.loads(line)
    chained["classify-job"] = {"annotations": {"labels": []}}
    chained["classify-job-metadata"] = {"type": "groundtruth/text-classification"}
    assert parse_manifest_object(chained, line=1).label_attribute == "team-x-ner-2026"
    twice = json.loads(manifest_line("Amazon S3 adds a feature", [span(0, 9)], job="other"))
    twice.update(json.loads(line))
    (error,) = parse_manifest_object(twice, line=7).errors
    assert error.field == "$" and "several label attributes (other, team-x-ner-2026)" in (
        error.message
    )
    assert parse_manifest_object(twice, line=7, label_attribute="other").ok


# ---------------------------------------------------------------------- hostile lines


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("not json", [("$", "is not valid JSON (Expecting value at column 1)")]),
        ("[1, 2]", [("$", "must be a JSON object")]),
        (json.dumps({"source-ref": "s3://b/k", "j": {}}), [("source", "is required: the text")]),
        (manifest_line("   ", [span(0, 1)]), [("source", "must not be empty")]),
        (
            # A lone surrogate escaped in the text: no UTF-8 encoder accepts it.
            manifest_line("ok", []).replace('"ok"', '"o\\ud800k"'),
            [("source", "must be valid UTF-8 (invalid code point at character 1)")],
        ),
        (json.dumps({"source": "text only"}), [("$", "has no label attribute")]),
        (
            json.dumps(
                {
                    "source": "x",
                    "job-metadata": {"failure-reason": "ClientError: worker timed out"},
                }
            ),
            [("job-metadata", "says the labelling failed (ClientError: worker timed out)")],
        ),
        (
            manifest_line("Amazon S3", [span(-1, 3)]),
            [("my-ner-job.annotations.entities[0].startOffset", "must be >= 0")],
        ),
        (
            manifest_line("Amazon S3", [span(0, 10)]),
            [("my-ner-job.annotations.entities[0].endOffset", "must be <= 9 (the length")],
        ),
        (
            manifest_line("Amazon S3", [span(0, 10**30)]),
            [("my-ner-job.annotations.entities[0].endOffset", "must be <= 9")],
        ),
        (
            manifest_line("Amazon S3", [span(0, 2.5)]),
            [("my-ner-job.annotations.entities[0].endOffset", "must be an integer")],
        ),
        (
            manifest_line("Amazon S3", [span(True, 3)]),
            [("my-ner-job.annotations.entities[0].startOffset", "must be an integer")],
        ),
        (
            manifest_line("Amazon S3", [span(5, 5)]),
            [("my-ner-job.annotations.entities[0].endOffset", "must be greater than startOffset")],
        ),
        (
            manifest_line("Amazon S3 and EC2", [span(0, 9), span(7, 9, "VERSION")]),
            [("my-ner-job.annotations.entities[1]", "overlaps my-ner-job.annotations.entities[0]")],
        ),
        (
            manifest_line("Amazon S3", [span(0, 6, "A,B")]),
            [("my-ner-job.annotations.entities[0].label", "must not contain a comma")],
        ),
        (
            manifest_line("Amazon S3", [span(0, 6, "")]),
            [("my-ner-job.annotations.entities[0].label", "must not be empty")],
        ),
        (
            manifest_line("Amazon S3", [span(0, 6)]).replace('"SERVICE"}]', '"S\\udc00"}]', 1),
            [
                (
                    "my-ner-job.annotations.entities[0].label",
                    "must be valid UTF-8 (invalid code point",
                )
            ],
        ),
        (
            manifest_line("Amazon S3", [span(0, 6, "X" * 65)]),
            [("my-ner-job.annotations.entities[0].label", "must be at most 64 characters")],
        ),
        (
            manifest_line("Amazon S3", [span(0, 1)] * 1001),
            [("my-ner-job.annotations.entities", "holds more than 1000 entities")],
        ),
        (
            json.dumps({"source": "x", "j": {"annotations": {"entities": {}}}}),
            [("j.annotations.entities", "must be an array")],
        ),
    ],
)
def test_a_bad_line_is_refused_naming_the_manifest_field(line, expected):
    entry = parse_manifest_line(line, line=12)
    assert not entry.ok and entry.line == 12
    got = errors_of(entry)
    assert len(got) == len(expected), got
    for (field, message), (want_field, want_message) in zip(got, expected, strict=True):
        assert field == want_field
        assert want_message in message, message


def test_bad_lines_are_listed_by_line_number_and_good_lines_kept():
    lines = [
        manifest_line("Amazon S3 stores objects", [span(0, 9)]),
        "",
        "{broken",
        manifest_line("AWS Lambda 2.0 released", [span(0, 10), span(11, 14, "VERSION")]),
        manifest_line("short", [span(0, 99)]),
    ]
    imported = read_manifest("\r\n".join(lines) + "\n")
    assert [d["id"] for d in imported.documents] == ["output.manifest:1", "output.manifest:4"]
    assert [e.line for e in imported.rejected] == [3, 5]
    rendered = imported.render_rejected()
    assert "line 3: $ is not valid JSON" in rendered
    assert "line 5: my-ner-job.annotations.entities[0].endOffset must be <= 5" in rendered


def test_a_known_type_list_refuses_other_types_and_a_size_limit_applies_when_asked():
    line = manifest_line("Amazon S3 1.0", [span(0, 9), span(10, 13, "RELEASE")])
    entry = parse_manifest_line(line, line=1, known_types={"SERVICE", "VERSION"})
    assert errors_of(entry) == [
        (
            "my-ner-job.annotations.entities[1].label",
            "is not an entity type of the model (SERVICE, VERSION)",
        )
    ]
    big = manifest_line("x" * 20_000, [])
    assert parse_manifest_line(big, line=1).ok  # the data set rules report the size
    (error,) = parse_manifest_line(big, line=1, max_text_bytes=10_000).errors
    assert error.field == "source" and error.limit_bytes == 10_000


# ---------------------------------------------------------------------- Comprehend's rules


def test_the_rules_report_reads_as_a_list_of_what_to_fix():
    content = "\n".join(
        [manifest_line(f"Amazon S3 release {n}", [span(0, 9)]) for n in range(30)]
        + [manifest_line("AWS Lambda 2.0", [span(11, 14, "VERSION")])]
        + [manifest_line("y" * 5001, [span(0, 1)])]
    )
    documents = read_manifest(content).documents
    report = validate_documents(documents, model_type="ENTITY_RECOGNIZER", subject="m.manifest")
    rendered = report.render()
    assert rendered.splitlines()[0] == "m.manifest is invalid (2 problem(s)):"
    assert "[document-too-large] 1 document(s) are larger than 5,000 bytes of UTF-8" in rendered
    assert "[too-few-annotations] every entity type needs at least 25 annotations" in rendered
    assert "type='VERSION', annotations=1" in rendered
    few = validate_documents(documents[:2], model_type="ENTITY_RECOGNIZER")
    assert "an entity recogniser needs at least 3 annotated documents" in few.render()
    too_many = [
        {"text": "abc " * 30, "entities": [{"begin_offset": 0, "end_offset": 3, "type": f"T{i}"}]}
        for i in range(26)
    ]
    report = validate_documents(too_many, model_type="ENTITY_RECOGNIZER", check_counts=False)
    assert [p.detail for p in report.problems] == ["26 entity types; the limit is 25"]
    unannotated = [{"text": "nothing here", "entities": []}] * 3
    report = validate_documents(unannotated, model_type="ENTITY_RECOGNIZER", check_counts=False)
    assert [p.rule for p in report.problems] == ["no-entity-types"]
    assert "1 to 25 entity types" in report.render()


# ---------------------------------------------------------------------- the seed layout


def test_seed_keys_per_model_type():
    assert layout.seed_key("DOCUMENT_CLASSIFIER") == "datasets/seed/DOCUMENT_CLASSIFIER/train.csv"
    assert layout.seed_key("ENTITY_RECOGNIZER") == "datasets/seed/ENTITY_RECOGNIZER/train.txt"
    assert layout.seed_annotations_key("ENTITY_RECOGNIZER") == (
        "datasets/seed/ENTITY_RECOGNIZER/train-annotations.csv"
    )
    assert list(layout.seed_keys("ENTITY_RECOGNIZER").values()) == [
        "datasets/seed/ENTITY_RECOGNIZER/train.txt",
        "datasets/seed/ENTITY_RECOGNIZER/train-annotations.csv",
    ]
    with pytest.raises(ValueError, match="no annotations"):
        layout.seed_annotations_key("DOCUMENT_CLASSIFIER")


def test_seed_files_read_back_through_the_one_reader_for_both_model_types():
    entity_docs = read_manifest(
        "\n".join(
            [
                manifest_line("Amazon S3\nnow faster", [span(0, 9)]),  # a line break in a text
                manifest_line("AWS Lambda 2.0", [span(0, 10), span(11, 14, "VERSION")]),
                manifest_line("nothing here", []),
            ]
        )
    ).documents
    files = seed_files("ENTITY_RECOGNIZER", None, entity_docs)
    assert set(files) == set(layout.seed_keys("ENTITY_RECOGNIZER").values())
    assert files[layout.seed_annotations_key("ENTITY_RECOGNIZER")].splitlines() == [
        "File,Line,Begin Offset,End Offset,Type",
        "train.txt,0,0,9,SERVICE",
        "train.txt,1,0,10,SERVICE",
        "train.txt,1,11,14,VERSION",
    ]
    back = seed_documents("ENTITY_RECOGNIZER", None, files)
    assert [d["entities"] for d in back] == [d["entities"] for d in entity_docs]
    assert [d["text"] for d in back] == ["Amazon S3 now faster", "AWS Lambda 2.0", "nothing here"]
    assert seed_labels(back) == ["SERVICE", "VERSION"]
    assert seed_documents("ENTITY_RECOGNIZER", None, {}) == []
    half = {layout.seed_key("ENTITY_RECOGNIZER"): files[layout.seed_key("ENTITY_RECOGNIZER")]}
    with pytest.raises(
        DatasetFormatError, match=r"needs both train\.txt and train-annotations\.csv"
    ):
        seed_documents("ENTITY_RECOGNIZER", None, half)

    classifier = seed_files(
        "DOCUMENT_CLASSIFIER", "MULTI_CLASS", [{"text": "a, b", "labels": ["X"]}]
    )
    assert classifier == {layout.seed_key("DOCUMENT_CLASSIFIER"): 'X,"a, b"\n'}
    (doc,) = seed_documents("DOCUMENT_CLASSIFIER", "MULTI_CLASS", classifier.get)
    assert (doc["text"], doc["labels"]) == ("a, b", ["X"])
    assert seed_labels([doc]) == ["X"]


def test_select_for_review_reads_the_entity_seed_and_offers_its_types(aws):
    bucket = "seed-bucket"
    boto3.client("s3").create_bucket(Bucket=bucket)
    ctx = Stack({"DATA_LAKE_BUCKET": bucket})
    assert select_for_review.seed_documents(ctx, "ENTITY_RECOGNIZER", None) == []
    documents = read_manifest(
        manifest_line("AWS Lambda 2.0", [span(0, 10), span(11, 14, "VERSION")])
    ).documents
    for key, body in seed_files("ENTITY_RECOGNIZER", None, documents).items():
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode())
    seed = select_for_review.seed_documents(ctx, "ENTITY_RECOGNIZER", None)
    assert [d["entities"] for d in seed] == [documents[0]["entities"]]
    assert select_for_review.label_options(None, None, seed) == ["SERVICE", "VERSION"]


# ---------------------------------------------------------------------- the CLI


def _cli(*argv):
    return cli.main(["--api-url", "http://x/", "--api-key", "k", *argv], environ={})


def test_import_dataset_reads_a_ground_truth_manifest(capsys):
    path = data_file("aws_service_ner", "groundtruth", "output.manifest")
    argv = ["--json", "import-dataset", str(path), "--format", "groundtruth"]
    assert _cli(*argv, "--model-type", "ENTITY_RECOGNIZER", "--dry-run") == 0
    summary = json.loads(capsys.readouterr().out)
    # 202 lines; 33 repeat an earlier line exactly (one text is queued 32 times), 8 texts come
    # back with other annotations and stay.
    assert summary["documents"] == 169
    assert summary["repeats_dropped"] == 33
    assert summary["annotations"] == {"SERVICE": 319, "VERSION": 256}
    assert summary["keys"] == list(layout.seed_keys("ENTITY_RECOGNIZER").values())
    # The entity formats need the entity model type, and the reverse.
    assert _cli(*argv, "--dry-run") == cli.EXIT_USAGE
    assert "add --model-type ENTITY_RECOGNIZER" in capsys.readouterr().err


def test_import_dataset_reads_comprehend_entity_files(capsys):
    documents = data_file("aws_service_ner", "comprehend", "train.csv")
    annotations = data_file("aws_service_ner", "comprehend", "annotations.csv")
    base = ["import-dataset", str(documents), "--format", "comprehend"]
    base += ["--model-type", "ENTITY_RECOGNIZER", "--dry-run"]
    assert _cli(*base) == cli.EXIT_USAGE
    assert "needs --annotations" in capsys.readouterr().err
    assert _cli(*base, "--annotations", str(annotations)) == 0
    captured = capsys.readouterr()
    # 1,182 lines, 389 of them a repeat of an earlier line with the same annotations.
    assert "793 documents, 2 entity types (SERVICE, VERSION)" in captured.out
    assert "389 document(s) repeating an earlier one" in captured.err
    # Rows naming another documents file label nothing: Comprehend's minimums say so.
    assert _cli(*base, "--annotations", str(annotations), "--documents-name", "x.txt") == 2
    assert "needs at least 3 annotated documents" in capsys.readouterr().err


def test_import_dataset_lists_bad_manifest_lines_and_can_skip_them(tmp_path, capsys):
    good = [
        manifest_line(f"Amazon S3 update {n} on 2019-04-{n:02d}", [span(0, 9)])
        for n in range(1, 29)
    ]
    path = tmp_path / "output.manifest"
    path.write_text("\n".join([*good[:3], "{oops", *good[3:]]) + "\n", encoding="utf-8")
    argv = ["import-dataset", str(path), "--format", "groundtruth"]
    argv += ["--model-type", "ENTITY_RECOGNIZER", "--dry-run"]
    assert _cli(*argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "1 line(s) refused" in err and "line 4: $ is not valid JSON" in err
    assert _cli(*argv, "--skip-invalid-lines") == 0
    captured = capsys.readouterr()
    assert "28 documents, 1 entity types (SERVICE)" in captured.out
    assert "skipped: --skip-invalid-lines" in captured.err


def test_import_dataset_writes_both_seed_objects(aws, monkeypatch, capsys):
    bucket = "lake"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)

    class Target:
        def data_lake_bucket(self):
            return bucket

        def client(self, name):
            return boto3.client(name)

    monkeypatch.setattr(cli, "resolve_target", lambda *a, **k: Target())
    path = data_file("aws_service_ner", "groundtruth", "output.manifest")
    argv = ["import-dataset", str(path), "--format", "groundtruth", "--model-type"]
    assert _cli(*argv, "ENTITY_RECOGNIZER") == 0
    assert "s3://lake/datasets/seed/ENTITY_RECOGNIZER/train.txt" in capsys.readouterr().out
    ctx = Stack({"DATA_LAKE_BUCKET": bucket})
    seed = seed_documents("ENTITY_RECOGNIZER", None, ctx.lake.get_text)
    assert len(seed) == 169 and seed_labels(seed) == ["SERVICE", "VERSION"]


def test_distinct_documents_keeps_the_first_of_exact_repeats_only():
    def ours(begin, end, kind="SERVICE"):
        return {"begin_offset": begin, "end_offset": end, "type": kind}

    a = {"text": "Amazon S3 2.0", "entities": [ours(0, 9), ours(10, 13, "VERSION")]}
    same_spans_other_order = {"text": a["text"], "entities": list(reversed(a["entities"]))}
    other_answer = {"text": a["text"], "entities": [ours(0, 9)]}
    b = {"text": "AWS Lambda", "entities": []}
    kept, repeats = distinct_documents([a, b, same_spans_other_order, other_answer, b])
    assert kept == [a, b, other_answer]
    assert repeats == 2
    labelled = [{"text": "x", "labels": ["B", "A"]}, {"text": "x", "labels": ["A", "B"]}]
    assert distinct_documents(labelled) == ([labelled[0]], 1)
