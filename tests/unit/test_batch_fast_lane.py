"""The batch path's fast lane (issue 14: batch parsing >= 50,000 lines/s): plain JSON Lines read
by orjson and checked by ``plainly_valid``, records written once (orjson for classifiers), chunks
gzipped by ISA-L. Every line must come out exactly as the reference path makes it (the stdlib
parser with its hooks, the compiled schema validator): same records byte for byte, same errors
with the same line and field. Each way orjson differs from the stdlib parser is a case here.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from textloop.domain import feedback, feedback_files
from textloop.domain.hashing import canonical_json, canonical_json_plain
from textloop.domain.validation import BATCH_FEEDBACK_LINE, load_schema, loads, validator

from tests.support.hostile import DEEP, nested

from .test_batch_feedback import context

LABELS = frozenset({"Business", "SciTech", "Sports", "World"})
KEY = "uploads/feedback/DOCUMENT_CLASSIFIER/news-app/f.jsonl"


def both(data: bytes, key: str = KEY, **kwargs) -> tuple[list, list]:
    """The items of the fast lane and of the reference path, for the same bytes."""
    ctx = context(key, known_labels=LABELS, **kwargs)
    fast = list(feedback_files.BatchReader(io.BytesIO(data), ctx))
    reference = list(feedback_files.BatchReader(io.BytesIO(data), ctx, fast=False))
    return fast, reference


def errors_of(items) -> dict[int | None, list[tuple[str, str]]]:
    return {
        i.line: [e.as_tuple() for e in i.errors]
        for i in items
        if isinstance(i, feedback_files.BatchError)
    }


# --------------------------------------------------------------------------- orjson's differences

# Each line orjson parses differently from (or refuses where) the stdlib parser: the fast lane
# must hand it to the reference path, whose error names the field. (line, field, message start)
DIFFERENCES = [
    # orjson refuses an escaped lone surrogate; json makes a str that cannot be encoded
    (b'{"text": "ok", "user_id": "u\\ud800"}', "user_id", "must be valid UTF-8"),
    (b'{"text": "lone \\udc00"}', "text", "must be valid UTF-8"),
    (b'{"text": "ok", "corrected_labels": ["Sp\\udc00orts"]}', "corrected_labels[0]", "must be"),
    (b'{"\\ud800": "key", "text": "ok"}', "\\ud800", "name must be valid UTF-8"),
    # a surrogate as (CESU-8) bytes and other invalid UTF-8: both refuse, the reference names it
    (b'{"text": "\xed\xa0\x80"}', "$", "is not valid UTF-8 (byte 10)"),
    (b'{"text": "caf\xe9"}', "$", "is not valid UTF-8 (byte 13)"),
    (b'{"text": "\xc0\xaf overlong"}', "$", "is not valid UTF-8"),
    # NaN and Infinity: json reads them (the hook rejects), orjson refuses them
    (b'{"text": "n", "user_id": NaN}', "user_id", "must be a finite number"),
    (b'{"text": "n", "corrected_labels": [Infinity]}', "corrected_labels[0]", "must be a finite"),
    (b'{"text": "n", "corrected_labels": [-Infinity]}', "corrected_labels[0]", "must be a finite"),
    # a number that overflows to infinity: orjson refuses, json's hook rejects
    (b'{"text": "inf", "corrected_labels": [1e400]}', "corrected_labels[0]", "must be a finite"),
    # integers beyond 64 bits: orjson silently makes them floats, json keeps them
    (b'{"text": "big", "user_id": 18446744073709551616}', "user_id", "must be a string"),
    (b'{"text": "big", "user_id": ' + b"7" * 5000 + b"}", "user_id", "is a number of 5000"),
    # repeated keys: orjson keeps the last silently, json's hook names them
    (b'{"text": "one", "text": "two"}', "text", "is given more than once"),
    (b'{"text": "a: b", "text": "c"}', "text", "is given more than once"),
    (b'{"text": "x", "text": "\\u003a"}', "text", "is given more than once"),
    (b'{"text": "x", "text": "\\u003A:"}', "text", "is given more than once"),
    (b'{"text": {"a": 1, "b": 2}, "text": "kept"}', "text", "is given more than once"),
    (b'{"text": "t", "user_id": "u", "user_id": "v"}', "user_id", "is given more than once"),
    # nesting: orjson reads 1,024 levels and refuses more; the bound is 32
    (
        b'{"text": "deep", "corrected_labels": ' + nested(DEEP).encode() + b"}",
        "corrected_labels",
        "is nested deeper than 32 levels",
    ),
    (nested(2000).encode(), "[0]", "is nested deeper than 32 levels"),
    (nested(100_000).encode(), "$", "is nested deeper than 32 levels"),
    # what neither accepts
    (b'{"text": "trailing",}', "$", "is not valid JSON"),
    (b'{"text": "ctl \x01"}', "$", "is not valid JSON"),
    (b'"just a string"', "$", "must be a JSON object"),
]


@pytest.mark.parametrize(("line", "field", "message"), DIFFERENCES)
def test_every_difference_of_orjson_is_the_reference_paths_error_of_its_line(line, field, message):
    good = json.dumps({"text": "The striker scored twice", "corrected_labels": ["Sports"]})
    data = b"\n".join([good.encode(), line, good.encode()])
    assert feedback_files.plain_jsonl_line(line) is None
    fast, reference = both(data)
    assert fast == reference
    found = errors_of(fast)
    assert list(found) == [2], found
    assert found[2][0][0] == field and found[2][0][1].startswith(message), found[2]
    assert [i.line for i in fast if isinstance(i, feedback_files.BatchRecord)] == [1, 3]


def test_what_the_reference_parser_says_of_a_line_is_what_the_reader_says():
    """The reader's error for a line orjson refuses is ``validation.loads``'s, unchanged."""
    for line, _, _ in DIFFERENCES:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        _, errors = loads(line, field="$")
        if errors:
            fast, _ = both(line)
            assert [e.as_tuple() for e in fast[0].errors] == [e.as_tuple() for e in errors]


@pytest.mark.parametrize(
    "line",
    [
        b'{"text": "Stocks rally: rates cut", "corrected_labels": ["Business"]}',
        b'{"text": "a:b:c", "user_id": "u:1", "corrected_labels": ["World"]}',
        b'{ "text" : "spaced" , "corrected_labels" : [ "World" ] }',
        b'{"te\\u0078t": "escaped key"}',
        b'{"text": "\\u00e9t\\u00e9 \\ud83d\\ude00 emoji pair", "corrected_labels": ["World"]}',
        b'{"text": "\\"quoted\\" \\\\ back\\tslash \\u0001"}',
        '{"text": "déjà vu 😀", "application_id": "news-app"}'.encode(),
    ],
)
def test_plain_lines_take_the_fast_lane_and_come_out_as_the_reference_makes_them(line):
    assert feedback_files.plain_jsonl_line(line) == json.loads(line)
    fast, reference = both(line)
    assert fast == reference
    assert isinstance(fast[0], feedback_files.BatchRecord)


def test_a_line_that_names_no_label_string_or_an_unknown_field_goes_to_the_schema():
    for line, field in [
        (b'{"text": "t", "corrected_labels": [{"begin_offset": 0}]}', "corrected_labels[0]"),
        (b'{"text": "t", "label": "World"}', "label"),
        (b'{"text": "   "}', "text"),
        (b'{"text": ""}', "text"),
        (b'{"text": "t", "user_id": " padded "}', "user_id"),
        (b'{"text": "t", "corrected_labels": ["a|b"]}', "corrected_labels[0]"),
        (b'{"text": "t", "corrected_labels": "World"}', "corrected_labels"),
        (b'{"text": "t", "user_id": "' + b"u" * 257 + b'"}', "user_id"),
    ]:
        assert feedback_files.plain_jsonl_line(line) is None, line
        fast, reference = both(line)
        assert fast == reference
        assert errors_of(fast)[1][0][0].startswith(field), (line, errors_of(fast))


# --------------------------------------------------------------------------- properties

# Lines built by hand so they can repeat keys, escape anything, hold any number or none.
_keys = st.sampled_from(
    ["text", "corrected_labels", "user_id", "application_id", "label", "te\\u0078t", "\\u003a"]
)
_chars = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from([":", ":", "\\u003a", "\\ud800", "\\udc00", '\\"', "\\\\", " ", "|", "\t"]),
)
_string = st.lists(_chars, max_size=12).map(lambda cs: '"' + "".join(cs) + '"')
_value = st.recursive(
    st.one_of(
        _string,
        _string,
        st.sampled_from(['"World"', '"Sports"', '"u-1"', '"news-app"']),
        st.sampled_from(["1", "-0", "1.5", "1e400", "NaN", "Infinity", "true", "null"]),
        st.integers().map(str),
    ),
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda vs: "[" + ",".join(vs) + "]")
        | st.lists(st.tuples(_keys, inner), max_size=2).map(
            lambda kvs: "{" + ",".join(f'"{k}":{v}' for k, v in kvs) + "}"
        )
    ),
    max_leaves=6,
)
_line = st.lists(st.tuples(_keys, _value, st.sampled_from(["", " ", "\t"])), max_size=5).map(
    lambda kvs: "{" + ",".join(f'{ws}"{k}"{ws}:{ws}{v}' for k, v, ws in kvs) + "}"
)


def _encoded(text: str) -> bytes:
    # surrogatepass: a lone surrogate becomes the CESU-8 bytes a careless writer leaves.
    return text.encode("utf-8", "surrogatepass")


@given(
    st.lists(
        st.one_of(_line.map(_encoded), _value.map(_encoded), st.binary(max_size=30)), max_size=6
    )
)
def test_the_fast_lane_and_the_reference_path_read_any_lines_alike(lines):
    data = b"\n".join(lines)
    fast, reference = both(data)
    assert fast == reference


@given(_line)
def test_a_plain_line_is_one_the_reference_parser_reads_to_the_same_object(line):
    raw = _encoded(line)
    plain = feedback_files.plain_jsonl_line(raw)
    if plain is not None:
        value, errors = loads(raw, field="$")
        assert errors == [] and value == plain
        assert validator(BATCH_FEEDBACK_LINE).is_valid(plain)


_one_char = st.one_of(
    st.characters(exclude_categories=()), st.sampled_from([":", " ", "|", "\t", "\n", "\u200b"])
)
_item_values = st.one_of(
    st.text(_one_char, max_size=8),
    st.lists(st.text(_one_char, max_size=8), max_size=3),
    st.lists(st.one_of(st.integers(), st.text(max_size=3)), max_size=2),
    st.integers(),
    st.none(),
)
_item_keys = st.sampled_from(["text", "corrected_labels", "user_id", "application_id", "label"])


@given(st.dictionaries(_item_keys, _item_values, max_size=4))
def test_plainly_valid_never_passes_what_the_schema_rejects(data):
    if feedback_files.plainly_valid(data):
        assert validator(BATCH_FEEDBACK_LINE).is_valid(data)


def test_str_isspace_and_the_schemas_non_space_pattern_agree_on_every_code_point():
    # plainly_valid reads the schema's "pattern": "\\S" on text as "not text.isspace()".
    space = re.compile(r"\s")
    assert [cp for cp in range(0x110000) if chr(cp).isspace() != bool(space.match(chr(cp)))] == []


def test_the_schema_has_the_shape_plainly_valid_relies_on():
    """A change to the batch line schema must change plainly_valid with it: this pins what it
    reads as the schema's rules."""
    schema = load_schema(BATCH_FEEDBACK_LINE)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["text"]
    props = schema["properties"]
    assert set(props) == {"text", "corrected_labels", "user_id", "application_id"}
    assert props["text"] == {"type": "string", "minLength": 1, "pattern": "\\S"}
    assert props["corrected_labels"]["type"] == "array"
    assert set(props["corrected_labels"]) == {"type", "items"}
    assert props["corrected_labels"]["items"]["anyOf"][0] == {"$ref": "#/$defs/label"}
    assert props["user_id"] == props["application_id"] == {"$ref": "#/$defs/identity"}
    for name in ("label", "identity"):
        rule = schema["$defs"][name]
        assert set(rule) - {"$comment", "description"} == {
            "type",
            "minLength",
            "maxLength",
            "pattern",
        }
        assert rule["type"] == "string" and rule["minLength"] == 1


