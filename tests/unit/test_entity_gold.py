"""The gold entity documents' split that the entity demo and the entity integration test use."""

from __future__ import annotations

import json

import pytest

from textloop_ops import entity_gold


def test_the_manifest_splits_by_distinct_text_into_disjoint_parts():
    documents = entity_gold.gold_documents()
    # 202 manifest lines, 161 distinct texts (some lines repeat a text).
    assert len(documents) == 161
    gold = entity_gold.split(documents, held_out=40, seed=40)
    parts = [{d["text"] for d in part} for part in (gold.held_out, gold.seed, gold.traffic)]
    assert [len(p) for p in parts] == [40, 40, 81]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    # Deterministic: the same documents in the same parts on every call.
    again = entity_gold.split(entity_gold.gold_documents(), held_out=40, seed=40)
    assert [d["text"] for d in again.seed] == [d["text"] for d in gold.seed]
    spans = gold.truth[gold.seed[0]["text"]]
    assert all(set(s) == {"begin_offset", "end_offset", "type"} for s in spans)


def test_the_seed_manifest_holds_the_seed_lines_as_written():
    gold = entity_gold.split(entity_gold.gold_documents(), held_out=40, seed=40)
    lines = entity_gold.manifest_of(gold.seed).splitlines()
    # One line per text: the manifest repeats some texts (one of them 32 times).
    assert sorted(json.loads(line)["source"] for line in lines) == sorted(
        d["text"] for d in gold.seed
    )
    raw = set(entity_gold.NER_MANIFEST.read_text(encoding="utf-8").splitlines())
    assert set(lines) <= raw


def test_a_split_that_leaves_no_traffic_is_refused():
    with pytest.raises(ValueError, match="no traffic"):
        entity_gold.split(entity_gold.gold_documents(), held_out=100, seed=61)
