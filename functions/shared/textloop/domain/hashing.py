"""Content hashes: canonical JSON bytes, their SHA-256, and the key under which two texts are one.

Every id textloop derives from content goes through here, so a record, an answer, a pool version
and a data set hash the same value to the same id on every machine.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

import orjson

from textloop.domain.names import ModelType

_WHITESPACE = re.compile(r"\s+")
# Unicode's format characters (category Cf, Unicode 15.1 as in Python 3.13; a unit test checks
# the set against unicodedata): zero-width space and joiners, word joiner, BOM, bidi controls,
# soft hyphen. They draw nothing, so "te\u200bst" must not pass for another text than "test"
# (a test-set text slipped into training, a duplicate dodging dedupe).
FORMAT_CHARACTERS = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)
# One encoder for the process: json.dumps with options builds a new encoder on every call,
# which is a third of the batch path's cost per line.
_CANONICAL_ENCODER = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, UTF-8 (not ASCII-escaped)."""
    return _CANONICAL_ENCODER.encode(value).encode("utf-8")


def canonical_json_plain(value: Any) -> bytes:
    """``canonical_json(value)``'s bytes, written by orjson (several times faster: the batch
    path writes a record and its id per line), for a value without floats: strings, integers,
    booleans, None, lists and dicts with string keys.

    For those orjson writes exactly what the stdlib encoder does (a unit test compares every
    code point, control characters, sorting and integers). Floats it writes in another form
    (``1e-7`` where Python writes ``1e-07``), which would change content hashes: callers pass
    none. What orjson refuses (an integer beyond 64 bits, a lone surrogate, a non-string key)
    goes to ``canonical_json``, which encodes or raises as it always did.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical_json(value)


def content_hash(value: Any) -> str:
    """Lowercase hex SHA-256 of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def normalise_text(text: str) -> str:
    """The form under which two texts count as the same text (pool keys, dedupe, test/train).

    NFKC folds compatibility characters (full-width letters, ligatures, non-breaking spaces),
    casefold is Unicode-aware lower-casing, format characters (zero-width, bidi controls) go,
    and whitespace runs collapse: none of these changes what a person would label the text.
    """
    folded = FORMAT_CHARACTERS.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _WHITESPACE.sub(" ", folded).strip()


def text_key(text: str, model_type: str = ModelType.DOCUMENT_CLASSIFIER) -> str:
    """The key of a text in the pool and in data sets.

    Document classifiers: the normalised text, so "Hello  World" and "hello world" are one
    text. Entity recognisers: the exact text (NFC), because span offsets only mean something in
    the exact string the reviewer saw.
    """
    if model_type == ModelType.ENTITY_RECOGNIZER:
        basis = unicodedata.normalize("NFC", text)
    else:
        basis = normalise_text(text)
    return hashlib.sha256(basis.encode()).hexdigest()[:32]
