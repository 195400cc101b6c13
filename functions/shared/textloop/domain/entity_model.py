"""The embedded back-end for entity recognisers: a linear-chain CRF (python-crfsuite).

* Tokens: ``tokenize`` is a regular expression that keeps character offsets (Python ``str``
  indexes, end exclusive, the offsets of ``EntitySpan``). Dotted or dashed numbers stay one
  token (versions ``2.0.1``, dates ``2019-04-26``), words keep inner dots (``node.js``,
  ``v1.2``) and digits (``EC2``, ``v3``, ``Python3``); hyphens, apostrophes and other
  punctuation are tokens of their own (``X`` ``-`` ``Ray``), so a span may start or stop at
  them; an all-capitals word before a plural ``s`` splits (``AMI`` ``s``): annotators mark
  "Deep Learning AMI" inside "AMIs".
* Tags: BIO per entity type. A token belongs to a gold span when it overlaps it at all
  (annotators leave trailing blanks or cut a word short; the model learns the whole token),
  except a full stop, comma, semicolon or colon at either end of the span (annotators include
  a sentence's full stop now and then; the model learns the name without it).
* Features of a token (``token_features``): the lowercased word, its shape (``Xxxx``, ``dd``),
  short shape, 2-4 character prefixes and suffixes, capitalisation, digits, punctuation, and
  the same few facts of the two words either side (BOS/EOS at the ends).
* Training: L-BFGS with L1 + L2 penalties (``HYPERPARAMETERS``); deterministic for a given
  document order, so a retried Train step writes the same bytes.
* Confidence of an entity: the MINIMUM over its tokens of the CRF's marginal probability of the
  predicted tag at that token (``Tagger.marginal``, forward-backward). The least sure token
  decides, as the routing rule lets the least sure entity decide; a product of marginals would
  treat a four-token service name as four independent doubts, while the marginals inside one
  span are strongly correlated, and would route long names for their length alone.

Artefacts: ``save(model)`` is crfsuite's own binary model file (no pickle: loading it runs no
code), written by ``ModelArtefactStore`` beside ``metadata.json`` exactly as classifiers are;
``metadata["model_type"]`` is ``ENTITY_RECOGNIZER``, so loaders dispatch on it.
``metadata["labels"]`` holds the entity types (so every label-set check reads entity types the
same way), plus thresholds (seed default ``DEFAULT_ENTITY_THRESHOLD`` per type), the training
data hash, the hyperparameters and the crfsuite version. ``load(bytes, metadata)`` checks the
metadata's format and model type and the bytes' crfsuite header before opening them.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import struct
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from typing import Any

import pycrfsuite

from textloop.domain.hashing import canonical_json
from textloop.domain.names import (
    DEFAULT_ENTITY_THRESHOLD,
    DEFAULT_MAX_TEXT_BYTES,
    Backend,
    ModelType,
)
from textloop.domain.predictions import EntitySpan, Prediction, span_tuple
from textloop.domain.thresholds import Thresholds
from textloop.domain.timestamps import format_timestamp

ARTEFACT_FORMAT = 1
# What routes an entity to review by default is names.DEFAULT_ENTITY_THRESHOLD (0.9, also the
# classify path's default for recognisers): a CRF is over-confident on tokens it has seen, so a
# type's spans below it are worth a person's look.
HYPERPARAMETERS: dict[str, Any] = {
    "algorithm": "lbfgs",
    "c1": 0.05,
    "c2": 0.05,
    "max_iterations": 150,
    "feature.possible_transitions": True,
}
OUTSIDE = "O"
_SENTENCE_PUNCTUATION = frozenset(".,;:")
# The header of a crfsuite model file (crfsuite's model.c: FILEMAGIC "lCRF").
_CRFSUITE_MAGIC = b"lCRF"
_CRFSUITE_HEADER = struct.Struct("<4sI4s9I")

TOKEN = re.compile(
    r"""
      \d+(?:[.\-/:]\d+)+           # versions and dates: 2.0.1, 2019-04-26, 10:30
    | [A-Z]{2,}(?=s\b)             # an acronym before its plural s: AMI|s
    | \w+(?:\.\w+)*                # words, inner dots and digits kept: EC2, v3, node.js
    | \S                           # any other character on its own: - ' . ( ,
    """,
    re.VERBOSE,
)


class EntityArtefactError(ValueError):
    """An entity artefact that must not or cannot be loaded here."""


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    begin: int
    end: int


def tokenize(text: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end()) for m in TOKEN.finditer(text)]


def _shape(word: str) -> str:
    shape = re.sub(r"[A-Z]", "X", word)
    shape = re.sub(r"[a-z]", "x", shape)
    return re.sub(r"\d", "d", shape)


def _short_shape(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", _shape(word))


def _word_facts(word: str) -> dict[str, str]:
    return {
        "lower": word.lower(),
        "shape": _short_shape(word),
        "title": str(word[:1].isupper() and word[1:].islower()),
        "upper": str(word.isupper()),
    }


def token_features(tokens: Sequence[Token], index: int) -> list[str]:
    """The CRF's features of ``tokens[index]`` (``name=value`` strings)."""
    word = tokens[index].text
    lower = word.lower()
    features = [
        "bias",
        f"w={lower}",
        f"shape={_shape(word)[:8]}",
        f"sshape={_short_shape(word)}",
        f"title={word[:1].isupper() and word[1:].islower()}",
        f"upper={word.isupper()}",
        f"digit={word.isdigit()}",
        f"has_digit={any(c.isdigit() for c in word)}",
        f"alpha={word.isalpha()}",
        f"punct={not any(c.isalnum() for c in word)}",
        f"len={min(len(word), 8)}",
    ]
    for n in (2, 3, 4):
        if len(lower) > n:
            features += [f"p{n}={lower[:n]}", f"s{n}={lower[-n:]}"]
    for offset in (-2, -1, 1, 2):
        position = index + offset
        if position < 0:
            features.append(f"{offset}:BOS")
            continue
        if position >= len(tokens):
            features.append(f"{offset}:EOS")
            continue
        facts = _word_facts(tokens[position].text)
        if abs(offset) == 1:
            features += [f"{offset}:{name}={value}" for name, value in facts.items()]
        else:
            features += [f"{offset}:lower={facts['lower']}", f"{offset}:shape={facts['shape']}"]
    if index > 0:
        features.append(f"-1|0={tokens[index - 1].text.lower()}|{lower}")
    if index + 1 < len(tokens):
        features.append(f"0|+1={lower}|{tokens[index + 1].text.lower()}")
    return features


