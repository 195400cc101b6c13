"""Entity corrections as feedback: Ground Truth manifests dropped under uploads/, JSON Lines
spans and POST /feedback, checked against the text and the active recogniser's entity types;
hostile spans are errors of their line (or a 400 naming the field), good lines go on."""

from __future__ import annotations

import gzip
import io
import json

import boto3
import pytest
from textloop.adapters.active_model import (
    ActiveModelPointer,
    ActiveModelPointerStore,
    pointer_parameter_name,
)
from textloop.domain import feedback, feedback_files, layout, model_facts
from textloop.domain.feedback import FeedbackRecord
from textloop.domain.selection import select_for_review

from tests.support.events import s3_put_event
from tests.support.hostile import ZERO_WIDTH, call, invoke, with_raw

from .conftest import data_file
from .test_batch_feedback import context, errors_by_line, outcome
from .test_inference_handlers import (  # noqa: F401
    BUCKET,
    PREFIX,
    deployed,
    feedback_objects,
    object_lines,
)

NER_VERSION = "ner-7"
TYPES = ("SERVICE", "VERSION")
ENDPOINT = "arn:aws:comprehend:us-east-1:123456789012:entity-recognizer-endpoint/ner-7"


def gt_line(text, entities, job="aws-ner-job") -> bytes:
    return json.dumps(
        {
            "source": text,
            job: {"annotations": {"entities": entities}},
            f"{job}-metadata": {"type": "groundtruth/text-span"},
        }
    ).encode()


def ent(start, end, label="SERVICE"):
    return {"startOffset": start, "endOffset": end, "label": label}


def read(data: bytes, key: str, **kwargs) -> list:
    values = {"model_type": "ENTITY_RECOGNIZER", "mode": None, **kwargs}
    return list(feedback_files.BatchReader(io.BytesIO(data), context(key, **values)))


# ---------------------------------------------------------------------- the domain reader


def test_the_sample_manifest_becomes_one_correction_per_line():
    path = data_file("aws_service_ner", "groundtruth", "output.manifest")
    key = "uploads/feedback/ENTITY_RECOGNIZER/news-app/output.manifest"
    assert feedback_files.is_batch_upload(key)
    assert feedback_files.detect_format(key + ".gz") == ("manifest", True)
    written: dict[str, bytes] = {}
    ctx = context(key, model_type="ENTITY_RECOGNIZER", mode=None, known_labels=frozenset(TYPES))
    with path.open("rb") as handle:
        summary = feedback_files.process_batch(handle, ctx, written.__setitem__)
    assert summary["status"] == "completed" and summary["format"] == "manifest"
    assert (summary["accepted"], summary["rejected"]) == (202, 0)
    records = [
        json.loads(line) for body in written.values() for line in gzip.decompress(body).splitlines()
    ]
    assert all(feedback.validate_record(r) == [] for r in records)
    assert {r["reason"] for r in records} == {"correction"}
    first = records[0]
    assert first["origin"]["line"] == 1 and first["model_type"] == "ENTITY_RECOGNIZER"
    assert first["corrected_labels"] == [
        {"begin_offset": 0, "end_offset": 9, "type": "SERVICE"},
        {"begin_offset": 46, "end_offset": 51, "type": "SERVICE"},
    ]
    assert sum(len(r["corrected_labels"]) for r in records) == 665


