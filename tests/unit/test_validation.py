"""Schemas, field-named errors, text checks and HTTP status mapping."""

from __future__ import annotations

import json
from importlib import resources

import fastjsonschema
import jsonschema
import pytest
from textloop.domain import validation
from textloop.domain.validation import FieldError, check_text, http_status, parse_json_body

# The schemas of inference and feedback (other modules add their own beside them).
SCHEMA_NAMES = [
    "active-model-pointer.v1",
    "batch-feedback-line.v1",
    "classify-request.v1",
    "feedback-record.v1",
    "feedback-request.v1",
]


def test_schema_files_ship_in_the_package():
    shipped = {p.name for p in (resources.files("textloop") / "schemas").iterdir()}
    assert {f"{name}.json" for name in SCHEMA_NAMES} <= shipped


ALL_SCHEMA_FILES = sorted(
    p.name.removesuffix(".json")
    for p in (resources.files("textloop") / "schemas").iterdir()
    if p.name.endswith(".json")
)


@pytest.mark.parametrize("name", ALL_SCHEMA_FILES)
def test_every_shipped_schema_is_valid_against_its_metaschema(name):
    # load_schema skips this at run time to keep jsonschema out of cold starts.
    jsonschema.Draft202012Validator.check_schema(validation.load_schema(name))


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_valid_draft_2020_12_and_self_contained(name):
    raw = json.loads((resources.files("textloop") / "schemas" / f"{name}.json").read_text())
    assert raw["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert raw["$id"] == f"urn:textloop:schema:{name.replace('.v', ':v')}"
    assert raw["additionalProperties"] is False
    bundled = validation.load_schema(name)
    jsonschema.Draft202012Validator.check_schema(bundled)
    assert "urn:" not in json.dumps(bundled).replace(bundled["$id"], "")


# Instances on which the fast validator (fastjsonschema, draft-07 semantics) and jsonschema
# (2020-12) must agree; the schemas avoid keywords where the drafts differ.
AGREEMENT_CASES = [
    ("classify-request.v1", {"text": "hi"}, True),
    ("classify-request.v1", {"text": "hi", "model_type": "ENTITY_RECOGNIZER"}, True),
    ("classify-request.v1", {"text": " \t"}, False),
    ("classify-request.v1", {"text": "hi", "model_type": "OTHER"}, False),
    ("classify-request.v1", {"text": "hi", "extra": 1}, False),
    ("batch-feedback-line.v1", {"text": "x", "corrected_labels": ["A", "B"]}, True),
    ("batch-feedback-line.v1", {"text": "x", "corrected_labels": ["A|B"]}, False),
    (
        "batch-feedback-line.v1",
        {"text": "x", "corrected_labels": [{"begin_offset": 0, "end_offset": 1, "type": "T"}]},
        True,
    ),
    (
        "active-model-pointer.v1",
        {
            "model_version": "v1",
            "backend": "local",
            "model_type": "DOCUMENT_CLASSIFIER",
            "mode": "MULTI_CLASS",
            "artefact_uri": "s3://lake-bucket/models/v1/model.joblib",
        },
        True,
    ),
    (
        "active-model-pointer.v1",
        {"model_version": "v1", "backend": "local", "model_type": "ENTITY_RECOGNIZER"},
        False,
    ),
    (
        "active-model-pointer.v1",
        {
            "model_version": "v1",
            "backend": "local",
            "model_type": "ENTITY_RECOGNIZER",
            "artefact_uri": "s3://lake-bucket/models/v1/model.joblib",
        },
        True,
    ),
    (
        "active-model-pointer.v1",
        {
            "model_version": "v1",
            "backend": "local",
            "model_type": "ENTITY_RECOGNIZER",
            "mode": "MULTI_CLASS",
            "artefact_uri": "s3://lake-bucket/models/v1/model.joblib",
        },
        False,
    ),
]


@pytest.mark.parametrize(("name", "instance", "valid"), AGREEMENT_CASES)
def test_fast_and_full_validators_agree(name, instance, valid):
    schema = validation.load_schema(name)
    fast_valid = True
    try:
        fastjsonschema.compile(schema)(instance)
    except fastjsonschema.JsonSchemaValueException:
        fast_valid = False
    full_valid = jsonschema.Draft202012Validator(schema).is_valid(instance)
    assert fast_valid == full_valid == valid


def test_errors_name_every_field_at_fault():
    errors = validation.validator(validation.FEEDBACK_REQUEST).errors(
        {
            "text": " ",
            "model_version": "v_1",
            "prediction": {"labels": [{"label": "A", "score": 1.5}], "routed_to_review": False},
            "reason": "meh",
            "submitter": {},
            "mode": "MULTI_CLASS",
            "colour": "blue",
        }
    )
    fields = {e.field: e.message for e in errors}
    assert fields["text"] == "must not be empty or whitespace only"
    assert fields["colour"] == "is not allowed"
    assert fields["reason"] == "must be one of: like, dislike"
    assert fields["prediction.labels[0].score"] == "must be <= 1"
    assert fields["model_version"].startswith("has an invalid format (a model version is")
    assert fields["submitter"].startswith("is incomplete (a submitter needs a user_id")


def test_conditional_rules_explain_themselves():
    errors = validation.validator(validation.FEEDBACK_REQUEST).errors(
        {
            "text": "Amazon S3",
            "model_type": "ENTITY_RECOGNIZER",
            "mode": "MULTI_CLASS",
            "model_version": "v1",
            "prediction": {"entities": [], "routed_to_review": False},
            "reason": "like",
            "submitter": {"user_id": "u1"},
        }
    )
    assert [e.as_tuple() for e in errors] == [
        ("mode", "is not allowed (entity recognisers have no mode and work on spans)")
    ]


def test_missing_field_is_named_with_its_path():
    errors = validation.validator(validation.CLASSIFY_REQUEST).errors({})
    assert [e.as_tuple() for e in errors] == [("text", "is required")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty or whitespace only"),
        (" \n\t\u3000", "must not be empty or whitespace only"),
        (42, "must be a string"),
        ("ok \ud800 then", "must be valid UTF-8 (invalid code point at character 3)"),
    ],
)
def test_check_text_rejects(text, message):
    assert [e.as_tuple() for e in check_text(text)] == [("text", message)]


