"""How ``tfidf+embeddings``' weight grid (``embedding_model.WEIGHTS``) was chosen.

Run from the repository root (not part of ``make bench``: ~15 min on an idle 2-core machine once
the embeddings exist, embedding them ~5 min more)::

    .venv/bin/python -m bench.embedding_weight --table build/embeddings.seg --out build
    .venv/bin/python -m bench.embedding_weight --runs ag_news:500:0 --grid 0.5 0.7   # one run

For each run (task, training size or ``all`` for the whole pool, seed of the random sample of
the pool), on the splits of ``bench.data``, and for each weight of a grid wider than
``WEIGHTS``: the mean cross-validated score ``embedding_model.choose_weight`` computes on the
training documents (the function itself, given the grid as its ``weights``), and the score on the
held-out test set of the model trained on all of them with that weight (accuracy for AG News,
micro-F1 with each label at 0.5 for Jigsaw). The word vectoriser and the regression are
``local_model.fit``'s (``word_vectoriser``, ``base_regression``). CV picks from the training
data alone; the test column only says whether its picks track the held-out optimum.

The embeddings come from a segment file (``embedding_cache.segment_bytes``) of every pool and
test text, written by ``bench.local_models.embed_everything`` on the first run (``--table``:
where to keep it). Results add to ``<out>/embedding-weight.json`` run by run (folds depend on the
documents only, so a later ``--grid`` adds columns to earlier runs); the table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

GRID = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 2.0, 4.0)
RUNS = (
    *(f"ag_news:{n}:{s}" for n in (200, 500, 1000) for s in range(3)),
    "ag_news:all:0",
    *(f"jigsaw_toxic:{n}:{s}" for n in (500, 1000) for s in range(2)),
    "jigsaw_toxic:1000:2",
    "jigsaw_toxic:2000:0",
    "jigsaw_toxic:all:0",
)


def measure(task: Any, table: Any, size: str, seed: int, grid: Sequence[float]) -> dict[str, Any]:
    """CV and held-out scores of every weight of ``grid`` for one training sample."""
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.preprocessing import MultiLabelBinarizer
    from textloop.domain import embedding_model, local_model
    from textloop.domain.names import Mode

    pool = len(task.pool_texts)
    if size == "all":
        index = np.arange(pool)
    else:
        index = np.sort(np.random.RandomState(seed).choice(pool, int(size), replace=False))
    texts = [task.pool_texts[i] for i in index]
    labels = [task.pool_labels[i] for i in index]
    test_texts = list(task.test_texts)
    if task.mode == Mode.MULTI_CLASS:
        y, y_test = np.asarray(labels, dtype=object), np.asarray(task.test_labels, dtype=object)
    else:
        binariser = MultiLabelBinarizer(classes=list(task.labels))
        y = binariser.fit_transform([sorted(t) for t in labels])
        y_test = binariser.transform([sorted(t) for t in task.test_labels])
    emb, emb_test = table.matrix(texts), table.matrix(test_texts)
    word, base = local_model.word_vectoriser(len(texts)), local_model.base_regression()

    started = time.process_time()
    with local_model._one_blas_thread():
        chosen, choice = embedding_model.choose_weight(
            texts, y, task.mode, word=word, base=base, embeddings=emb, weights=sorted(grid)
        )
    cv_cpu = time.process_time() - started

    held: dict[str, float] = {}
    fit_cpu: dict[str, float] = {}
    w_vec, c_vec = embedding_model.vectorisers(embedding_model._clone(word))
    with local_model._one_blas_thread(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Label .* is present in all training")
        w_train, c_train = w_vec.fit_transform(texts), c_vec.fit_transform(texts)
        w_test, c_test = w_vec.transform(test_texts), c_vec.transform(test_texts)
        for weight in grid:
            started = time.process_time()
            model = embedding_model.regression(task.mode, embedding_model._clone(base))
            model.fit(embedding_model._stack(w_train, c_train, emb, weight), y)
            fit_cpu[str(weight)] = time.process_time() - started
            x_test = embedding_model._stack(w_test, c_test, emb_test, weight)
            if task.mode == Mode.MULTI_CLASS:
                held[str(weight)] = float(accuracy_score(y_test, model.predict(x_test)))
            else:
                predicted = (model.predict_proba(x_test) >= 0.5).astype(int)
                held[str(weight)] = float(
                    f1_score(y_test, predicted, average="micro", zero_division=0.0)
                )
    return {
        "task": task.name,
        "size": size,
        "seed": seed,
        "n": len(texts),
        "grid": list(grid),
        "cv": choice.get("scores", {}),
        "cv_pick": chosen,
        "cv_documents": choice.get("documents"),
        "cv_cpu_seconds": cv_cpu,
        "test": held,
        "fit_cpu_seconds": fit_cpu,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def table_markdown(results: list[dict[str, Any]]) -> str:
    """One CV row and one test row per run, a column per weight, each row's best in bold."""
    merged: dict[tuple, dict[str, dict[float, float]]] = defaultdict(lambda: {"cv": {}, "test": {}})
    for r in results:
        key = (r["task"], r["size"], r["seed"])
        for what in ("cv", "test"):
            merged[key][what].update({float(w): s for w, s in r[what].items()})
    weights = sorted({w for m in merged.values() for w in m["cv"]})
    lines = [
        "| run | score | " + " | ".join(f"{w:g}" for w in weights) + " |",
        "|---|---|" + "---:|" * len(weights),
    ]
    for (task, size, seed), m in sorted(
        merged.items(), key=lambda kv: (kv[0][0], float(kv[0][1].replace("all", "inf")), kv[0][2])
    ):
        for what in ("cv", "test"):
            scores, best = m[what], max(m[what].values())
            cells = [
                ""
                if w not in scores
                else f"{'**' if scores[w] == best else ''}"
                f"{100 * scores[w]:.1f}{'**' if scores[w] == best else ''}"
                for w in weights
            ]
            lines.append(f"| {task} {size} s{seed} | {what} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from textloop.domain.embedding_cache import EmbeddingTable, read_segment

    from bench.data import TASKS
    from bench.local_models import embed_everything

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=Path("build/embeddings.seg"))
    parser.add_argument("--out", type=Path, default=Path("build"))
    parser.add_argument("--runs", nargs="*", default=list(RUNS), help="task:size:seed")
    parser.add_argument("--grid", type=float, nargs="*", default=list(GRID))
    args = parser.parse_args(argv)
    if not args.table.is_file():
        args.table.parent.mkdir(parents=True, exist_ok=True)
        embed_everything(list(TASKS), args.table)
    digests, vectors = read_segment(args.table.read_bytes())
    table = EmbeddingTable(vectors.shape[1])
    table.add(digests, vectors)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "embedding-weight.json"
    results = json.loads(path.read_text()) if path.is_file() else []
    done = {(r["task"], r["size"], r["seed"], tuple(r["grid"])) for r in results}
    tasks: dict[str, Any] = {}
    for spec in args.runs:
        name, size, seed = spec.split(":")
        if (name, size, int(seed), tuple(args.grid)) in done:
            continue
        task = tasks.setdefault(name, TASKS[name]())
        results.append(measure(task, table, size, int(seed), args.grid))
        path.write_text(json.dumps(results, indent=1), encoding="utf-8")
        print(f"{spec}: CV picks {results[-1]['cv_pick']}", flush=True)
    print(table_markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