def test_hostile_manifest_lines_are_errors_of_their_line_and_good_lines_go_on():
    text = "AWS Lambda 2.0 is out"
    lines = [
        gt_line(text, [ent(0, 10), ent(11, 14, "VERSION")]),  # 1 good
        gt_line(text, [ent(0, 10), ent(4, 14, "VERSION")]),  # 2 overlapping
        gt_line(text, [ent(0, 99)]),  # 3 beyond the text
        gt_line(text, [ent(-3, 2)]),  # 4 negative
        gt_line(text, [ent(0, 10**40)]),  # 5 huge
        gt_line(text, [ent(0, 10, "REGION")]),  # 6 a type the model does not have
        gt_line("AWS \\ud800 Lambda", [ent(0, 3)]).replace(b"\\\\ud800", b"\\ud800"),  # 7
        gt_line(text, [ent(0, 3, "SERVICE")]).replace(b'"SERVICE"', b'"SERV\\udc00"'),  # 8
        b"\xff\xfe not utf-8",  # 9
        gt_line(ZERO_WIDTH, []),  # 10 invisible text
        b"",  # 11 blank: skipped
        gt_line("x" * 10_001, []),  # 12 over the model's size limit
        gt_line("Nothing to see here", []),  # 13 good: "no entity in this text"
        json.dumps({"source": text}).encode(),  # 14 no label attribute
        gt_line(text, [ent(0, 10, "SER\u200bVICE")]),  # 15 invisible inside a type
        gt_line("\U0001f600 Amazon S3", [ent(2, 11)]),  # 16 good: a non-BMP character
    ]
    items = read(
        b"\n".join(lines),
        "uploads/feedback/ENTITY_RECOGNIZER/news-app/hostile.manifest",
        known_labels=frozenset(TYPES),
    )
    records, errors = outcome(items)
    found = errors_by_line(errors)
    assert sorted(found) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15]
    prefix = "aws-ner-job.annotations.entities"
    assert found[2] == [(f"{prefix}[1]", f"overlaps {prefix}[0]")]
    assert found[3] == [(f"{prefix}[0].endOffset", "must be <= 21 (the length of source)")]
    assert found[4] == [(f"{prefix}[0].startOffset", "must be >= 0")]
    assert found[5] == [(f"{prefix}[0].endOffset", "must be <= 21 (the length of source)")]
    assert found[6] == [
        (f"{prefix}[0].label", "is not an entity type of the model (SERVICE, VERSION)")
    ]
    assert found[7] == [("source", "must be valid UTF-8 (invalid code point at character 4)")]
    assert found[8][0][0] == f"{prefix}[0].label"
    assert found[8][0][1].startswith("must be valid UTF-8")
    assert found[9] == [("$", "must be valid UTF-8 (invalid byte at offset 0)")]
    assert found[10] == [("source", "must not be empty or whitespace only")]
    assert found[12] == [("source", "is 10001 bytes of UTF-8; the model accepts at most 10000")]
    assert found[14] == [
        (
            "$",
            'has no label attribute: expected "<job name>": {"annotations": {"entities": [...]}}',
        )
    ]
    assert found[15][0] == (
        f"{prefix}[0].label",
        "must not contain invisible or control characters (character 3)",
    )
    assert [i.line for i in records] == [1, 13, 16]
    spans = [[s.to_dict() for s in i.record.corrected_labels] for i in records]
    assert spans[1] == []  # a correction saying "no entity here"
    assert spans[2] == [{"begin_offset": 2, "end_offset": 11, "type": "SERVICE"}]
    assert all(feedback.validate_record(i.record) == [] for i in records)


def test_a_manifest_for_a_classifier_is_refused_whole():
    items = read(
        gt_line("AWS Lambda", [ent(0, 10)]),
        "uploads/feedback/DOCUMENT_CLASSIFIER/news-app/x.manifest",
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
    )
    (error,) = items
    assert error.fatal and "uploads/feedback/ENTITY_RECOGNIZER/" in error.errors[0].message


def test_json_lines_take_entity_corrections_with_the_same_checks():
    text = "AWS Lambda 2.0 is out"

    def line(spans, **extra):
        return json.dumps({"text": text, "corrected_labels": spans, **extra}).encode()

    def span(begin, end, kind="SERVICE"):
        return {"begin_offset": begin, "end_offset": end, "type": kind}

    lines = [
        line([span(0, 10), span(11, 14, "VERSION")]),  # 1 good
        line([span(0, 10), span(5, 12)]),  # 2 overlapping
        line([span(0, 22)]),  # 3 beyond the text
        line([span(-1, 3)]),  # 4 negative
        line([span(0, 10**40)]),  # 5 huge
        line([span(0, 10, "REGION")]),  # 6 unknown type
        line([span(0, 10)]).replace(b'"SERVICE"', b'"S\\ud800"'),  # 7 lone surrogate
        line([span(3, 1)]),  # 8 reversed
        line([span(0, 10, "SERVICE,X")]),  # 9 a comma breaks Comprehend's CSV
        line([]),  # 10 good: no entity
        line([span(0, 10, "SER\u200bVICE")]),  # 11 invisible inside a type
    ]
    items = read(
        b"\n".join(lines),
        "uploads/feedback/ENTITY_RECOGNIZER/news-app/spans.jsonl",
        known_labels=frozenset(TYPES),
    )
    records, errors = outcome(items)
    found = errors_by_line(errors)
    assert sorted(found) == [2, 3, 4, 5, 6, 7, 8, 9, 11]
    assert found[2] == [("corrected_labels[1]", "overlaps corrected_labels[0]")]
    assert found[3] == [("corrected_labels[0].end_offset", "must be <= 21 (the length of text)")]
    assert found[4] == [("corrected_labels[0].begin_offset", "must be >= 0")]
    assert found[5] == [("corrected_labels[0].end_offset", "must be <= 21 (the length of text)")]
    assert found[6] == [("corrected_labels[0].type", "is not an entity type of the model")]
    assert found[7][0][0] == "corrected_labels[0].type"
    assert found[7][0][1].startswith("must be valid UTF-8")
    assert found[8] == [("corrected_labels[0].end_offset", "must be greater than begin_offset")]
    assert found[9] == [
        ("corrected_labels[0].type", "has an invalid format (must match ^[^\\n\\r\\t,]+$)")
    ]
    assert found[11][0] == (
        "corrected_labels[0].type",
        "must not contain invisible or control characters (character 3)",
    )
    assert [i.line for i in records] == [1, 10]


