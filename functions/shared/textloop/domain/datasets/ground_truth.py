"""SageMaker Ground Truth named-entity output manifests, read into entity documents.

A Ground Truth NER labelling job (task type ``groundtruth/text-span``, the
``crowd-entity-annotation`` template) writes one JSON object per line::

    {"source": "<text>",
     "<job>": {"annotations": {"entities": [{"startOffset": 0, "endOffset": 9,
                                             "label": "SERVICE"}, ...],
                               "labels": [{"label": "SERVICE"}, ...]}},
     "<job>-metadata": {"type": "groundtruth/text-span", "job-name": "labeling-job/<job>",
                        "entities": [{"confidence": 0}, ...], "human-annotated": "yes", ...}}

``<job>`` is the job's label attribute name, chosen by whoever created the job; it is found on
each line (the attribute whose value holds ``annotations``), never assumed, so manifests of
several jobs concatenated still read. A line whose labelling failed carries only
``<job>-metadata.failure-reason``; it is reported like any other bad line.

Offsets are taken as Python ``str`` indexes (code points), end exclusive: the
``crowd-entity-annotation`` element documents ``startOffset``/``endOffset`` as "unicode
offsets" (SageMaker Developer Guide, crowd-entity-annotation, ``initial-value``), and
Comprehend's ``Entity.BeginOffset``/``EndOffset`` count "UTF-8 code points" (API reference,
``Entity``). A job whose offsets counted UTF-16 units would shift spans after a character
outside the Basic Multilingual Plane; nothing here can tell, so such text is taken as written.

Every line is checked on its own and its problems name the manifest's own fields
(``<job>.annotations.entities[1].endOffset``) and the line number, so one bad line never hides
the others and never stops the good ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from textloop.domain.hashing import text_key
from textloop.domain.names import ModelType
from textloop.domain.validation import FieldError, check_string, check_text, loads

TEXT_SPAN_TASK = "groundtruth/text-span"
METADATA_SUFFIX = "-metadata"
# Comprehend's entity type rule (EntityRecognizerInputDataConfig.EntityTypes, and the
# ``entity_type`` definition of the feedback record schema): no line break, tab or comma; the
# schema's length limit too. Spaces are refused by the data set rules (rules.py), which name
# Comprehend's full list; here only what would break the annotations CSV or the record.
_TYPE_FORBIDDEN = ("\n", "\r", "\t", ",")
MAX_ENTITY_TYPE_LENGTH = 64
# A text is at most a few thousand characters: no honest line has more spans than this, and a
# line with a million of them is refused before any is looked at.
MAX_ENTITIES_PER_LINE = 1000


@dataclass(frozen=True, slots=True)
class ManifestLine:
    """One line read: the document (``{key, id, text, entities}``) or the errors refusing it."""

    line: int
    document: dict[str, Any] | None
    errors: tuple[FieldError, ...] = ()
    label_attribute: str | None = None

    @property
    def ok(self) -> bool:
        return self.document is not None

    def error_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "errors": [{"field": e.field, "message": e.message} for e in self.errors],
        }


def label_attribute_of(
    data: Mapping[str, Any], label_attribute: str | None = None
) -> tuple[str | None, list[FieldError]]:
    """The job's label attribute on one manifest object: ``label_attribute`` when given, else
    the one attribute (besides ``source`` and ``*-metadata``) whose value holds
    ``annotations``. Several such attributes (chained jobs) are ambiguous unless only one of
    them is a text-span job according to its metadata."""
    if label_attribute is not None:
        if label_attribute not in data:
            return None, [
                FieldError(label_attribute, "is required (the label attribute asked for)")
            ]
        return label_attribute, []
    candidates = [
        name
        for name, value in data.items()
        if name not in ("source", "source-ref")
        and not name.endswith(METADATA_SUFFIX)
        and isinstance(value, Mapping)
        and "annotations" in value
    ]
    if len(candidates) > 1:
        spans = [
            name
            for name in candidates
            if isinstance(data.get(name + METADATA_SUFFIX), Mapping)
            and data[name + METADATA_SUFFIX].get("type") == TEXT_SPAN_TASK
        ]
        if len(spans) == 1:
            candidates = spans
    if len(candidates) == 1:
        return candidates[0], []
    if candidates:
        listed = ", ".join(_printable(c) for c in sorted(candidates))
        return None, [
            FieldError(
                "$",
                f"has several label attributes ({listed}); name the one to read "
                "(--label-attribute)",
            )
        ]
    failed = [
        name
        for name, value in data.items()
        if name.endswith(METADATA_SUFFIX)
        and isinstance(value, Mapping)
        and "failure-reason" in value
    ]
    if failed:
        reason = data[failed[0]]["failure-reason"]
        return None, [
            FieldError(
                _printable(failed[0]),
                f"says the labelling failed ({_printable(str(reason))[:200]}); the line has no "
                "annotations",
            )
        ]
    return None, [
        FieldError(
            "$",
            'has no label attribute: expected "<job name>": {"annotations": {"entities": [...]}}',
        )
    ]


def parse_manifest_object(
    data: Any,
    *,
    line: int,
    name: str = "output.manifest",
    label_attribute: str | None = None,
    known_types: Collection[str] | None = None,
    max_text_bytes: int | None = None,
) -> ManifestLine:
    """One parsed manifest object as an entity document, or the reasons it is refused.

    ``known_types``: when given, entity types outside it are refused (the active model's
    types, for feedback). ``max_text_bytes``: a size limit for ``source`` (feedback files use
    the model's); without it the size is left to the data set rules, which report it with
    Comprehend's own limit.
    """
    if not isinstance(data, Mapping):
        return ManifestLine(line, None, (FieldError("$", "must be a JSON object"),))
    if "source" not in data:
        message = (
            "is required: the text must be in the manifest (source-ref, an S3 object, is not read)"
            if "source-ref" in data
            else "is required"
        )
        return ManifestLine(line, None, (FieldError("source", message),))
    text = data["source"]
    errors = (
        check_text(text, field="source")
        if max_text_bytes is None
        else check_text(text, field="source", max_bytes=max_text_bytes)
    )
    if errors and max_text_bytes is None:
        errors = [e for e in errors if e.limit_bytes is None]
    attribute, found = label_attribute_of(data, label_attribute)
    errors += found
    if errors or attribute is None:
        return ManifestLine(line, None, tuple(errors))
    where = _printable(attribute)
    value = data[attribute]
    annotations = value.get("annotations") if isinstance(value, Mapping) else None
    entities = annotations.get("entities") if isinstance(annotations, Mapping) else None
    field = f"{where}.annotations.entities"
    if not isinstance(entities, list):
        return ManifestLine(line, None, (FieldError(field, "must be an array"),), attribute)
    if len(entities) > MAX_ENTITIES_PER_LINE:
        return ManifestLine(
            line,
            None,
            (FieldError(field, f"holds more than {MAX_ENTITIES_PER_LINE} entities"),),
            attribute,
        )
    spans, errors = _spans(entities, text, field, known_types)
    if errors:
        return ManifestLine(line, None, tuple(errors), attribute)
    document = {
        "key": text_key(text, ModelType.ENTITY_RECOGNIZER),
        "id": f"{name}:{line}",
        "text": text,
        "entities": spans,
        "origin": "original",
    }
    return ManifestLine(line, document, (), attribute)


def _spans(
    entities: list[Any], text: str, field: str, known_types: Collection[str] | None
) -> tuple[list[dict[str, Any]], list[FieldError]]:
    errors: list[FieldError] = []
    spans: list[tuple[int, int, str, int]] = []
    length = len(text)
    for i, entity in enumerate(entities):
        at = f"{field}[{i}]"
        if not isinstance(entity, Mapping):
            errors.append(FieldError(at, "must be an object with startOffset, endOffset, label"))
            continue
        problems: list[FieldError] = []
        offsets = []
        for key in ("startOffset", "endOffset"):
            value = entity.get(key)
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(FieldError(f"{at}.{key}", "must be an integer"))
            elif value < 0:
                problems.append(FieldError(f"{at}.{key}", "must be >= 0"))
            elif value > length:
                problems.append(
                    FieldError(f"{at}.{key}", f"must be <= {length} (the length of source)")
                )
            offsets.append(value)
        label = entity.get("label")
        label_errors = check_string(label, f"{at}.label")
        if not label_errors:
            if any(ch in label for ch in _TYPE_FORBIDDEN):
                label_errors.append(
                    FieldError(f"{at}.label", "must not contain a comma, tab or line break")
                )
            elif len(label) > MAX_ENTITY_TYPE_LENGTH:
                label_errors.append(
                    FieldError(
                        f"{at}.label", f"must be at most {MAX_ENTITY_TYPE_LENGTH} characters"
                    )
                )
            elif known_types is not None and label not in known_types:
                label_errors.append(
                    FieldError(
                        f"{at}.label",
                        f"is not an entity type of the model ({_listed(known_types)})",
                    )
                )
        problems += label_errors
        if not problems and offsets[1] <= offsets[0]:
            problems.append(FieldError(f"{at}.endOffset", "must be greater than startOffset"))
        if problems:
            errors += problems
            continue
        spans.append((offsets[0], offsets[1], label, i))
    if errors:
        return [], errors
    ordered = sorted(spans)
    for previous, current in itertools.pairwise(ordered):
        if current[0] < previous[1]:
            errors.append(FieldError(f"{field}[{current[3]}]", f"overlaps {field}[{previous[3]}]"))
    if errors:
        return [], errors
    # The same span given twice is one annotation (a second reviewer's identical span).
    unique = dict.fromkeys((b, e, t) for b, e, t, _ in ordered)
    return [{"begin_offset": b, "end_offset": e, "type": t} for b, e, t in unique], []


def parse_manifest_line(
    raw: str | bytes,
    *,
    line: int,
    name: str = "output.manifest",
    label_attribute: str | None = None,
    known_types: Collection[str] | None = None,
    max_text_bytes: int | None = None,
) -> ManifestLine:
    """One physical line of a manifest (JSON parsed with ``validation.loads``' bounds)."""
    data, errors = loads(raw, field="$")
    if errors:
        return ManifestLine(line, None, tuple(errors))
    return parse_manifest_object(
        data,
        line=line,
        name=name,
        label_attribute=label_attribute,
        known_types=known_types,
        max_text_bytes=max_text_bytes,
    )


def iter_manifest(
    lines: Iterable[str], *, name: str = "output.manifest", label_attribute: str | None = None
) -> Iterator[ManifestLine]:
    """Every non-blank line of a manifest, numbered from 1 as an editor numbers them."""
    for number, raw in enumerate(lines, start=1):
        stripped = raw.rstrip("\r\n")
        if number == 1:
            stripped = stripped.removeprefix("\ufeff")
        if not stripped.strip():
            continue
        yield parse_manifest_line(stripped, line=number, name=name, label_attribute=label_attribute)


@dataclass(frozen=True)
class ManifestImport:
    """A whole manifest read: the documents of its good lines and the refused lines."""

    documents: list[dict[str, Any]]
    rejected: list[ManifestLine]
    label_attributes: list[str]

    def render_rejected(self, limit: int = 20) -> str:
        lines = [f"{len(self.rejected)} line(s) refused:"]
        for entry in self.rejected[:limit]:
            for error in entry.errors:
                lines.append(f"  line {entry.line}: {error.field} {error.message}")
        if len(self.rejected) > limit:
            lines.append(f"  ... and {len(self.rejected) - limit} more line(s)")
        return "\n".join(lines)


def read_manifest(
    content: str, *, name: str = "output.manifest", label_attribute: str | None = None
) -> ManifestImport:
    """Every line of a manifest's text: documents and refused lines (only ``\\n`` ends a line,
    so a U+2028 inside a text does not shift the line numbers)."""
    documents: list[dict[str, Any]] = []
    rejected: list[ManifestLine] = []
    attributes: dict[str, None] = {}
    for entry in iter_manifest(content.split("\n"), name=name, label_attribute=label_attribute):
        if entry.document is None:
            rejected.append(entry)
        else:
            documents.append(entry.document)
            attributes[entry.label_attribute or ""] = None
    return ManifestImport(documents, rejected, [a for a in attributes if a])


def _printable(name: Any) -> str:
    # A key with a lone surrogate cannot be written as is into a UTF-8 report.
    return str(name).encode("utf-8", "backslashreplace").decode("utf-8")


def _listed(names: Collection[str], limit: int = 20) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:limit])
    return shown + (f", ... ({len(ordered) - limit} more)" if len(ordered) > limit else "")