# --------------------------------------------------------------------------- records written once


def test_canonical_json_plain_writes_every_code_point_as_canonical_json():
    chars = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    for start in range(0, len(chars), 4096):
        chunk = chars[start : start + 4096]
        assert canonical_json_plain(chunk) == canonical_json(chunk)
        assert canonical_json_plain({c: 1 for c in chunk}) == canonical_json({c: 1 for c in chunk})


def test_canonical_json_plain_sorts_nests_and_writes_integers_as_canonical_json():
    value = {
        "b": [1, -1, 0, 2**63 - 1, -(2**63), 2**64 - 1, True, False, None],
        "a": {"z": "ü", "y": [{"d": "", "c": "\x00\x1f\x7f\u2028"}]},
        "B": "upper before lower",
    }
    assert canonical_json_plain(value) == canonical_json(value)
    # What orjson refuses goes to canonical_json, which encodes it or raises as it always did.
    assert canonical_json_plain({"big": 2**64}) == canonical_json({"big": 2**64})
    assert canonical_json_plain({1: "int key"}) == canonical_json({1: "int key"})
    with pytest.raises(UnicodeEncodeError):
        canonical_json_plain({"lone": "\ud800"})


@pytest.mark.parametrize("model_type", ["DOCUMENT_CLASSIFIER", "ENTITY_RECOGNIZER"])
@pytest.mark.parametrize("corrected", [None, [], ["World"], ["b", "a"]])
def test_a_batch_records_line_is_build_batch_record_to_json(model_type, corrected):
    if model_type == "ENTITY_RECOGNIZER" and corrected:
        corrected = [{"begin_offset": 0, "end_offset": 3, "type": "SERVICE"}]
    args = {
        "model_type": model_type,
        "mode": "MULTI_LABEL" if model_type == "DOCUMENT_CLASSIFIER" else None,
        "observed_at": "2025-11-23T02:00:00.000Z",
        "created_at": "2025-11-23T02:01:00.000Z",
        "trusted": True,
    }
    item = {
        "text": 'EC2 "été" 😀 \x01',
        "corrected_labels": corrected,
        "submitter": {"application_id": "a", "user_id": "u"},
        "origin": {"bucket": "lake-bucket", "key": "k", "line": 7},
    }
    built = feedback.build_batch_record(**args, **item)
    line = feedback.BatchRecords(**args).line(*item.values())
    assert line == built.to_json()
    assert feedback.validate_record(feedback.FeedbackRecord.from_json(line)) == []


