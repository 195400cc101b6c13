"""JSON Schema loading and validation with errors that name the field at fault.

Two validators per schema: a fastjsonschema compiled function answers "valid?" cheaply (the
batch path runs it for every line) and, only when it says no, jsonschema lists every error with
its path (imported on that path only: it costs 100-200 ms of cold start). Both read the same
schema file; the schemas stick to keywords that draft-07 and 2020-12 share so the two always
agree (a test checks it on fixtures).
"""

from __future__ import annotations

import ast
import copy
import itertools
import json
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import fastjsonschema

if TYPE_CHECKING:
    import jsonschema

from textloop.domain.names import DEFAULT_MAX_TEXT_BYTES

FEEDBACK_RECORD = "feedback-record.v1"
CLASSIFY_REQUEST = "classify-request.v1"
FEEDBACK_REQUEST = "feedback-request.v1"
BATCH_FEEDBACK_LINE = "batch-feedback-line.v1"

_URN_PREFIX = "urn:textloop:schema:"

# Hostile input bounds. No request or batch line of textloop nests deeper than 6 levels (an A2I
# output is the deepest); 32 leaves room and keeps every recursive consumer (validators,
# encoders) far from Python's recursion limit.
MAX_JSON_DEPTH = 32
# The largest request body the APIs read: a review submission of 1,000 answers or a text of
# the back-end's limit fit many times over; API Gateway itself allows 10 MB.
MAX_BODY_BYTES = 1024 * 1024
# A body with thousands of faults gets the first ones: listing them all costs more than the
# request is worth (jsonschema walks every item of a huge array).
MAX_LISTED_ERRORS = 100


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with an input, named by the field's path (``prediction.labels[0].score``).

    ``limit_bytes`` is set only for a text longer than the back-end accepts, which the HTTP
    handlers answer with 413 rather than 400.
    """

    field: str
    message: str
    limit_bytes: int | None = None

    def as_tuple(self) -> tuple[str, str]:
        return (self.field, self.message)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.limit_bytes is not None:
            out["limit_bytes"] = self.limit_bytes
        return out


class InvalidInput(ValueError):
    """Raised by builders given input that fails validation; carries the field errors."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


def http_status(errors: list[FieldError]) -> int:
    """413 when the only thing wrong is size (the client must shorten the text), else 400."""
    if errors and all(e.limit_bytes is not None for e in errors):
        return 413
    return 400


def error_body(errors: list[FieldError]) -> dict[str, Any]:
    """The JSON body for a 400/413 answer (the first ``MAX_LISTED_ERRORS`` errors: a body
    with a fault per item of a huge array must not make a huger answer)."""
    listed = errors[:MAX_LISTED_ERRORS]
    body: dict[str, Any] = {
        "message": "request rejected: " + "; ".join(f"{e.field}: {e.message}" for e in listed),
        "errors": [e.to_dict() for e in listed],
    }
    if len(errors) > len(listed):
        body["errors_truncated"] = True
    limits = [e.limit_bytes for e in errors if e.limit_bytes is not None]
    if limits:
        body["limit_bytes"] = min(limits)
    return body


# --------------------------------------------------------------------------- schemas