def sequence_features(tokens: Sequence[Token]) -> list[list[str]]:
    return [token_features(tokens, i) for i in range(len(tokens))]


def bio_tags(tokens: Sequence[Token], entities: Iterable[Any]) -> list[str]:
    """BIO tags of ``tokens`` for gold spans: a token overlapping a span takes its type (the
    first span wins where two would claim one token)."""
    tags = [OUTSIDE] * len(tokens)
    for begin, end, kind in sorted(span_tuple(s) for s in entities):
        inside = [
            i
            for i, t in enumerate(tokens)
            if t.begin < end and t.end > begin and tags[i] == OUTSIDE
        ]
        # Sentence punctuation at either end is annotation noise, not part of a name: gold has
        # "Amazon Sumerian." 6 times and "Amazon Sumerian" 22 times. Brackets stay: "(Ubuntu)".
        while len(inside) > 1 and tokens[inside[-1]].text in _SENTENCE_PUNCTUATION:
            inside.pop()
        while len(inside) > 1 and tokens[inside[0]].text in _SENTENCE_PUNCTUATION:
            inside.pop(0)
        for n, i in enumerate(inside):
            tags[i] = f"{'B' if n == 0 else 'I'}-{kind}"
    return tags


def spans_of(
    tokens: Sequence[Token], tags: Sequence[str], confidences: Sequence[float]
) -> list[EntitySpan]:
    """Entity spans from BIO tags; an ``I-`` without its ``B-`` (or after another type) starts a
    span, as conlleval reads them. A span's score is its tokens' minimum confidence."""
    spans: list[EntitySpan] = []
    start: int | None = None
    kind = ""
    low = 1.0

    def close(last: int) -> None:
        if start is not None:
            spans.append(
                EntitySpan(tokens[start].begin, tokens[last].end, kind, round(float(low), 6))
            )

    for i, tag in enumerate(tags):
        prefix, _, tag_type = tag.partition("-")
        continues = prefix == "I" and start is not None and tag_type == kind
        if continues:
            low = min(low, confidences[i])
            continue
        close(i - 1)
        start, kind, low = (i, tag_type, confidences[i]) if prefix in ("B", "I") else (None, "", 1)
    close(len(tags) - 1)
    return spans