def test_records_and_their_ids_are_those_main_wrote_before_the_fast_lane():
    """Content addressing across versions: the same upload gives the same ids and lines. The
    digests below are what main (a0fde18, stdlib encoder) wrote for this upload."""
    data = (
        '{"text": "Stocks rally: \\"rates\\" cut \\u00e9t\\u00e9 \\ud83d\\ude00 tab\\t\\u0001 end",'
        ' "corrected_labels": ["Business"]}\n{"text": "Später Tor", "user_id": "u-7"}\n'
    ).encode()
    ctx = context("uploads/feedback/DOCUMENT_CLASSIFIER/news-app/golden.jsonl")
    written: dict[str, bytes] = {}
    feedback_files.process_batch(io.BytesIO(data), ctx, written.__setitem__)
    [(key, body)] = written.items()
    lines = gzip.decompress(body).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [
        "55e5af8c3cb27de2ef9a96197ad6c83e191f7483c37d4a204d3c7649c26b44ba",
        "42765209f09c4d4f5bab8278d034d0d0788f5d2a145cc94925ff65289ef2b95b",
    ]
    assert hashlib.sha256(gzip.decompress(body)).hexdigest() == (
        "a8b43af783d4677ed1a585180bcbd98071d482c158fb534d112e5ee86435ae6c"
    )
    assert key.endswith("/dt=2025-11-23/hour=02/batch-400b1ca7891e135de9d3-00000.jsonl.gz")


def test_chunks_are_gzip_any_reader_reads_and_the_same_bytes_every_time():
    lines = [
        json.dumps({"text": f"text {i}", "corrected_labels": ["World"]}).encode()
        for i in range(2500)
    ]
    ctx = context(KEY)
    first: dict[str, bytes] = {}
    again: dict[str, bytes] = {}
    feedback_files.process_batch(io.BytesIO(b"\n".join(lines)), ctx, first.__setitem__)
    feedback_files.process_batch(io.BytesIO(b"\n".join(lines)), ctx, again.__setitem__)
    assert first == again
    reference: dict[str, bytes] = {}
    feedback_files.process_batch(
        io.BytesIO(b"\n".join(lines)), ctx, reference.__setitem__, fast=False
    )
    [body] = first.values()
    assert gzip.decompress(body) == gzip.decompress(next(iter(reference.values())))
    assert len(gzip.decompress(body).splitlines()) == 2500