def _read_schema_file(name: str) -> dict[str, Any]:
    path = resources.files("textloop") / "schemas" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` (e.g. ``"feedback-record.v1"``), bundled into one document.

    References to another project schema (``urn:textloop:schema:<name>#/$defs/x``) are rewritten
    to local ``#/$defs/x`` with the referenced ``$defs`` copied in: fastjsonschema cannot resolve
    URN references, and a self-contained document needs no registry in either validator.
    Callers must not mutate the returned dict (it is cached).
    """
    schema = _read_schema_file(name)
    pulled: dict[str, dict[str, Any]] = {}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and value.startswith(_URN_PREFIX):
                    other, _, fragment = value[len(_URN_PREFIX) :].partition("#")
                    other_name = other.replace(":v", ".v")
                    if other_name not in pulled:
                        pulled[other_name] = _read_schema_file(other_name).get("$defs", {})
                    out[key] = "#" + fragment
                else:
                    out[key] = rewrite(value)
            return out
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    bundled = rewrite(schema)
    defs = bundled.setdefault("$defs", {})
    for other_defs in pulled.values():
        for def_name, definition in other_defs.items():
            if def_name in defs and defs[def_name] != definition:
                raise ValueError(f"schema {name}: $defs/{def_name} clashes with a referenced one")
            defs[def_name] = copy.deepcopy(definition)
    # Not checked against the metaschema here (that would import jsonschema on every cold
    # start); the unit tests check every schema.
    return bundled


class SchemaValidator:
    """Validates instances of one schema; ``errors`` names every field at fault."""

    def __init__(self, name: str):
        self.name = name
        self.schema = load_schema(name)
        self._fast: Callable[[Any], Any] = fastjsonschema.compile(self.schema)
        self._full: jsonschema.Draft202012Validator | None = None

    def is_valid(self, instance: Any) -> bool:
        try:
            self._fast(instance)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def errors(self, instance: Any) -> list[FieldError]:
        if self.is_valid(instance):
            return []
        if self._full is None:
            self._full = _full_validator_class()(self.schema)
        formatted = [
            found
            for error in self._leaf_errors(
                # One past the cap, so an answer can say that more were left out.
                itertools.islice(self._full.iter_errors(instance), MAX_LISTED_ERRORS + 1)
            )
            for found in self._format(error)
        ]
        found = _dedupe(_moot_removed(formatted))
        # Defensive: if the two validators ever disagree, still reject with a named field.
        return found or [FieldError("$", "does not match the schema " + self.name)]

    def _leaf_errors(self, errors: Iterable[jsonschema.ValidationError]):
        for error in sorted(errors, key=lambda e: (list(map(str, e.absolute_path)), e.message)):
            # anyOf/oneOf: report the alternative that got furthest, not "not valid under any".
            if (
                error.validator in ("anyOf", "oneOf")
                and error.context
                and not _is_presence_alt(error)
            ):
                from jsonschema.exceptions import best_match

                # An alternative of another type ({"type": "null"} beside a string pattern)
                # is not what the caller meant: "must be a null" helps nobody.
                meant = [e for e in error.context if e.validator != "type"] or error.context
                best = best_match(meant)
                yield from self._leaf_errors([best])
            else:
                yield error

    def _format(self, error: jsonschema.ValidationError) -> list[FieldError]:
        path = list(error.absolute_path)
        validator = error.validator
        message: str
        if validator == "required":
            return [FieldError(_field([*path, _missing_name(error.message)]), "is required")]
        if validator == "additionalProperties":
            known = error.schema.get("properties", {})
            return [
                FieldError(_field([*path, extra]), "is not allowed")
                for extra in error.instance
                if extra not in known
            ]
        if validator == "not" and error.validator_value == {}:
            message = "is not allowed"
        elif validator in ("anyOf", "oneOf"):
            message = "is incomplete"
        elif validator == "type":
            message = f"must be {_article(error.validator_value)}"
        elif validator == "minLength" and error.validator_value == 1:
            message = "must not be empty"
        elif validator == "pattern" and error.validator_value == "\\S":
            message = _BLANK
        elif validator == "pattern":
            message = "has an invalid format"
        elif validator == "enum":
            message = "must be one of: " + ", ".join(map(str, error.validator_value))
        elif validator == "const":
            message = f"must be {json.dumps(error.validator_value)}"
        elif validator in ("minimum", "maximum"):
            sign = ">=" if validator == "minimum" else "<="
            message = f"must be {sign} {error.validator_value}"
        elif validator == "maxLength":
            message = f"must be at most {error.validator_value} characters"
        elif validator == "minItems":
            message = f"must have at least {error.validator_value} item(s)"
        elif validator == "maxItems":
            message = f"must have at most {error.validator_value} item(s)"
        elif validator == "uniqueItems":
            message = "must not contain duplicates"
        else:
            message = error.message
        comment = None
        if validator not in ("minLength", "required"):
            comment = _comment_on_path(self.schema, list(error.schema_path))
        if comment:
            message += f" ({comment})"
        elif validator == "pattern" and error.validator_value != "\\S":
            message += f" (must match {error.validator_value})"
        return [FieldError(_field(path), message)]


@cache
def _full_validator_class() -> type[jsonschema.Draft202012Validator]:
    """Draft 2020-12 with ``pattern`` read as fastjsonschema reads it: ``$`` is the end of the
    string, not "before a final newline" (Python's ``$``). Without this, ``"v7\n"`` fails the
    fast check and passes the full one, and the error names no field."""
    import jsonschema
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not _end_anchored(patrn).search(instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    def unique_items(validator: Any, unique: bool, instance: Any, schema: Any) -> Iterator[Any]:
        # jsonschema compares unhashable items pairwise: 30,000 objects in a 600 KB body kept
        # a Lambda busy for minutes. Hashing frozen items is linear (fastjsonschema does too).
        if unique and validator.is_type(instance, "array"):
            frozen = [_frozen(item) for item in instance]
            if len(set(frozen)) != len(frozen):
                yield ValidationError("has non-unique elements")

    return jsonschema.validators.extend(
        jsonschema.Draft202012Validator, {"pattern": pattern, "uniqueItems": unique_items}
    )


def _frozen(value: Any) -> Any:
    """A hashable stand-in with JSON Schema's equality: 1 == 1.0, but true is not 1."""
    if isinstance(value, bool):
        return (bool, value)
    if isinstance(value, Mapping):
        return frozenset((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


@cache
def _end_anchored(pattern: str) -> re.Pattern[str]:
    return re.compile(_UNESCAPED_DOLLAR.sub(r"\\Z", pattern))


def schema_regex(pattern: str) -> re.Pattern[str]:
    """A schema's ``pattern`` compiled as both validators read it (``$``: the end of the string),
    for code that checks a schema's rule itself (the batch path's plain-line check)."""
    return _end_anchored(pattern)


def _is_presence_alt(error: jsonschema.ValidationError) -> bool:
    # anyOf [{required: [a]}, {required: [b]}]: "needs a or b" is clearer than either branch.
    return all(sub.validator == "required" for sub in error.context)


_DECISIVE = ("must be a", "must be an", "must not be empty")
_BLANK = "must not be empty or whitespace only"


def _moot_removed(errors: list[FieldError]) -> list[FieldError]:
    # A value of the wrong type or an empty one fails its pattern too; say only the first.
    decisive = {e.field for e in errors if e.message.startswith(_DECISIVE)}
    kept = [e for e in errors if e.field not in decisive or e.message.startswith(_DECISIVE)]
    # "" fails both minLength and the \S pattern: the pattern's message covers both.
    blank = {e.field for e in kept if e.message == _BLANK}
    return [e for e in kept if not (e.field in blank and e.message == "must not be empty")]


def _dedupe(errors: Iterable[FieldError]) -> list[FieldError]:
    seen: dict[tuple[str, str], FieldError] = {}
    for e in errors:
        seen.setdefault((e.field, e.message), e)
    return list(seen.values())


def _missing_name(message: str) -> str:
    # jsonschema says "{name!r} is a required property"; repr() may use either quote.
    quoted = message.removesuffix(" is a required property")
    try:
        name = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        return quoted
    return name if isinstance(name, str) else quoted


def _article(type_name: Any) -> str:
    if isinstance(type_name, list):
        return " or ".join(_article(t) for t in type_name)
    names = {"object": "an object", "array": "an array", "integer": "an integer"}
    return names.get(type_name, f"a {type_name}")


def _comment_on_path(root: dict[str, Any], schema_path: list[Any]) -> str | None:
    """The innermost ``$comment`` on the way to the failing keyword (it says why a rule exists)."""
    node: Any = root
    comment = None
    for step in schema_path:
        # jsonschema leaves "$ref" out of schema_path: follow references as they come.
        while isinstance(node, dict) and "$ref" in node and step not in node:
            if "$comment" in node:
                comment = node["$comment"]
            node = _resolve_local(root, node["$ref"])
        if isinstance(node, dict) and "$comment" in node:
            comment = node["$comment"]
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
    return comment


def _resolve_local(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if part:
            node = node[part]
    return node


def _field(path: list[Any]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "$"


@cache
def validator(name: str) -> SchemaValidator:
    """The process-wide validator for ``name`` (compiling costs tens of ms; do it once)."""
    return SchemaValidator(name)


# --------------------------------------------------------------------------- text

# Characters that draw nothing: format characters (Cf: zero-width space and joiners, word
# joiner, BOM, bidi controls), controls, combining marks with no base, and the "filler" letters
# Unicode keeps for legacy encodings (Hangul fillers, braille blank). A text of only these is
# blank to a reader and to a model, whatever str.isspace says.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Mn", "Me", "Zs", "Zl", "Zp"})
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _invisible(ch: str) -> bool:
    return ch in _INVISIBLE_LETTERS or unicodedata.category(ch) in _INVISIBLE_CATEGORIES


def is_blank(text: str) -> bool:
    """True for a text a person would see as empty: whitespace, zero-width and other invisible
    characters only (``"\u200b\u2060"``, ``"\ufeff "``)."""
    stripped = text.strip()
    # The first visible character settles it: a real text costs one lookup, not one per char.
    return not stripped or all(_invisible(ch) for ch in stripped)


def check_text(
    text: Any, *, max_bytes: int = DEFAULT_MAX_TEXT_BYTES, field: str = "text"
) -> list[FieldError]:
    """Problems with a document text: type, emptiness, UTF-8 validity, size.

    A ``str`` can hold lone surrogates (JSON allows ``"\\ud800"``) that no UTF-8 encoder
    accepts, so the check is an actual encode; its length is also the size Comprehend counts.
    """
    if not isinstance(text, str):
        return [FieldError(field, "must be a string")]
    try:
        # An ASCII string holds no surrogate and is its own UTF-8 (the batch path's common case).
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        return [FieldError(field, _surrogate_message(exc))]
    if not text or is_blank(text):
        return [FieldError(field, _BLANK)]
    if size > max_bytes:
        return [
            FieldError(
                field,
                f"is {size} bytes of UTF-8; the model accepts at most {max_bytes}",
                limit_bytes=max_bytes,
            )
        ]
    return []


def check_string(value: Any, field: str) -> list[FieldError]:
    """A short string field (a name, an id, a label): valid UTF-8, not blank, and nothing in it
    that prints as nothing (controls, zero-width and other format characters: two ids that
    look the same must be the same id)."""
    if not isinstance(value, str):
        return [FieldError(field, "must be a string")]
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return [FieldError(field, _surrogate_message(exc))]
    if is_blank(value):
        return [FieldError(field, _BLANK)]
    if not value.isprintable():
        # isprintable is False for controls, format characters and separators other than
        # the ASCII space: exactly what must not hide inside a name.
        at = next(i for i, ch in enumerate(value) if not ch.isprintable())
        return [
            FieldError(field, f"must not contain invisible or control characters (character {at})")
        ]
    return []


def _surrogate_message(exc: UnicodeEncodeError) -> str:
    return f"must be valid UTF-8 (invalid code point at character {exc.start})"


def decode_text(raw: bytes, *, field: str = "text") -> tuple[str | None, list[FieldError]]:
    """Strict UTF-8 decoding of raw bytes, with the offset of the first bad byte."""
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        return None, [
            FieldError(field, f"must be valid UTF-8 (invalid byte at offset {exc.start})")
        ]


# --------------------------------------------------------------------------- JSON


class _Rejected:
    """Stands in, while parsing, for a value JSON must not hold (NaN, Infinity, an integer
    of thousands of digits): the parser's hooks know no path, the walk afterwards names it."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


class _RepeatedKeys(dict):
    """An object that named a key twice (JSON leaves that undefined; Python keeps the last,
    another reader the first: a way to smuggle a value past one of them)."""

    __slots__ = ("repeated",)


_NON_FINITE = "must be a finite number (NaN and Infinity are not JSON numbers)"
# CPython refuses to convert integers longer than this (sys.int_info.default_max_str_digits),
# with a ValueError: such a number is rejected by name instead.
_MAX_INT_DIGITS = 4300


class _Hooks(threading.local):
    """The parser's hooks, shared by every ``loads`` (one decoder built once: building one
    per call costs more than the parse). ``suspect`` says the last parse on this thread met a
    value the walk must name."""

    suspect = False

    def constant(self, name: str) -> Any:
        self.suspect = True
        return _Rejected(_NON_FINITE)

    def float(self, text: str) -> Any:
        value = float(text)
        if math.isfinite(value):
            return value
        self.suspect = True
        return _Rejected(_NON_FINITE)

    def int(self, text: str) -> Any:
        if len(text) > _MAX_INT_DIGITS:
            self.suspect = True
            return _Rejected(f"is a number of {len(text)} digits; at most {_MAX_INT_DIGITS}")
        return int(text)

    def object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) == len(pairs):
            return out
        self.suspect = True
        repeated = _RepeatedKeys(out)
        seen: set[str] = set()
        repeated.repeated = sorted({k for k, _ in pairs if k in seen or seen.add(k)})
        return repeated


_HOOKS = _Hooks()
# \uD800-\uDFFF: the only way JSON text decoded from UTF-8 yields a surrogate (a valid pair
# matches too, and costs a walk that finds nothing).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_DECODER = json.JSONDecoder(
    parse_constant=_HOOKS.constant,
    parse_float=_HOOKS.float,
    parse_int=_HOOKS.int,
    object_pairs_hook=_HOOKS.object,
)


def loads(
    text: str | bytes | bytearray,
    *,
    field: str = "$",
    max_depth: int = MAX_JSON_DEPTH,
) -> tuple[Any, list[FieldError]]:
    """Parse JSON that may be hostile: ``(value, [])`` or ``(None, errors)``.

    Rejected, naming the field at fault: invalid UTF-8 (bytes are decoded strictly, never as
    UTF-16 or with surrogates passed through), syntax errors, NaN/Infinity and numbers that
    overflow to them, integers of more than 4,300 digits, keys given twice in one object,
    strings holding lone surrogates (``"\\ud800"``), and nesting deeper than ``max_depth``.
    ``field`` names the document itself (``"body"`` for a request, ``"$"`` for a batch line).
    """
    # Strictly decoded bytes hold no surrogate; a str (a JSON event's body) may hold one raw.
    raw_surrogates = False
    if isinstance(text, (bytes, bytearray)):
        decoded, errors = decode_text(bytes(text), field=field)
        if decoded is None:
            return None, errors
        text = decoded
    else:
        raw_surrogates = not _is_utf8(text)
    _HOOKS.suspect = False
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        return None, [FieldError(field, f"is not valid JSON ({exc.msg} at {where})")]
    except RecursionError:
        return None, [FieldError(field, f"is nested deeper than {max_depth} levels")]
    # Only a document that may hold a bad value is walked (the batch path parses millions of
    # lines): a hook fired, an escape may have made a lone surrogate, or there are enough
    # brackets to nest too deep.
    if (
        _HOOKS.suspect
        or raw_surrogates
        or _SURROGATE_ESCAPE.search(text)
        or text.count("[") + text.count("{") > max_depth
    ):
        errors = value_errors(value, field=field, max_depth=max_depth)
        if errors:
            return None, errors
    return value, []


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def value_errors(
    value: Any, *, field: str = "$", max_depth: int = MAX_JSON_DEPTH
) -> list[FieldError]:
    """What in an already parsed value JSON cannot carry safely (see ``loads``), by path:
    lone surrogates in strings and keys, non-finite numbers, repeated keys, too deep nesting.
    Walked iteratively, so depth itself cannot overflow the stack."""
    found = list(itertools.islice(_walk(value, max_depth), MAX_LISTED_ERRORS))
    return _dedupe(
        FieldError(_field(list(path)) if path else field, message)
        for path, message in sorted(found, key=lambda f: (list(map(str, f[0])), f[1]))
    )


def _walk(value: Any, max_depth: int) -> Iterator[tuple[tuple[Any, ...], str]]:
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if not node.isascii():
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError as exc:
                    yield path, _surrogate_message(exc)
        elif isinstance(node, bool | int):
            continue
        elif isinstance(node, float):
            if not math.isfinite(node):
                yield path, _NON_FINITE
        elif isinstance(node, _Rejected):
            yield path, node.message
        elif isinstance(node, Mapping | list | tuple):
            if len(path) >= max_depth:
                # Named by where it starts: the full path of the culprit is as deep as it is.
                yield path[:1], f"is nested deeper than {max_depth} levels"
                continue
            if isinstance(node, Mapping):
                for key in getattr(node, "repeated", ()):
                    yield (*path, _printable(key)), "is given more than once"
                for key, item in node.items():
                    if isinstance(key, str) and not _is_utf8(key):
                        yield (*path, _printable(key)), "name must be valid UTF-8"
                        continue
                    stack.append((item, (*path, key)))
            else:
                stack.extend((item, (*path, i)) for i, item in enumerate(node))


def _printable(name: Any) -> str:
    # A key with a lone surrogate cannot be named as is in a UTF-8 answer or log line.
    return str(name).encode("utf-8", "backslashreplace").decode("utf-8")


def parse_json_body(
    body: str | bytes | bytearray | None, *, max_bytes: int = MAX_BODY_BYTES
) -> tuple[Any, list[FieldError]]:
    """Parse an HTTP body (API Gateway gives ``str``; ``bytes`` when base64-encoded).

    Errors name the field ``body``, or the field inside it at fault (see ``loads``: lone
    surrogates, NaN, repeated keys, nesting). A body over ``max_bytes`` is refused unread (413).
    """
    if body is None or (isinstance(body, (str, bytes, bytearray)) and not body):
        return None, [FieldError("body", "must not be empty")]
    if not isinstance(body, (str, bytes, bytearray)):
        return None, [FieldError("body", "must be JSON text")]
    # len(str) <= its UTF-8 size <= 4 * len(str): the exact size is needed only near the limit.
    size = len(body) if isinstance(body, (bytes, bytearray)) or len(body) * 4 <= max_bytes else None
    if size is None:
        size = len(body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return None, [
            FieldError(
                "body", f"is {size} bytes; at most {max_bytes} are accepted", limit_bytes=max_bytes
            )
        ]
    return loads(body, field="body")


def parse_json_object(
    body: str | bytes | bytearray | Mapping[str, Any] | None,
) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """A request body that must be a JSON object (or already is a mapping): ``(data, [])`` or
    ``(None, errors)`` naming ``body`` or the field at fault."""
    if isinstance(body, Mapping):
        errors = value_errors(body, field="body")
        return (None, errors) if errors else (dict(body), [])
    data, errors = parse_json_body(body)
    if errors:
        return None, errors
    if not isinstance(data, dict):
        return None, [FieldError("body", "must be a JSON object")]
    return data, []


def request_errors(
    schema: str, data: Mapping[str, Any], *, max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
) -> list[FieldError]:
    """A request's schema errors, with its ``text`` checked first (UTF-8, size: a too long
    text is the error with ``limit_bytes``, answered 413) unless the schema already named it."""
    errors = validator(schema).errors(data)
    if not any(e.field == "text" for e in errors) and "text" in data:
        errors = check_text(data["text"], max_bytes=max_text_bytes) + errors
    return errors