# ---------------------------------------------------------------------- model facts


def test_entity_types_are_read_from_a_model_document_under_either_name():
    assert model_facts.labels_in({"labels": ["SERVICE"]}) == frozenset({"SERVICE"})
    assert model_facts.labels_in({"entity_types": ["SERVICE", "VERSION"]}) == frozenset(TYPES)
    assert model_facts.labels_in({"entity_types": []}) is None
    assert model_facts.labels_in({"labels": [1]}) is None
    assert model_facts.labels_in(None) is None


# ---------------------------------------------------------------------- through the handlers


@pytest.fixture
def recogniser(deployed):  # noqa: F811
    """An active Comprehend entity recogniser next to the classifier: the feedback paths read
    its version and entity types (nothing calls its endpoint)."""
    ActiveModelPointerStore(
        boto3.client("ssm"), pointer_parameter_name(PREFIX, "ENTITY_RECOGNIZER")
    ).put(
        ActiveModelPointer(
            model_version=NER_VERSION,
            backend="comprehend",
            model_type="ENTITY_RECOGNIZER",
            endpoint_arn=ENDPOINT,
        )
    )
    boto3.client("s3").put_object(
        Bucket=BUCKET,
        Key=layout.metadata_key(NER_VERSION),
        Body=json.dumps({"model_type": "ENTITY_RECOGNIZER", "entity_types": list(TYPES)}),
    )
    return deployed


def upload(key: str, body: bytes) -> dict:
    s3 = boto3.client("s3")
    put = s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    event = s3_put_event(BUCKET, key, etag=put["ETag"].strip('"'), version_id=put.get("VersionId"))
    result = invoke("textloop-batch-feedback", event)["uploads"][0]
    return json.loads(s3.get_object(Bucket=BUCKET, Key=result["errors_key"])["Body"].read())


def stored() -> list[FeedbackRecord]:
    return [
        FeedbackRecord.from_json(line)
        for obj in feedback_objects()
        for line in object_lines(obj["Key"])
    ]


def test_a_dropped_manifest_becomes_corrections_trusted_ones_skip_review(recogniser):
    texts = ["AWS Lambda 2.0 is out", "Amazon S3 adds a class", "Amazon EC2 gets faster"]
    body = b"\n".join(
        [
            gt_line(texts[0], [ent(0, 10), ent(11, 14, "VERSION")]),
            gt_line(texts[1], [ent(0, 9, "REGION")]),  # not a type of the active model
            gt_line(texts[2], [ent(0, 10)]),
        ]
    )
    untrusted = upload("uploads/feedback/ENTITY_RECOGNIZER/partner/gt.manifest", body)
    assert untrusted["status"] == "completed_with_errors"
    assert (untrusted["accepted"], untrusted["rejected"]) == (2, 1)
    assert untrusted["errors"] == [
        {
            "line": 2,
            "errors": [
                {
                    "field": "aws-ner-job.annotations.entities[0].label",
                    "message": "is not an entity type of the model (SERVICE, VERSION)",
                }
            ],
        }
    ]
    trusted = upload("uploads/feedback/ENTITY_RECOGNIZER/support-team/gt.manifest", body)
    assert (trusted["accepted"], trusted["rejected"]) == (2, 1)
    records = stored()
    assert len(records) == 4
    by_app = {(r.submitter["application_id"], r.text): r for r in records}
    assert by_app[("partner", texts[0])].trusted is False
    assert by_app[("support-team", texts[0])].trusted is True
    assert [s.to_dict() for s in by_app[("partner", texts[0])].corrected_labels] == [
        {"begin_offset": 0, "end_offset": 10, "type": "SERVICE"},
        {"begin_offset": 11, "end_offset": 14, "type": "VERSION"},
    ]
    # The trusted application's corrections go to the pool; the untrusted ones are candidates
    # (answered by the trusted ones here, so skipped rather than reviewed twice).
    selection = select_for_review(records, {"budget": 10})
    assert sorted(selection.direct_to_pool) == sorted(
        r.id for r in records if r.submitter["application_id"] == "support-team"
    )
    partner_only = [r for r in records if r.submitter["application_id"] == "partner"]
    selection = select_for_review(partner_only, {"budget": 10})
    assert selection.direct_to_pool == []
    assert {i.id for i in selection.selected} == {r.id for r in partner_only}
    assert all(i.to_dict()["correction"]["labels"] for i in selection.selected)


