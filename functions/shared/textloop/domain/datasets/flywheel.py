"""What a Comprehend flywheel already holds, and what one iteration adds to it.

A flywheel trains each new model version on every data set it holds, so an iteration gives it
only the documents it has not been given before: the new annotations of the pool (new training
documents) and the new test items the build split off (new test documents). Giving it the whole
pool again would count every earlier document once more per iteration.

The ledger (``layout.flywheel_ledger_key``) is the lake's record of what textloop gave the
flywheel: per document key (``hashing.text_key``), the hash of its content, its part (train or
test) and the model version whose iteration added it; per iteration, the data sets it created.
An iteration whose data sets the flywheel does not hold (its Train failed before CreateDataset,
or Comprehend failed the data set) is dropped from the ledger before the next increment is
worked out (``reconciled``), so its documents are offered again.

A document already given whose label a reviewer has since changed is not given again: the
flywheel would then hold the same text twice with two answers. Its key is reported as
``relabelled`` in the iteration's manifest and audit record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from textloop.domain.datasets.split import document_content
from textloop.domain.hashing import content_hash, text_key

LEDGER_SCHEMA_VERSION = 1
PARTS = ("train", "test")


@dataclass(frozen=True)
class Increment:
    """The documents one iteration gives the flywheel, by part, and the keys it held back."""

    train: list[dict[str, Any]]
    test: list[dict[str, Any]]
    relabelled: list[str]

    def documents(self, part: str) -> list[dict[str, Any]]:
        return self.train if part == "train" else self.test


def empty_ledger(model_type: str) -> dict[str, Any]:
    return {
        "schema_version": LEDGER_SCHEMA_VERSION,
        "model_type": model_type,
        "flywheel_arn": None,
        "documents": {},
        "iterations": {},
    }


def _content(document: Mapping[str, Any], model_type: str) -> str:
    keyed = {**document, "key": text_key(document["text"], model_type)}
    return content_hash(document_content(keyed))


def increment(
    model_type: str,
    parts: Mapping[str, Iterable[Mapping[str, Any]]],
    ledger: Mapping[str, Any],
) -> Increment:
    """The documents of ``parts`` (``{"train": [...], "test": [...]}``, a built data set's) that
    the ledger does not hold, each once, in the data set's order."""
    held: Mapping[str, Any] = ledger.get("documents") or {}
    seen: set[str] = set()
    out: dict[str, list[dict[str, Any]]] = {part: [] for part in PARTS}
    relabelled: list[str] = []
    for part in PARTS:
        for document in parts.get(part, ()):
            key = text_key(document["text"], model_type)
            if key in seen:
                continue  # an oversampled copy: the flywheel needs it once
            seen.add(key)
            entry = held.get(key)
            if entry is None:
                out[part].append(dict(document))
            elif entry["content"] != _content(document, model_type):
                relabelled.append(key)
    return Increment(train=out["train"], test=out["test"], relabelled=sorted(relabelled))


def manifest_entries(
    model_type: str, inc: Increment, model_version: str
) -> dict[str, dict[str, Any]]:
    """Ledger entries of an increment's documents: ``{key: {content, part, model_version}}``."""
    return {
        text_key(document["text"], model_type): {
            "content": _content(document, model_type),
            "part": part,
            "model_version": model_version,
        }
        for part in PARTS
        for document in inc.documents(part)
    }


def with_iteration(
    ledger: Mapping[str, Any],
    *,
    flywheel_arn: str,
    model_version: str,
    entries: Mapping[str, Mapping[str, Any]],
    dataset_names: Iterable[str],
    manifest_key: str,
) -> dict[str, Any]:
    """The ledger with one iteration's documents and data sets added. Adding the same iteration
    again gives the same ledger (a retried Train step)."""
    out = {
        **ledger,
        "flywheel_arn": flywheel_arn,
        "documents": {**(ledger.get("documents") or {}), **entries},
        "iterations": {
            **(ledger.get("iterations") or {}),
            model_version: {"datasets": sorted(dataset_names), "manifest_key": manifest_key},
        },
    }
    return out


def reconciled(ledger: Mapping[str, Any], held_datasets: Iterable[str]) -> dict[str, Any]:
    """The ledger without the iterations whose data sets the flywheel does not hold
    (``held_datasets``: the names ListDatasets answers, FAILED ones left out) and without their
    documents."""
    held = set(held_datasets)
    iterations = dict(ledger.get("iterations") or {})
    gone = {v for v, it in iterations.items() if not set(it.get("datasets") or ()) <= held}
    if not gone:
        return dict(ledger)
    return {
        **ledger,
        "documents": {
            key: entry
            for key, entry in (ledger.get("documents") or {}).items()
            if entry["model_version"] not in gone
        },
        "iterations": {v: it for v, it in iterations.items() if v not in gone},
    }
