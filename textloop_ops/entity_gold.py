"""The gold entity documents of ``data/aws_service_ner/groundtruth/output.manifest``, split for
the entity demo and the entity integration test.

The manifest has 202 lines but 161 distinct texts (some lines repeat a text); a text must sit in
one part only, so the split is of distinct texts (``text_key``, first line wins). The order is
the sha256 of each text: deterministic, and unrelated to the manifest's order (which follows the
labelling job's). Parts, in that order: ``held_out`` (never sent to the stack: the learning
curve's yardstick), ``seed`` (imported with ``textloop import-dataset``), ``traffic`` (sent
through ``POST /classify``; the reviewer answers its documents from the gold spans).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textloop.domain.datasets.formats import parse_entity_files
from textloop.domain.datasets.ground_truth import read_manifest
from textloop.domain.hashing import text_key

from textloop_ops.data import NER_ANNOTATIONS, NER_DOCUMENTS, NER_MANIFEST, require

MODEL_TYPE = "ENTITY_RECOGNIZER"


@dataclass(frozen=True)
class GoldSplit:
    held_out: list[dict[str, Any]]
    seed: list[dict[str, Any]]
    traffic: list[dict[str, Any]]

    @property
    def truth(self) -> dict[str, list[dict[str, Any]]]:
        """The gold spans of every text (``{begin_offset, end_offset, type}``), by text."""
        return {
            d["text"]: [
                {
                    "begin_offset": e["begin_offset"],
                    "end_offset": e["end_offset"],
                    "type": e["type"],
                }
                for e in d["entities"]
            ]
            for d in (*self.held_out, *self.seed, *self.traffic)
        }


def gold_documents(path: Path = NER_MANIFEST) -> list[dict[str, Any]]:
    """The manifest's documents (``text``, ``entities``), one per distinct text, in sha256
    order. Every line of the shipped manifest is valid; a refused one is an error here."""
    require(path)
    manifest = read_manifest(path.read_text(encoding="utf-8"), name=path.name)
    if manifest.rejected:
        raise ValueError(f"{path}: {manifest.render_rejected()}")
    seen: dict[str, dict[str, Any]] = {}
    for document in manifest.documents:
        seen.setdefault(text_key(document["text"], MODEL_TYPE), document)
    return sorted(seen.values(), key=lambda d: hashlib.sha256(d["text"].encode()).hexdigest())


def split(documents: list[dict[str, Any]], *, held_out: int, seed: int) -> GoldSplit:
    if held_out + seed >= len(documents):
        raise ValueError(f"{held_out} held out + {seed} seed leave no traffic of {len(documents)}")
    return GoldSplit(
        held_out=documents[:held_out],
        seed=documents[held_out : held_out + seed],
        traffic=documents[held_out + seed :],
    )


def manifest_of(documents: list[dict[str, Any]], path: Path = NER_MANIFEST) -> str:
    """The manifest lines of ``documents``, as the Ground Truth job wrote them (not re-encoded):
    the first line of each text, as ``gold_documents`` keeps it (one text of the manifest has 32
    lines; imported whole, it would weigh 32 times in a seed of 25)."""
    wanted = {d["text"] for d in documents}
    lines: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        source = json.loads(line).get("source") if line.strip() else None
        if source in wanted:
            lines.setdefault(source, line)
    return "\n".join(lines.values()) + "\n"


def comprehend_gold_documents() -> list[dict[str, Any]]:
    """The annotated lines of ``comprehend/train.csv`` (``key``, ``text``, ``entities``), one per
    text (``text_key``; first wins): the file repeats some annotated texts, and a text must not
    be in training and test at once. The entity benchmark and the model's unit tests read it."""
    require(NER_DOCUMENTS, NER_ANNOTATIONS)
    documents = parse_entity_files(
        NER_DOCUMENTS.read_text(encoding="utf-8"),
        NER_ANNOTATIONS.read_text(encoding="utf-8"),
        "train.csv",
    )
    seen: set[str] = set()
    gold = []
    for document in documents:
        if document["entities"] and document["key"] not in seen:
            seen.add(document["key"])
            gold.append(document)
    return gold
