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
import json
from collections.abc import Callable, Iterable, Mapping
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
    """The JSON body for a 400/413 answer."""
    body: dict[str, Any] = {
        "message": "request rejected: " + "; ".join(f"{e.field}: {e.message}" for e in errors),
        "errors": [e.to_dict() for e in errors],
    }
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
            import jsonschema

            self._full = jsonschema.Draft202012Validator(self.schema)
        formatted = [
            found
            for error in self._leaf_errors(self._full.iter_errors(instance))
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

                best = best_match(error.context)
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


def check_text(
    text: Any, *, max_bytes: int = DEFAULT_MAX_TEXT_BYTES, field: str = "text"
) -> list[FieldError]:
    """Problems with a document text: type, emptiness, UTF-8 validity, size.

    A ``str`` can hold lone surrogates (JSON allows ``"\\ud800"``) that no UTF-8 encoder
    accepts, so the check is an actual encode; its length is also the size Comprehend counts.
    """
    if not isinstance(text, str):
        return [FieldError(field, "must be a string")]
    if not text or text.isspace():
        return [FieldError(field, "must not be empty or whitespace only")]
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        return [
            FieldError(field, f"must be valid UTF-8 (invalid code point at character {exc.start})")
        ]
    if size > max_bytes:
        return [
            FieldError(
                field,
                f"is {size} bytes of UTF-8; the model accepts at most {max_bytes}",
                limit_bytes=max_bytes,
            )
        ]
    return []


def decode_text(raw: bytes, *, field: str = "text") -> tuple[str | None, list[FieldError]]:
    """Strict UTF-8 decoding of raw bytes, with the offset of the first bad byte."""
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        return None, [
            FieldError(field, f"must be valid UTF-8 (invalid byte at offset {exc.start})")
        ]


def parse_json_body(body: str | bytes | bytearray | None) -> tuple[Any, list[FieldError]]:
    """Parse an HTTP body (API Gateway gives ``str``; ``bytes`` when base64-encoded).

    Errors name the field ``body``. Lone surrogates from ``\\uXXXX`` escapes survive parsing and
    are caught by ``check_text`` on the fields that matter.
    """
    if body is None or (isinstance(body, (str, bytes, bytearray)) and not body):
        return None, [FieldError("body", "must not be empty")]
    if isinstance(body, (bytes, bytearray)):
        text, errors = decode_text(bytes(body), field="body")
        if errors:
            return None, errors
        body = text
    try:
        return json.loads(body), []
    except json.JSONDecodeError as exc:
        return None, [
            FieldError(
                "body", f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            )
        ]


def parse_json_object(
    body: str | bytes | bytearray | Mapping[str, Any] | None,
) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """A request body that must be a JSON object (or already is a mapping): ``(data, [])`` or
    ``(None, errors)`` naming ``body``."""
    if isinstance(body, Mapping):
        return dict(body), []
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