@dataclass
class EntityModel:
    data: bytes  # crfsuite's binary model file
    metadata: dict[str, Any]

    @property
    def labels(self) -> list[str]:
        """The entity types."""
        return list(self.metadata["labels"])

    @property
    def model_version(self) -> str:
        return self.metadata["model_version"]


def training_data_sha256(documents: Sequence[Mapping[str, Any]]) -> str:
    """Order-independent hash of (text, spans) pairs, as ``local_model.training_data_sha256``."""
    digests = sorted(
        hashlib.sha256(
            canonical_json([d["text"], sorted(list(span_tuple(s)) for s in d.get("entities", ()))])
        ).digest()
        for d in documents
    )
    return hashlib.sha256(b"".join(digests)).hexdigest()


def crfsuite_version() -> str:
    return package_version("python-crfsuite")


def fit(
    documents: Sequence[Mapping[str, Any]],
    *,
    model_version: str | None = None,
    thresholds: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> EntityModel:
    """Train a recogniser on ``{"text", "entities": [{begin_offset, end_offset, type}]}``
    documents (what ``formats.parse_entity_files`` yields). Documents without entities teach
    what is not an entity and are kept. ``thresholds`` as ``local_model.fit``; by default every
    type gets ``DEFAULT_ENTITY_THRESHOLD``.
    """
    if not documents:
        raise ValueError("no training documents")
    types = sorted({span_tuple(s)[2] for d in documents for s in d.get("entities", ())})
    if not types:
        raise ValueError("the training documents hold no entity annotations")
    now = now or datetime.now(UTC)
    data_hash = training_data_sha256(documents)
    params = dict(HYPERPARAMETERS)
    trainer = pycrfsuite.Trainer(algorithm=params.pop("algorithm"), verbose=False)
    for document in documents:
        tokens = tokenize(document["text"])
        if tokens:
            tags = bio_tags(tokens, document.get("entities", ()))
            trainer.append(sequence_features(tokens), tags)
    trainer.set_params(params)
    # crfsuite writes its model to a path; /tmp is the Lambda's writable disk.
    with tempfile.TemporaryDirectory(prefix="textloop-crf-") as directory:
        path = os.path.join(directory, "model.crfsuite")
        trainer.train(path)
        with open(path, "rb") as file:
            data = file.read()
    resolved = Thresholds.from_dict({"default": DEFAULT_ENTITY_THRESHOLD, **(thresholds or {})})
    metadata = {
        "artefact_format": ARTEFACT_FORMAT,
        "backend": Backend.LOCAL.value,
        "model_type": ModelType.ENTITY_RECOGNIZER.value,
        "mode": None,
        "model_version": model_version or f"local-{now:%Y%m%d%H%M%S}-{data_hash[:8]}",
        "labels": types,
        "thresholds": resolved.to_dict(),
        "trained_at": format_timestamp(now),
        "training_data_sha256": data_hash,
        "n_documents": len(documents),
        "n_entities": sum(len(d.get("entities", ())) for d in documents),
        "hyperparameters": HYPERPARAMETERS,
        "crfsuite_version": crfsuite_version(),
        "python_version": platform.python_version(),
    }
    return EntityModel(data=data, metadata=metadata)


def save(model: EntityModel) -> bytes:
    """The artefact bytes (crfsuite's model file); ``model.metadata`` is written beside them."""
    return model.data


def load(data: bytes, metadata: Mapping[str, Any]) -> EntityModel:
    """An artefact written by ``save`` with its ``metadata.json`` (which it needs: crfsuite's
    file holds no version or entity types). crfsuite's format has not changed since 0.12, so
    another python-crfsuite version is not refused; it stays recorded in the metadata."""
    if metadata.get("artefact_format") != ARTEFACT_FORMAT:
        raise EntityArtefactError(
            f"unsupported artefact_format {metadata.get('artefact_format')!r}"
        )
    if metadata.get("model_type") != ModelType.ENTITY_RECOGNIZER:
        raise EntityArtefactError(
            f"metadata says model_type {metadata.get('model_type')!r}, not ENTITY_RECOGNIZER"
        )
    _check_crfsuite_header(data)
    if not metadata.get("labels") or not metadata.get("model_version"):
        raise EntityArtefactError("metadata lacks labels or model_version")
    model = EntityModel(data=bytes(data), metadata=dict(metadata))
    EntityBackend(model)  # opens the bytes: a truncated file fails here, not at the first call
    return model


def _check_crfsuite_header(data: bytes) -> None:
    """crfsuite opens a model file without checking it (a truncated one crashes the process
    with a segfault at the first tag), so the header is checked here: magic ``lCRF``, the file
    size it records, type ``FOMC``, and section offsets inside the file (crfsuite's
    ``header_t``: 4-byte magic, uint32 size, 4-byte type, then 9 little-endian uint32s:
    version, feature, label and attribute counts, then five offsets). Integrity against
    truncation and mix-ups; ``ModelArtefactStore`` also checks the sha256. A hostile file that
    passes this is still out of scope: artefacts come only from the project's models/ prefix.
    """
    if len(data) < _CRFSUITE_HEADER.size or not data.startswith(_CRFSUITE_MAGIC):
        raise EntityArtefactError("not a crfsuite model file")
    _, size, kind, _version, *_counts, o1, o2, o3, o4, o5 = _CRFSUITE_HEADER.unpack_from(data)
    if size != len(data) or kind != b"FOMC":
        raise EntityArtefactError(
            f"not a complete crfsuite model file ({len(data)} bytes, header says {size})"
        )
    if not all(_CRFSUITE_HEADER.size <= o < size for o in (o1, o2, o3, o4, o5)):
        raise EntityArtefactError("a crfsuite model file with sections outside it")


class EntityBackend:
    """``ModelBackend`` over an ``EntityModel``: one crfsuite tagger, used under a lock (a
    tagger holds the sequence it is tagging)."""

    def __init__(self, model: EntityModel, *, max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES):
        self.model = model
        self.model_type = ModelType.ENTITY_RECOGNIZER.value
        self.mode = None
        self.model_version = model.model_version
        self.max_text_bytes = max_text_bytes
        _check_crfsuite_header(model.data)
        self._tagger = pycrfsuite.Tagger()
        try:
            self._tagger.open_inmemory(model.data)
        except (ValueError, OSError) as exc:
            raise EntityArtefactError(f"crfsuite cannot open the model: {exc}") from None
        self._lock = threading.Lock()

    @property
    def thresholds(self) -> dict[str, Any]:
        return dict(self.model.metadata.get("thresholds") or {})

    def entities(self, text: str) -> list[EntitySpan]:
        tokens = tokenize(text)
        if not tokens:
            return []
        with self._lock:
            self._tagger.set(sequence_features(tokens))
            tags = self._tagger.tag()
            confidences = [self._tagger.marginal(tag, i) for i, tag in enumerate(tags)]
        return spans_of(tokens, tags, confidences)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return [
            Prediction(
                model_type=self.model_type,
                model_version=self.model_version,
                mode=None,
                entities=tuple(self.entities(text)),
            )
            for text in texts
        ]