def test_check_text_limit_is_in_utf8_bytes_not_characters():
    assert check_text("a" * 10_000) == []
    errors = check_text("é" * 5_001)  # 5,001 characters, 10,002 bytes
    assert errors == [
        FieldError("text", "is 10002 bytes of UTF-8; the model accepts at most 10000", 10_000)
    ]
    assert http_status(errors) == 413
    body = validation.error_body(errors)
    assert body["limit_bytes"] == 10_000
    assert body["errors"][0]["field"] == "text"


def test_http_status_is_400_when_anything_but_size_is_wrong():
    size = FieldError("text", "too long", 10_000)
    assert http_status([size, FieldError("reason", "is required")]) == 400
    assert http_status([FieldError("reason", "is required")]) == 400


@pytest.mark.parametrize(
    ("body", "field", "start"),
    [
        (None, "body", "must not be empty"),
        ("", "body", "must not be empty"),
        ("{", "body", "is not valid JSON"),
        (b'{"text": "caf\xe9"}', "body", "must be valid UTF-8 (invalid byte at offset 13)"),
    ],
)
def test_parse_json_body_errors(body, field, start):
    value, errors = parse_json_body(body)
    assert value is None
    assert errors[0].field == field
    assert errors[0].message.startswith(start)


def test_parse_json_body_rejects_lone_surrogates_naming_the_field_as_check_text_does():
    # Issue 11: a lone surrogate in any field (not only text) failed later with a 5xx, so the
    # parser rejects it; check_text still says the same for a str built some other way.
    value, errors = parse_json_body('{"text": "x\\ud800"}')
    assert value is None
    assert [e.as_tuple() for e in errors] == [
        ("text", "must be valid UTF-8 (invalid code point at character 1)")
    ]
    assert check_text("x\ud800")[0].message == errors[0].message


def test_every_unexpected_property_is_named_even_with_quotes_in_names():
    errors = validation.validator(validation.CLASSIFY_REQUEST).errors({"it's": 1, 'say "hi"': 2})
    assert sorted(e.as_tuple() for e in errors) == [
        ("it's", "is not allowed"),
        ('say "hi"', "is not allowed"),
        ("text", "is required"),
    ]
