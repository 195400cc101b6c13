"""POST /classify under hostile input (issue 11): every body is answered 4xx naming the field,
never a 5xx, and nothing reaches the model or the lake."""

from __future__ import annotations

import json

import pytest

from tests.support.events import rest_event
from tests.support.hostile import (
    DEEP,
    VERY_DEEP,
    ZERO_WIDTH,
    call,
    fields,
    invoke,
    nested,
    with_raw,
    with_repeated_key,
)

from .test_inference_handlers import SPORTS, deployed, feedback_objects  # noqa: F401

NAME = "textloop-classify-strict"  # routes every text to review: a write would show
GOOD = {"text": SPORTS, "model_type": "DOCUMENT_CLASSIFIER"}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        # Deep nesting: a RecursionError became a 502 on every JSON route.
        (with_raw(GOOD, ("model_type",), nested(DEEP)), "model_type", "is nested deeper"),
        (nested(VERY_DEEP), "body", "is nested deeper"),
        ('{"text": ' + nested(VERY_DEEP, '"x"') + "}", "body", "is nested deeper"),
        # Lone surrogates anywhere, keys included.
        (with_raw(GOOD, ("text",), '"ok \\ud800"'), "text", "must be valid UTF-8"),
        (with_raw(GOOD, ("model_type",), '"\\udfff"'), "model_type", "must be valid UTF-8"),
        ('{"text": "ok", "\\ud800": 1}', "\\ud800", "name must be valid UTF-8"),
        # NaN and friends are not JSON numbers.
        (with_raw(GOOD, ("model_type",), "NaN"), "model_type", "must be a finite number"),
        (with_raw(GOOD, ("model_type",), "-Infinity"), "model_type", "must be a finite number"),
        (with_raw(GOOD, ("model_type",), "1e400"), "model_type", "must be a finite number"),
        (with_raw(GOOD, ("model_type",), "9" * 5000), "model_type", "is a number of 5000"),
        # One key, two values: which one would a proxy or a WAF have checked?
        (with_repeated_key(GOOD, "text", "harmless"), "text", "is given more than once"),
        # Invisible-only text is blank.
        ({"text": ZERO_WIDTH}, "text", "must not be empty"),
        ({"text": " \u3164\u2800 \u00ad"}, "text", "must not be empty"),
        # Wrong JSON types at every level.
        ("[]", "body", "must be a JSON object"),
        ('"text"', "body", "must be a JSON object"),
        ("null", "body", "must be a JSON object"),
        ("1", "body", "must be a JSON object"),
        ({"text": ["a"]}, "text", "must be a string"),
        ({"text": {"text": "a"}}, "text", "must be a string"),
        ({"text": "ok", "model_type": ["DOCUMENT_CLASSIFIER"]}, "model_type", "must be one of"),
        ({"text": "ok", "model_type": "DOCUMENT_CLASSIFIER\n"}, "model_type", "must be one of"),
        ({"text": "a\u0000b", "colour\u0000": 1}, "colour\u0000", "is not allowed"),
    ],
)
def test_hostile_bodies_are_400_naming_the_field(deployed, body, field, message):  # noqa: F811
    status, answer = call(NAME, "/classify", body=body)
    assert status == 400, answer
    assert fields(answer) == [field], answer
    assert answer["errors"][0]["message"].startswith(message), answer
    assert feedback_objects() == []


def test_a_body_over_the_limit_is_413_unread(deployed):  # noqa: F811
    status, answer = call(NAME, "/classify", body=json.dumps({"text": "x " * 600_000}))
    assert status == 413, answer
    assert fields(answer) == ["body"] and answer["limit_bytes"] == 1024 * 1024


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"text": "caf\xe9"}', "must be valid UTF-8 (invalid byte at offset 13)"),
        # CESU-8 / WTF-8 surrogate bytes: json.loads(bytes) would have let them through.
        (b'{"text": "\xed\xa0\x80"}', "must be valid UTF-8 (invalid byte at offset 10)"),
        # UTF-16: json.loads(bytes) would have detected and decoded it.
        ('{"text": "hi"}'.encode("utf-16"), "must be valid UTF-8 (invalid byte at offset 0)"),
    ],
)
def test_base64_bodies_must_be_utf8(deployed, raw, message):  # noqa: F811
    status, answer = call(NAME, "/classify", raw=raw)
    assert status == 400, answer
    assert [(e["field"], e["message"]) for e in answer["errors"]] == [("body", message)]


def test_a_valid_body_sent_base64_is_classified(deployed):  # noqa: F811
    status, answer = call("textloop-classify", "/classify", raw=json.dumps(GOOD).encode())
    assert status == 200, answer
    assert answer["predicted_labels"] == ["Sports"]


def test_a_body_flagged_base64_that_is_not_base64_is_400(deployed):  # noqa: F811
    event = rest_event("/classify", "POST", "{not: base64}")
    event["isBase64Encoded"] = True
    response = invoke(NAME, event)
    assert response["statusCode"] == 400, response
    assert fields(json.loads(response["body"])) == ["body"]