def entity_body(**overrides):
    body = {
        "text": "AWS Lambda 2.0 is out",
        "model_type": "ENTITY_RECOGNIZER",
        "model_version": NER_VERSION,
        "prediction": {
            "entities": [{"begin_offset": 0, "end_offset": 10, "type": "SERVICE", "score": 0.4}],
            "routed_to_review": True,
        },
        "reason": "dislike",
        "corrected_labels": [
            {"begin_offset": 0, "end_offset": 10, "type": "SERVICE"},
            {"begin_offset": 11, "end_offset": 14, "type": "VERSION"},
        ],
        "submitter": {"user_id": "u-1"},
    }
    body.update(overrides)
    return body


def test_post_feedback_takes_entity_corrections(recogniser):
    status, body = call("textloop-feedback", "/feedback", body=entity_body())
    assert status == 202, body
    (record,) = stored()
    assert record.id == body["feedback_id"] and record.model_type == "ENTITY_RECOGNIZER"
    assert [s.type for s in record.corrected_labels] == ["SERVICE", "VERSION"]


def test_likes_and_dislikes_of_detected_entities_are_feedback_and_review_candidates(recogniser):
    # The mission's "likes and dislikes from users" hold for recognisers too: without a
    # correction, the verdict on the model's spans is stored and the text becomes a candidate.
    for reason, text in (("like", "AWS Lambda 2.0 is out"), ("dislike", "Amazon S3 adds a class")):
        body = entity_body(text=text, reason=reason)
        del body["corrected_labels"]
        status, answer = call("textloop-feedback", "/feedback", body=body)
        assert status == 202, answer
    records = {r.reason: r for r in stored()}
    assert set(records) == {"like", "dislike"}
    for record in records.values():
        assert record.model_type == "ENTITY_RECOGNIZER" and record.corrected_labels is None
        assert [(e.type, e.score) for e in record.prediction.entities] == [("SERVICE", 0.4)]
    selection = select_for_review(list(records.values()), {"budget": 10})
    assert {i.id for i in selection.selected} == {r.id for r in records.values()}
    assert {i.measure for i in selection.selected} == {"least_confidence"}


def _span(begin, end, kind="SERVICE"):
    return {"begin_offset": begin, "end_offset": end, "type": kind}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            entity_body(corrected_labels=[_span(0, 10), _span(5, 14, "VERSION")]),
            "corrected_labels[1]",
            "overlaps corrected_labels[0]",
        ),
        (
            entity_body(corrected_labels=[_span(0, 22)]),
            "corrected_labels[0].end_offset",
            "must be <= 21 (the length of text)",
        ),
        (
            entity_body(corrected_labels=[_span(-1, 3)]),
            "corrected_labels[0].begin_offset",
            "must be >= 0",
        ),
        (
            entity_body(corrected_labels=[_span(0, 10**40)]),
            "corrected_labels[0].end_offset",
            "must be <= 21",
        ),
        (
            entity_body(corrected_labels=[_span(0, 10, "REGION")]),
            "corrected_labels[0].type",
            "is not an entity type of the model (SERVICE, VERSION)",
        ),
        (
            entity_body(
                prediction={
                    "entities": [{**_span(0, 10, "REGION"), "score": 0.4}],
                    "routed_to_review": True,
                }
            ),
            "prediction.entities[0].type",
            "is not an entity type of the model",
        ),
        (
            with_raw(entity_body(), ("corrected_labels", 0, "type"), '"SERV\\ud800"'),
            "corrected_labels[0].type",
            "must be valid UTF-8",
        ),
        (
            entity_body(corrected_labels=[_span(0, 10, "SER\u200bVICE")]),
            "corrected_labels[0].type",
            "must not contain invisible or control characters (character 3)",
        ),
        (
            entity_body(model_version="ner-6"),
            "model_version",
            "is not a version that served ENTITY_RECOGNIZER predictions",
        ),
    ],
)
def test_post_feedback_refuses_hostile_spans_naming_the_field(recogniser, body, field, message):
    status, answer = call("textloop-feedback", "/feedback", body=body)
    assert status == 400, answer
    errors = [(e["field"], e["message"]) for e in answer["errors"]]
    assert any(f == field and message in m for f, m in errors), errors
    assert feedback_objects() == []
