"""Property-based tests (Hypothesis) of the parsers hostile input reaches first (issue 11):
request bodies, batch files in their three formats, feedback requests, timestamps.

The properties: a parser raises nothing but its declared error; what it accepts is safe to
encode and store (UTF-8, finite numbers, bounded depth); every good line of a batch file
survives whatever surrounds it; every error carries the line (or item) it is about.
Runs are deterministic (the "textloop" profile in conftest.py: derandomized, no database).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import assume, given
from hypothesis import strategies as st
from textloop.domain import feedback, feedback_files
from textloop.domain.hashing import canonical_json
from textloop.domain.timestamps import format_timestamp, parse_timestamp
from textloop.domain.validation import (
    MAX_JSON_DEPTH,
    FieldError,
    error_body,
    is_blank,
    parse_json_body,
)

from .test_batch_feedback import context
from .test_feedback_records import api_request

LABELS = frozenset({"Business", "SciTech", "Sports", "World"})

# ------------------------------------------------------------------ strategies

# Any code point, lone surrogates often (what a "\uXXXX" escape can make), invisible ones too.
surrogate = st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)
any_char = st.one_of(
    st.characters(exclude_categories=()),
    surrogate,
    st.sampled_from(["\u200b", "\u2060", "\ufeff", "\u0000", "\\", '"', "\n"]),
)
any_text = st.text(any_char, max_size=30)
finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=25,
)
safe_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
safe_json = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | safe_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(safe_text, inner, max_size=4),
    max_leaves=25,
)
# Text a person would call a text: at least one letter or digit, valid UTF-8.
visible_text = st.text(
    st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=60
).filter(lambda t: any(c.isalnum() for c in t) and not is_blank(t))


def depth(value) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level + 1)
            stack.extend(
                (v, level + 1) for v in (node.values() if isinstance(node, dict) else node)
            )
    return deepest


def assert_safe(value) -> None:
    """What the parser hands on can be stored: canonical JSON (UTF-8, allow_nan=False)."""
    canonical_json(value)
    assert depth(value) <= MAX_JSON_DEPTH


def assert_declared(errors) -> None:
    assert errors and all(isinstance(e, FieldError) for e in errors)
    for e in errors:
        e.field.encode("utf-8")  # an answer or errors object can name it
        e.message.encode("utf-8")
    json.dumps(error_body(errors), ensure_ascii=False).encode("utf-8")


# ------------------------------------------------------------------ request bodies


@given(st.one_of(st.text(), st.binary(), any_text))
def test_parse_json_body_never_raises_on_any_text_or_bytes(body):
    value, errors = parse_json_body(body)
    if errors:
        assert value is None
        assert_declared(errors)
    else:
        assert_safe(value)


@given(json_like, st.booleans())
def test_parse_json_body_accepts_only_what_is_safe_and_names_the_rest(value, as_bytes):
    text = json.dumps(value)  # allow_nan: NaN and Infinity in the text; surrogates as escapes
    body = text.encode() if as_bytes else text
    parsed, errors = parse_json_body(body)
    if errors:
        assert parsed is None
        assert_declared(errors)
    else:
        assert_safe(parsed)
        assert parsed == value


@given(safe_json)
def test_safe_documents_round_trip_unchanged(value):
    assume(depth(value) <= MAX_JSON_DEPTH)
    parsed, errors = parse_json_body(json.dumps(value))
    assert errors == []
    assert canonical_json(parsed) == canonical_json(value)


@given(
    st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), safe_json, min_size=1),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-2E+400"]),
    st.data(),
)
def test_a_non_finite_number_is_named_by_its_path(document, constant, data):
    key = data.draw(st.sampled_from(sorted(document)))
    document[key] = "\u0000mark\u0000"
    text = json.dumps(document).replace(json.dumps("\u0000mark\u0000"), f"[0, {constant}]")
    value, errors = parse_json_body(text)
    assert value is None
    assert (f"{key}[1]", "must be a finite number (NaN and Infinity are not JSON numbers)") in [
        e.as_tuple() for e in errors
    ]


@given(st.integers(min_value=MAX_JSON_DEPTH + 1, max_value=5000), st.sampled_from("[{"))
def test_nesting_past_the_bound_is_refused_naming_the_top_field(levels, opener):
    inner = "[" * levels + "]" * levels if opener == "[" else '{"a":' * levels + "1" + "}" * levels
    value, errors = parse_json_body('{"text": "ok", "deep": ' + inner + "}")
    assert value is None
    assert [e.as_tuple() for e in errors] == [
        ("deep", f"is nested deeper than {MAX_JSON_DEPTH} levels")
    ]


@given(any_text, surrogate, any_text, st.from_regex(r"[a-z]{1,8}", fullmatch=True))
def test_a_lone_surrogate_anywhere_is_named(before, lone, after, key):
    # Not next to another surrogate: a high and a low one side by side make a valid pair.
    assume(not any(0xD800 <= ord(c) <= 0xDFFF for c in before[-1:] + after[:1]))
    body = json.dumps({key: {"inner": [1, before + lone + after]}})
    value, errors = parse_json_body(body)
    assert value is None
    assert next(e.field for e in errors) == f"{key}.inner[1]"
    assert errors[0].message.startswith("must be valid UTF-8 (invalid code point at character")


# ------------------------------------------------------------------ batch files

good_item = st.tuples(visible_text, st.sampled_from(sorted(LABELS)))
hostile_line = st.one_of(
    st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b),
    json_like.map(lambda v: json.dumps(v).encode()),
    st.just(b'{"text": "x", "text": "y"}'),
    st.just(b'{"text": "a", "corrected_labels": ["Weather"]}'),
    st.just(b'{"text": "\\u200b\\u2060"}'),
    st.just(b'{"text": "ok", "user_id": "\\ud800"}'),
    st.just(b"[" * 100 + b"]" * 100),
    st.just(b'{"text": "n", "corrected_labels": [NaN]}'),
)


def read(data: bytes, key: str) -> list:
    ctx = context(key, known_labels=LABELS)
    return list(feedback_files.BatchReader(io.BytesIO(data), ctx))


def jsonl_line(item) -> bytes:
    text, label = item
    return json.dumps({"text": text, "corrected_labels": [label]}).encode()


@given(
    st.lists(
        st.one_of(good_item.map(lambda i: ("good", i)), hostile_line.map(lambda b: ("bad", b))),
        max_size=12,
    )
)
def test_jsonl_every_good_line_survives_and_every_error_has_its_line(lines):
    raw = [jsonl_line(v) if kind == "good" else v for kind, v in lines]
    items = read(b"\n".join(raw), "uploads/f.jsonl")
    records = {i.line: i.record for i in items if isinstance(i, feedback_files.BatchRecord)}
    errors = [i for i in items if isinstance(i, feedback_files.BatchError)]
    for number, (kind, value) in enumerate(lines, start=1):
        if kind == "good":
            assert records[number].text == value[0]
            assert list(records[number].corrected_labels) == [value[1]]
            assert feedback.validate_record(records[number]) == []
    for error in errors:
        assert error.line is not None and 1 <= error.line <= len(lines)
        assert lines[error.line - 1][0] == "bad"
        assert_declared(list(error.errors))
    assert all(canonical_json(r.to_dict()) for r in records.values())


def csv_row(item) -> list[str]:
    text, label = item
    return [text, label, "u-1"]


hostile_row = st.one_of(
    st.lists(st.text(max_size=8), max_size=2).map(lambda r: ("short", r)),
    st.lists(st.text(max_size=8), min_size=4, max_size=6).map(lambda r: ("long", r)),
    st.binary(min_size=1, max_size=20).map(lambda b: ("bytes", b)),
    st.just(("label", ["some text", "Weather", "u"])),
    st.just(("blank", ["\u200b\u2060", "World", "u"])),
)


@given(
    st.lists(
        st.one_of(good_item.map(lambda i: ("good", i)), hostile_row.map(lambda r: ("bad", r))),
        max_size=10,
    )
)
def test_csv_every_good_row_survives_and_every_error_has_its_line(rows):
    out = io.BytesIO()
    starts = []  # the first physical line of each written row
    line = 2
    out.write(b"text,corrected_labels,user_id\r\n")
    for kind, value in rows:
        if kind == "bad" and value[0] == "bytes":
            payload = value[1].replace(b"\n", b" ").replace(b"\r", b" ").replace(b'"', b" ")
            chunk = b"x," + payload + b",u\r\n"
        else:
            cells = csv_row(value) if kind == "good" else value[1]
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerow(cells)
            chunk = buffer.getvalue().encode("utf-8", "surrogatepass")
        starts.append(line)
        line += chunk.count(b"\n")
        out.write(chunk)
    items = read(out.getvalue(), "uploads/f.csv")
    records = {i.line: i.record for i in items if isinstance(i, feedback_files.BatchRecord)}
    for start, (kind, value) in zip(starts, rows, strict=True):
        if kind == "good":
            assert records[start].text == value[0]
    for item in items:
        if isinstance(item, feedback_files.BatchError):
            assert item.line in starts or item.fatal, item
            assert_declared(list(item.errors))


@given(
    st.lists(
        st.one_of(good_item.map(lambda i: ("good", i)), json_like.map(lambda v: ("bad", v))),
        max_size=10,
    )
)
def test_json_every_good_item_survives_and_every_error_has_its_index(entries):
    encoded = [
        json.dumps({"text": v[0], "corrected_labels": [v[1]]}) if kind == "good" else json.dumps(v)
        for kind, v in entries
    ]
    body = '{"classifier": "news", "sentences": [' + ", ".join(encoded) + "]}"
    items = read(body.encode("utf-8", "surrogatepass"), "uploads/f.json")
    fatal = [i for i in items if isinstance(i, feedback_files.BatchError) and i.fatal]
    records = {i.item_index: i.record for i in items if isinstance(i, feedback_files.BatchRecord)}
    for index, (kind, value) in enumerate(entries):
        # yajl refuses NaN and overflowing numbers: the rest of the file is then unread.
        if kind == "good" and not fatal:
            assert records[index].text == value[0]
    for item in items:
        if isinstance(item, feedback_files.BatchError):
            assert item.fatal or item.item_index is not None or item.line is None
            assert_declared(list(item.errors))


# ------------------------------------------------------------------ feedback requests


mutations = st.fixed_dictionaries(
    {},
    optional={
        "text": any_text | scalars,
        "model_version": any_text | scalars,
        "mode": any_text | scalars,
        "reason": st.sampled_from(["like", "dislike"]) | scalars,
        "corrected_labels": json_like,
        "submitter": json_like,
        "prediction": json_like,
        "observed_at": any_text
        | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        "extra": json_like,
    },
)


@given(mutations, st.booleans())
def test_feedback_requests_are_rejected_with_names_or_make_valid_records(change, as_text):
    body = {**api_request(), **change}
    now = datetime(2025, 11, 23, tzinfo=UTC)
    payload = json.dumps(body) if as_text else body
    request, errors = feedback.parse_feedback_request(payload, now=now, known_labels=LABELS)
    if errors:
        assert request is None
        assert_declared(errors)
        return
    record = feedback.build_explicit_api_record(request, now=now, request_id="r-1")
    assert feedback.validate_record(record) == []
    record.to_json()


# ------------------------------------------------------------------ timestamps


@given(st.text(max_size=40))
def test_parse_timestamp_raises_only_value_error(value):
    try:
        moment = parse_timestamp(value)
    except ValueError:
        return
    assert moment.tzinfo is UTC


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
)
def test_format_then_parse_keeps_the_instant_to_the_millisecond(moment):
    assume(moment.utcoffset() is not None)
    text = format_timestamp(moment)
    assert len(text) == 24 and text.endswith("Z")
    back = parse_timestamp(text)
    assert abs(back - moment) < timedelta(milliseconds=1)


@given(
    st.datetimes(min_value=datetime(9999, 12, 31), max_value=datetime(9999, 12, 31, 23, 59)),
    st.integers(min_value=1, max_value=23),
)
def test_an_offset_past_the_end_of_time_is_a_value_error_not_a_crash(moment, hours):
    text = moment.replace(tzinfo=timezone(-timedelta(hours=hours))).isoformat()
    overflows = moment > datetime.max - timedelta(hours=hours)
    try:
        parsed = parse_timestamp(text)
    except ValueError as exc:
        assert overflows and "out of range" in str(exc)
    else:
        assert not overflows
        assert parsed == moment.replace(tzinfo=UTC) + timedelta(hours=hours)
