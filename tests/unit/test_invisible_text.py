"""Text that draws nothing (issue 11): blank to validation, and gone when texts are compared."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from textloop.domain.hashing import FORMAT_CHARACTERS, normalise_text, text_key
from textloop.domain.validation import check_string, check_text, is_blank


def test_the_format_character_class_is_exactly_unicode_category_cf():
    every = (chr(c) for c in range(sys.maxunicode + 1))
    cf = {ch for ch in every if unicodedata.category(ch) == "Cf"}
    matched = {chr(c) for c in range(sys.maxunicode + 1) if FORMAT_CHARACTERS.fullmatch(chr(c))}
    assert matched == cf


@pytest.mark.parametrize(
    "text",
    [
        "\u200b",
        "\u200b\u200c\u200d\u2060\ufeff",
        " \u2060 \n\t",
        "\u00ad",  # soft hyphen
        "\u202e\u202d",  # bidi overrides
        "\u3164\u115f\u1160\uffa0",  # Hangul fillers
        "\u2800",  # braille blank
        "\u0301\u0308",  # combining marks with nothing to combine with
        "\x00\x07\x1b",  # controls
        "\U000e0041\U000e007f",  # tag characters
    ],
)
def test_invisible_only_text_is_blank(text):
    assert is_blank(text)
    assert check_text(text) == check_text("   ")
    assert [e.message for e in check_string(text, "user_id")] == [
        "must not be empty or whitespace only"
    ]


@pytest.mark.parametrize(
    "text", ["a", "\u200ba", "\u0915\u094d\u200d", "\U0001f600", "\u4e2d", "\u00e9", "1"]
)
def test_text_with_anything_visible_is_not(text):
    assert not is_blank(text)
    assert check_text(text) == []


def test_format_characters_do_not_make_another_text():
    assert normalise_text("te\u200bst \u2060 case\ufeff") == normalise_text("Test case")
    assert text_key("pay\u00adment due") == text_key("payment due")
    # Entity recognisers keep the exact string: offsets count every code point.
    assert text_key("a\u200bb", "ENTITY_RECOGNIZER") != text_key("ab", "ENTITY_RECOGNIZER")


def test_selection_skips_an_invisible_only_text_stored_before_intake_refused_it():
    from textloop.domain.selection import select_for_review

    from .test_selection import record

    records = [
        record(1, "a real text", {"World": 0.5, "Sports": 0.5}),
        record(2, "\u200b\u2060\ufeff", {"World": 0.5, "Sports": 0.5}),
    ]
    selection = select_for_review(records, {"budget": 10})
    assert selection.item_ids == [f"{1:064x}"]
    assert selection.skipped == [{"id": f"{2:064x}", "reason": "no id or no text"}]


@pytest.mark.parametrize(
    ("name", "position"),
    [("a\u200bb", 1), ("u\x00", 1), ("tab\there", 3), ("rtl\u202eevil", 3), ("nb\u00a0sp", 2)],
)
def test_names_must_not_hide_invisible_or_control_characters(name, position):
    assert [e.as_tuple() for e in check_string(name, "user_id")] == [
        ("user_id", f"must not contain invisible or control characters (character {position})")
    ]


@pytest.mark.parametrize("name", ["alice", "Zo\u00eb", "\u674e\u96f7", "first last", "a.b@c-d_e"])
def test_ordinary_names_pass(name):
    assert check_string(name, "user_id") == []
