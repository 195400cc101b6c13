"""Part 3: batch-feedback parsing and validation rate, and peak memory, per file format.

Files are generated from AG News texts (cycled: the data set has 6,161 rows) in the three
upload formats: JSON Lines, CSV (header ``text,corrected_labels``) and the seed's JSON
(``{"classifier", "sentences"}``). Each file is parsed by
``textloop.domain.feedback_files.process_batch`` in a child process, exactly as the
batch_feedback handler calls it, except that the output chunks go to a null sink instead of
S3. The parent reads the child's peak RSS from ``os.wait4`` (the kernel's ru_maxrss), so the
figure covers the interpreter, the imports and the parse; a baseline child that only imports
``textloop.domain.feedback_files`` is measured the same way.

    .venv/bin/python -m bench.perf.batch_parsing [--jsonl-lines 1000000] [--csv-lines N]
        [--json-items N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.perf.common import REPO, ag_news_rows, commit, machine, save

PYTHON = sys.executable


# --------------------------------------------------------------------------- files


def _rows(n: int):
    """n (label, text) pairs cycling through AG News. Every 4th line asks for review (no
    label), as uploads mix corrections and review requests."""
    data = ag_news_rows()
    for i in range(n):
        label, text = data[i % len(data)]
        yield i, (None if i % 4 == 3 else label), text


def write_jsonl(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for _, label, text in _rows(n):
            line = {"text": text} if label is None else {"text": text, "corrected_labels": [label]}
            out.write(json.dumps(line, ensure_ascii=False))
            out.write("\n")


def write_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["text", "corrected_labels"])
        for _, label, text in _rows(n):
            writer.writerow([text, label or ""])


def write_seed_json(path: Path, n: int) -> None:
    """The seed format: bare strings (texts for review) and objects (corrections), streamed out
    so generating a big file does not itself need the memory being measured."""
    with path.open("w", encoding="utf-8") as out:
        out.write('{"classifier": "DOCUMENT_CLASSIFIER", "sentences": [\n')
        for i, label, text in _rows(n):
            item = text if label is None else {"text": text, "corrected_labels": [label]}
            out.write(("," if i else "") + json.dumps(item, ensure_ascii=False) + "\n")
        out.write("]}\n")


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "json": write_seed_json}


# --------------------------------------------------------------------------- child


def child(path: str, fmt: str) -> None:
    """Runs in the measured process: parse ``path`` as the handler would and print counts."""
    from datetime import UTC, datetime

    from textloop.domain import feedback_files, layout

    now = datetime.now(UTC)
    context = feedback_files.BatchContext(
        bucket="textloop-bench-data-lake",
        key=layout.feedback_upload_key("DOCUMENT_CLASSIFIER", "bench", f"upload.{fmt}"),
        model_type="DOCUMENT_CLASSIFIER",
        mode="MULTI_CLASS",
        submitter={"application_id": "bench"},
        observed_at=now,
        created_at=now,
        etag='"bench"',
    )
    sink = {"chunks": 0, "bytes": 0}

    def null_write(key: str, body: bytes) -> None:
        # Counted, then dropped: what S3 would keep must not stay in this process's memory.
        sink["chunks"] += 1
        sink["bytes"] += len(body)

    start = time.perf_counter()
    cpu0 = time.process_time()
    with open(path, "rb") as stream:
        summary = feedback_files.process_batch(stream, context, null_write)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    print(
        json.dumps(
            {
                "items": summary["items_total"],
                "accepted": summary["accepted"],
                "rejected": summary["rejected"],
                "status": summary["status"],
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "chunks": sink["chunks"],
                "bytes_out": sink["bytes"],
            }
        )
    )


def baseline_child() -> None:
    from textloop.domain import feedback_files  # noqa: F401 - the import is what is measured

    print(json.dumps({"items": 0}))


def run_child(args: list[str]) -> tuple[dict[str, Any], float, float]:
    """(child's JSON output, peak RSS in MiB, wall seconds) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [PYTHON, "-m", "bench.perf.batch_parsing", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read()
    proc.stdout.close()
    # wait4 gives this one child's rusage (RUSAGE_CHILDREN would be the max over all of them).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} exited with {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024, wall


# --------------------------------------------------------------------------- parent


def measure(sizes: dict[str, int], workdir: Path | None = None) -> dict[str, Any]:
    own_dir = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="textloop-bench-batch-")) if own_dir else workdir
    directory.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"formats": {}, "machine_before": machine()}
    try:
        _, base_rss, base_wall = run_child(["--baseline"])
        results["baseline"] = {"peak_rss_mib": base_rss, "wall_seconds": base_wall}
        for fmt, n in sizes.items():
            if n <= 0:
                continue
            path = directory / f"upload.{fmt}"
            t0 = time.perf_counter()
            WRITERS[fmt](path, n)
            gen_s = time.perf_counter() - t0
            counts, rss, wall = run_child(["--child", str(path), fmt])
            results["formats"][fmt] = {
                "lines": n,
                "file_mib": path.stat().st_size / 2**20,
                "generate_seconds": gen_s,
                "lines_per_second": counts["items"] / counts["seconds"],
                "mib_per_second": path.stat().st_size / 2**20 / counts["seconds"],
                "peak_rss_mib": rss,
                "child_wall_seconds": wall,
                **counts,
            }
            print(f"{fmt}: {results['formats'][fmt]}", file=sys.stderr)
            path.unlink()
    finally:
        if own_dir:
            for leftover in directory.iterdir():
                leftover.unlink()
            directory.rmdir()
    results["machine_after"] = machine()
    return results


def table(result: dict[str, Any]) -> str:
    names = {"jsonl": "JSON Lines", "csv": "CSV", "json": "seed JSON (ijson)"}
    lines = [
        "| format | lines | file MiB | accepted / rejected | parse s (wall) | lines/s (wall) "
        "| lines per CPU-second | MiB/s (wall) | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for fmt, r in result["formats"].items():
        lines.append(
            f"| {names[fmt]} | {r['lines']:,} | {r['file_mib']:.0f} | "
            f"{r['accepted']:,} / {r['rejected']:,} | {r['seconds']:.1f} | "
            f"{r['lines_per_second']:,.0f} | {r['items'] / r['cpu_seconds']:,.0f} | "
            f"{r['mib_per_second']:.1f} | {r['peak_rss_mib']:.0f} |"
        )
    lines.append(
        f"| (baseline: interpreter + `import textloop.domain.feedback_files`) | | | | | | | | "
        f"{result['baseline']['peak_rss_mib']:.0f} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jsonl-lines", type=int, default=1_000_000)
    parser.add_argument("--csv-lines", type=int, default=1_000_000)
    parser.add_argument("--json-items", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs=2, metavar=("PATH", "FORMAT"), help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return None
    if args.baseline:
        baseline_child()
        return None
    sizes = {"jsonl": args.jsonl_lines, "csv": args.csv_lines, "json": args.json_items}
    measured = commit()
    result = measure(sizes, args.workdir)
    result["command"] = "python -m bench.perf.batch_parsing " + " ".join(
        f"--{name} {value}"
        for name, value in (
            ("jsonl-lines", args.jsonl_lines),
            ("csv-lines", args.csv_lines),
            ("json-items", args.json_items),
        )
    )
    result["commit"] = measured
    save("batch_parsing", result)
    print(table(result))
    return result


if __name__ == "__main__":
    main()
