"""Scale: what one iteration's Prepare + SelectForReview costs as the lake grows.

For each lake size (10^4 ... 10^7 implicit feedback records) a child process starts an
in-process moto (``mock_aws``) with the iteration's resources (data lake bucket, registry table,
SSM active-model pointer), trains the bootstrap model on AG News (as the integration tests do:
the first ``SEED_ROWS`` rows) and makes it the active model, generates the lake, then adds
``--new`` NEW records in newer partitions and runs ``textloop.steps.prepare.run`` and
``textloop.steps.select_for_review.run`` with a ``Stack`` over the mocked AWS, exactly as the
state machine calls them. It measures the two steps' wall time, the peak RSS they add (the
kernel's high-water mark, reset through ``/proc/self/clear_refs`` just before the steps, minus
the RSS at that moment: the lake moto holds is not counted) and every S3 request they make, by
operation (a botocore ``before-call.s3`` hook on boto3's default session, which the steps'
clients are built from).

The records are real ``FeedbackRecord``s: one implicit, low-confidence record per AG News text
is built as ``inference.classify`` builds it (``thresholds.route``, then
``feedback.build_implicit_record``) with the bootstrap model (a threshold of 1 routes every
prediction), and its canonical JSON line becomes a template in which only the text's copy
number, the timestamps and the id (the content hash ``feedback.record_id``, recomputed for every
copy) vary. Without a copy number, cycled texts would be the same records (ids are content
hashes). Sample lines are checked with ``feedback.validate_record`` (schema and id).

Two layouts:

* ``objects``: what main's classify path writes, one object per record at
  ``layout.feedback_record_key``; today's Prepare lists and reads all of them ("before").
* ``files``: the buffered lake, gzipped JSON Lines files of ``--file-records`` records at
  ``layout.feedback_file_key`` (name: sha256 of the uncompressed bytes, lines sorted by id, as
  the buffer names its batches), ``--records-per-hour`` records per partition hour ("after").

Generation writes straight into moto's S3 backend (not through the API: that would measure
moto, and the hook counts only the steps' requests).

    .venv/bin/python -m bench.scale [--sizes 10000,100000,1000000,10000000] [--new 100000]
        [--layout files|objects] [--label stream] [--report-only]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.perf.common import REPO, ag_news_rows, commit, machine

PYTHON = sys.executable
MODEL_TYPE = "DOCUMENT_CLASSIFIER"
SEED_ROWS = 400  # the bootstrap model's training slice, as bench.perf.localstack_stack
BUCKET = "textloop-bench-lake"
TABLE = "textloop-bench-registry"
PREFIX = "/textloop/bench"
RESULTS = REPO / "bench" / "perf" / "results" / "scale"
# The newest record of the lake is one day before "now"; the new records follow it.
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SEQ = "QQSEQQ"  # stands for a copy's number in a template; no AG News text contains it


# --------------------------------------------------------------------------- records


class Templates:
    """One line template (and one id template) per AG News text: a record is one ``%`` format
    and one sha256, which is what makes 10^7 records take minutes, not hours."""

    def __init__(self, model: Any):
        from textloop.domain import feedback
        from textloop.domain.local_model import LocalBackend
        from textloop.domain.thresholds import resolve_thresholds, route

        backend = LocalBackend(model)
        # A threshold of 1 routes every prediction: each text becomes an implicit record.
        thresholds = resolve_thresholds(backend.thresholds, {"default": 1}, model_type=MODEL_TYPE)
        self.lines: list[str] = []
        self.ids: list[tuple[bytes, bytes]] = []
        stamp = datetime(2000, 1, 1, tzinfo=UTC)
        stamp_text = "2000-01-01T00:00:00.000Z"
        texts = [f"{text} #{SEQ}" for _, text in ag_news_rows()]
        # What inference.classify does per request, for all texts in one predict call.
        for text, prediction in zip(texts, backend.predict(texts), strict=True):
            record = feedback.build_implicit_record(
                text=text,
                prediction=prediction,
                decision=route(prediction, thresholds),
                thresholds=thresholds,
                observed_at=stamp,
            )
            line = record.to_json().decode("utf-8")
            assert line.count(record.id) == 1 and line.count(SEQ) == 1, line
            assert line.count(stamp_text) == 2, line
            self.lines.append(
                line.replace("%", "%%")
                .replace(record.id, "%(id)s")
                .replace(stamp_text, "%(ts)s")
                .replace(SEQ, "%(seq)s")
            )
            self.ids.append(_id_template(feedback, record.to_dict()))
        self.check(feedback)

    def line(self, n: int, ts: str) -> tuple[str, str]:
        """(id, JSON line) of record number ``n`` (AG News text ``n`` mod the data set)."""
        i = n % len(self.lines)
        seq = str(n)
        head, tail = self.ids[i]
        record_id = hashlib.sha256(head + seq.encode() + tail).hexdigest()
        return record_id, self.lines[i] % {"id": record_id, "ts": ts, "seq": seq}

    def check(self, feedback: Any) -> None:
        for n in (0, 1, 7, 6161, 123_457, 9_999_999):
            record_id, line = self.line(n, "2026-11-30T10:11:12.000Z")
            record = feedback.FeedbackRecord.from_json(line)
            errors = feedback.validate_record(record.to_dict())
            assert not errors and record.id == record_id, (n, errors)
            assert record.to_json().decode() == line, (n, line)


def _id_template(feedback: Any, record: dict[str, Any]) -> tuple[bytes, bytes]:
    """The canonical bytes ``feedback.record_id`` hashes, split around the copy number (only the
    text varies among the copies of one template; the check above proves the split right)."""
    from textloop.domain.hashing import canonical_json

    canonical = {
        "v": feedback.ID_VERSION,
        "text": record["text"],
        "model_type": record["model_type"],
        "model_version": record.get("model_version"),
        "predicted": feedback._predicted_key(record),
        "reason": record["reason"],
        "corrected": feedback._corrected_key(record),
        "submitter": None,
    }
    head, tail = canonical_json(canonical).split(SEQ.encode())
    return head, tail


# --------------------------------------------------------------------------- the lake


class LakeWriter:
    """Puts generated objects straight into moto's S3 backend."""

    def __init__(self) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        self.backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        self.objects = 0
        self.bytes = 0
        self.file_keys: list[str] = []

    def put(self, key: str, body: bytes) -> None:
        self.backend.put_object(BUCKET, key, body)
        if key.endswith(".jsonl.gz"):
            self.file_keys.append(key)
        self.objects += 1
        self.bytes += len(body)


def hours_back(end: datetime, count: int) -> list[datetime]:
    return [end - timedelta(hours=count - 1 - i) for i in range(count)]


def write_records(
    writer: LakeWriter,
    templates: Templates,
    first: int,
    count: int,
    end_hour: datetime,
    args: argparse.Namespace,
    gzip_level: int,
) -> dict[str, Any]:
    """Records ``first .. first+count-1``, the last of them in the hour ``end_hour``."""
    from textloop.domain import layout

    per_hour = args.records_per_hour
    hours = hours_back(end_hour, max(1, -(-count // per_hour)))
    t0 = time.perf_counter()
    n = first
    for hour in hours:
        in_hour = min(per_hour, first + count - n)
        hour_text = hour.strftime("%Y-%m-%dT%H")
        # A record a second, round the hour: distinct timestamps, all inside the partition.
        stamps = [f"{hour_text}:{s // 60:02d}:{s % 60:02d}.000Z" for s in range(3600)]
        done = 0
        while done < in_hour:
            size = (
                in_hour - done
                if args.layout == "objects"
                else min(args.file_records, in_hour - done)
            )
            made = [templates.line(n + j, stamps[(n + j) % 3600]) for j in range(size)]
            if args.layout == "objects":
                for (record_id, line), j in zip(made, range(size), strict=True):
                    ts = stamps[(n + j) % 3600]
                    writer.put(
                        layout.feedback_record_key(record_id, templates_version(line), ts),
                        line.encode("utf-8"),
                    )
            else:
                made.sort()
                body = "".join(line for _, line in made).encode("utf-8")
                name = hashlib.sha256(body).hexdigest()[:32]
                writer.put(
                    layout.feedback_file_key(MODEL_TYPE, hour_text, name),
                    gzip.compress(body, compresslevel=gzip_level, mtime=0),
                )
            n += size
            done += size
    return {
        "records": count,
        "hours": len(hours),
        "first_hour": hours[0].strftime("%Y-%m-%dT%H"),
        "last_hour": hours[-1].strftime("%Y-%m-%dT%H"),
        "seconds": time.perf_counter() - t0,
    }


_VERSION_KEY = '"model_version":"'


def templates_version(line: str) -> str | None:
    start = line.find(_VERSION_KEY)
    if start < 0:
        return None
    start += len(_VERSION_KEY)
    return line[start : line.index('"', start)]


# --------------------------------------------------------------------------- resources


def environment() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DATA_LAKE_BUCKET": BUCKET,
        "REGISTRY_TABLE": TABLE,
        "ACTIVE_MODEL_PARAMETER_PREFIX": PREFIX,
        "STACK_NAME": "textloop-bench",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "textloop-bench",
    }


def deploy(rows: list[tuple[str, str]]) -> Any:
    """Bucket, registry table, seed data, the bootstrap model as the active model; returns it."""
    import boto3
    from textloop.adapters.active_model import (
        ActiveModelPointer,
        ActiveModelPointerStore,
        pointer_parameter_name,
    )
    from textloop.adapters.artefacts import ModelArtefactStore
    from textloop.domain import layout, local_model

    from tests.support.stack import create_registry_table

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    create_registry_table(TABLE)
    seed = rows[:SEED_ROWS]
    seed_csv = "".join(f'{label},"{text.replace(chr(34), chr(34) * 2)}"\n' for label, text in seed)
    s3.put_object(Bucket=BUCKET, Key=layout.seed_key(MODEL_TYPE), Body=seed_csv.encode())
    model = local_model.fit(
        [t for _, t in seed], [lb for lb, _ in seed], "MULTI_CLASS", model_version="bench-seed-1"
    )
    uri = ModelArtefactStore(s3, BUCKET).put(
        model.model_version, local_model.save(model), model.metadata
    )
    ActiveModelPointerStore(boto3.client("ssm"), pointer_parameter_name(PREFIX, MODEL_TYPE)).put(
        ActiveModelPointer(
            model_version=model.model_version,
            backend="local",
            model_type=MODEL_TYPE,
            mode="MULTI_CLASS",
            artefact_uri=uri,
        )
    )
    return model


# --------------------------------------------------------------------------- measuring


class S3Requests:
    """S3 requests by operation, from botocore's ``before-call`` event of every client of boto3's
    default session (the steps' ``Clients`` build theirs there)."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()
        self.on = False
        # CPU time spent inside S3 calls (botocore and moto's in-process S3), summed over the
        # threads that made them: how much of the steps' time is the emulator's.
        self.cpu_seconds = 0.0
        self._started = threading.local()
        self._lock = threading.Lock()

    def __call__(self, model: Any = None, **_: Any) -> None:
        if self.on and model is not None:
            self.by_operation[model.name] += 1
        self._started.at = time.thread_time()

    def after(self, **_: Any) -> None:
        started = getattr(self._started, "at", None)
        if self.on and started is not None:
            with self._lock:
                self.cpu_seconds += time.thread_time() - started
        self._started.at = None


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets the VmHWM high-water mark (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


def child(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.update(environment())
    from moto import mock_aws

    with mock_aws():
        import boto3

        boto3.setup_default_session()
        counter = S3Requests()
        boto3.DEFAULT_SESSION.events.register("before-call.s3", counter)
        boto3.DEFAULT_SESSION.events.register("after-call.s3", counter.after)
        rows = ag_news_rows()
        t0 = time.perf_counter()
        model = deploy(rows)
        templates = Templates(model)
        setup_s = time.perf_counter() - t0
        writer = LakeWriter()
        lake_end = NOW - timedelta(days=1)
        old_level = args.gzip_level if args.old_gzip_level is None else args.old_gzip_level
        old = write_records(writer, templates, 0, args.size, lake_end, args, old_level)
        old_files = list(writer.file_keys)
        # The previous iteration started in the hour after the old lake's last; the new records
        # land in the hours after that one.
        new_hours = max(1, -(-args.new // args.records_per_hour))
        new = write_records(
            writer,
            templates,
            args.size,
            args.new,
            lake_end + timedelta(hours=1 + new_hours),
            args,
            args.gzip_level,
        )
        primed = prime_previous_iteration(args, old, old_files, templates)
        # The iteration starts in the hour after the newest record's.
        started = datetime.strptime(new["last_hour"], "%Y-%m-%dT%H").replace(tzinfo=UTC)
        started += timedelta(hours=1, minutes=5)
        return measure_steps(args, counter, writer, old, new, primed, setup_s, started)


def prime_previous_iteration(
    args: argparse.Namespace, old: dict[str, Any], old_files: list[str], templates: Templates
) -> dict[str, Any]:
    """ "After" only: what the previous decided iteration, which read the whole old lake, left
    behind (part "incremental": ``domain.intake``): the watermark at the hour it started in (the
    hour after the old lake's last), naming the files it read within the lateness window, and
    its carry-over (at most ``carry_over_limit`` candidates of the old lake's last records,
    chosen by ``intake.carry_over``). Written through the lake adapter, as Record writes them."""
    if args.layout != "files":
        return {}
    import boto3
    from textloop.adapters.lake import DataLake
    from textloop.domain import intake, layout
    from textloop.domain.feedback import FeedbackRecord
    from textloop.domain.iteration import IterationConfig

    config = IterationConfig().overridden(json.loads(args.config) or None, source="bench")
    start = layout.hour_shifted(old["last_hour"], 1)
    plan = intake.read_plan(None, start, config.intake_lateness_hours)
    watermark = intake.next_watermark(plan, None, old_files)
    lake = DataLake(boto3.client("s3"), BUCKET)
    lake.put_json(layout.watermark_key(MODEL_TYPE), watermark.to_dict())
    last = min(args.size, 2 * config.carry_over_limit)
    stamp = f"{old['last_hour']}:59:59.000Z"
    unsettled = [
        FeedbackRecord.from_json(templates.line(n, stamp)[1])
        for n in range(args.size - last, args.size)
    ]
    kept = intake.carry_over(
        unsettled,
        now=f"{start}:00:00.000Z",
        first_seen={},
        limit=config.carry_over_limit,
        max_age_days=config.carry_over_max_age_days,
        strategy=config.selection_strategy,
        mode="MULTI_CLASS",
    )
    lake.put_bytes(
        layout.carry_over_key(MODEL_TYPE),
        intake.encode_carry_over(kept.kept, kept.first_seen),
        "application/x-ndjson",
    )
    return {
        "watermark_hour": watermark.hour,
        "watermark_files": len(watermark.read),
        "carry_over": len(kept.kept),
    }


def measure_steps(
    args: argparse.Namespace,
    counter: S3Requests,
    writer: LakeWriter,
    old: dict[str, Any],
    new: dict[str, Any],
    primed: dict[str, Any],
    setup_s: float,
    started: datetime,
) -> dict[str, Any]:
    import gc

    from textloop.adapters.stack import Stack
    from textloop.steps import prepare, select_for_review

    ctx = Stack()
    iteration_id = f"bench-{args.size}"
    event = {
        "input": {
            "model_type": MODEL_TYPE,
            "config": {"min_new_items": 1, **json.loads(args.config)},
        },
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:bench:{iteration_id}",
        "iteration_id": iteration_id,
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    gc.collect()
    reset_peak_rss()
    rss0 = _status("VmRSS")
    counter.on = True
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    iteration = prepare.run(ctx, event)
    t1 = time.perf_counter()
    prepare_cpu = time.process_time() - cpu0
    prepare_s3_cpu = counter.cpu_seconds
    prepare_requests = dict(counter.by_operation)
    selected = select_for_review.run(ctx, {"iteration": iteration})
    t2 = time.perf_counter()
    cpu = time.process_time() - cpu0
    counter.on = False
    peak = _status("VmHWM")
    select_requests = dict(counter.by_operation - Counter(prepare_requests))
    return {
        "size": args.size,
        "new": args.new,
        "layout": args.layout,
        "label": args.label,
        "lake": {
            "objects": writer.objects,
            "stored_mib": writer.bytes / 2**20,
            "old": old,
            "old_gzip_level": args.gzip_level
            if args.old_gzip_level is None
            else args.old_gzip_level,
            "gzip_level": args.gzip_level,
            "new": new,
        },
        "primed": primed,
        "setup_seconds": setup_s,
        "prepare_seconds": t1 - t0,
        "select_seconds": t2 - t1,
        "wall_seconds": t2 - t0,
        "cpu_seconds": cpu,
        "s3_cpu_seconds": counter.cpu_seconds,
        "prepare_cpu_seconds": prepare_cpu,
        "prepare_s3_cpu_seconds": prepare_s3_cpu,
        "rss_before_mib": rss0 / 2**20,
        "peak_rss_mib": peak / 2**20,
        "peak_added_mib": (peak - rss0) / 2**20,
        "s3_requests": dict(counter.by_operation),
        "s3_requests_total": sum(counter.by_operation.values()),
        "prepare_s3_requests": prepare_requests,
        "select_s3_requests": select_requests,
        "new_items": iteration["new_items"],
        "counts": selected["counts"],
    }


def run_child(args: argparse.Namespace, size: int, new: int) -> dict[str, Any]:
    cmd = [
        PYTHON,
        "-m",
        "bench.scale",
        "--child",
        "--size",
        str(size),
        "--new",
        str(new),
        "--layout",
        args.layout,
        "--label",
        args.label,
        "--file-records",
        str(args.file_records),
        "--records-per-hour",
        str(args.records_per_hour),
        "--gzip-level",
        str(args.gzip_level),
        *([] if args.old_gzip_level is None else ["--old-gzip-level", str(args.old_gzip_level)]),
        "--config",
        args.config,
    ]
    start = time.perf_counter()
    proc = subprocess.run(  # noqa: S603 - our own interpreter and module
        cmd, cwd=REPO, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["child_wall_seconds"] = time.perf_counter() - start
    result["command"] = " ".join(["python", *cmd[1:]])
    result["commit"] = commit()
    return result


# --------------------------------------------------------------------------- results


def result_path(label: str, size: int, new: int) -> Path:
    return RESULTS / f"{label}-{size}-new{new}.json"


def load_results() -> list[dict[str, Any]]:
    if not RESULTS.exists():
        return []
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]


# --------------------------------------------------------------------------- report


def _fmt_requests(requests: dict[str, int]) -> str:
    return ", ".join(f"{op} {n:,}" for op, n in sorted(requests.items())) or "none"


def scale_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| code / layout | commit | load | lake records | new | S3 objects | Prepare s | Select s "
        "| Prepare + Select s | CPU s | peak RSS added MiB | S3 requests | by operation | "
        "candidates read |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r["label"], r["new"], r["size"])):
        lines.append(
            f"| {r['label']} / {r['layout']} | {commit_of(r)} | {_load(r)} | "
            f"{r['size']:,} | {r['new']:,} | "
            f"{r['lake']['objects']:,} | {r['prepare_seconds']:.1f} | {r['select_seconds']:.1f} | "
            f"**{r['wall_seconds']:.1f}** | {r['cpu_seconds']:.1f} | {r['peak_added_mib']:.0f} | "
            f"{r['s3_requests_total']:,} | {_fmt_requests(r['s3_requests'])} | "
            f"{r['new_items'].get('count', r['new_items']):,} |"
        )
    return lines


# Runs from before the benchmark recorded its commit, by the report that published them.
EARLIER_COMMITS = {"before": "7ca7e2a", "after": "cd019fa"}


def commit_of(result: dict[str, Any]) -> str:
    if result.get("commit"):
        return result["commit"]
    return f"{EARLIER_COMMITS.get(result['label'], '?')}*"


def _load(result: dict[str, Any]) -> str:
    loads = (result.get("machine") or {}).get("loadavg")
    return f"{loads[0]:.1f}" if loads else "n/a"


def _s3_cpu(result: dict[str, Any]) -> str:
    if "s3_cpu_seconds" not in result:
        return "not measured"
    return (
        f"{result['s3_cpu_seconds']:.1f} ({result['s3_cpu_seconds'] / result['cpu_seconds']:.0%})"
    )


def _ratio(value: float, base: float) -> str:
    return f"{value / base - 1:+.0%}" if base else "n/a"


def flatness(results: list[dict[str, Any]], label: str, new: int) -> list[str]:
    rows = sorted(
        (r for r in results if r["label"] == label and r["new"] == new), key=lambda r: r["size"]
    )
    if len(rows) < 2:
        return []
    base = rows[0]
    out = [
        f"Flatness of `{label}` ({new:,} new records), each lake against the "
        f"{base['size']:,}-record one (target: within 20 %):",
        "",
        "| lake records | wall time | CPU time | peak RSS added | S3 requests |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['size']:,} | {_ratio(r['wall_seconds'], base['wall_seconds'])} | "
            f"{_ratio(r['cpu_seconds'], base['cpu_seconds'])} | "
            f"{_ratio(r['peak_added_mib'], base['peak_added_mib'])} | "
            f"{_ratio(r['s3_requests_total'], base['s3_requests_total'])} |"
        )
    return [*out, ""]


def extrapolated(results: list[dict[str, Any]], label: str = "before") -> list[str]:
    """The lake sizes ``label`` was not run at, by a straight line through its two largest runs
    in the number of objects (today's Prepare GETs every object once; Select re-scores the new
    records only, a constant here)."""
    rows = sorted((r for r in results if r["label"] == label), key=lambda r: r["size"])
    if len(rows) < 2:
        return []
    a, b = rows[-2], rows[-1]
    span = b["lake"]["objects"] - a["lake"]["objects"]
    out = [
        f"`{label}` at the sizes it was not run at: **extrapolated**, not measured (a straight "
        f"line through the {a['size']:,} and {b['size']:,} runs, in the number of objects: "
        "every object is one GET):",
        "",
        "| lake records | objects | Prepare + Select s (extrapolated) | CPU s (extrapolated) "
        "| S3 requests (extrapolated) |",
        "|---|---|---|---|---|",
    ]
    for size in (10**6, 10**7):
        if size <= b["size"]:
            continue
        objects = size + b["new"]
        step = (objects - a["lake"]["objects"]) / span
        wall = a["wall_seconds"] + step * (b["wall_seconds"] - a["wall_seconds"])
        cpu = a["cpu_seconds"] + step * (b["cpu_seconds"] - a["cpu_seconds"])
        requests = a["s3_requests_total"] + step * (b["s3_requests_total"] - a["s3_requests_total"])
        out.append(
            f"| {size:,} | {objects:,} | ~{wall:,.0f} (~{wall / 3600:.1f} h) | ~{cpu:,.0f} | "
            f"~{requests:,.0f} |"
        )
    return [*out, ""]


def million_section(results: list[dict[str, Any]]) -> list[str]:
    rows = [r for r in results if r["new"] >= 10**6]
    if not rows:
        return []
    out = [
        "## 10^6 new records in one iteration (target: 3 minutes and 3 GB)",
        "",
        "| code | commit | load | lake records | new | Prepare s | Select s | wall s | CPU s | "
        "CPU in S3 calls (moto) s | peak RSS added MiB "
        "| peak RSS of the process MiB (moto's lake included) | S3 requests | within target |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fits = r["wall_seconds"] <= 180 and r["peak_added_mib"] <= 3 * 1024
        cpu_fits = r["cpu_seconds"] <= 180 and r["peak_added_mib"] <= 3 * 1024
        verdict = "yes" if fits else ("CPU time yes, wall no" if cpu_fits else "no")
        out.append(
            f"| {r['label']} | {commit_of(r)} | {_load(r)} | {r['size']:,} | {r['new']:,} | "
            f"{r['prepare_seconds']:.0f} | "
            f"{r['select_seconds']:.0f} | {r['wall_seconds']:.0f} | {r['cpu_seconds']:.0f} | "
            f"{_s3_cpu(r)} | {r['peak_added_mib']:,.0f} | {r['peak_rss_mib']:,.0f} | "
            f"{r['s3_requests_total']:,} ({_fmt_requests(r['s3_requests'])}) | {verdict} |"
        )
    return [*out, ""]


def batch_section() -> list[str]:
    from bench.perf import batch_parsing
    from bench.perf.common import load

    out = [
        "## Batch feedback parsing (target: 50,000 lines/s)",
        "",
        "`textloop.domain.feedback_files.process_batch` in a child process, output chunks to a "
        "null sink (`bench/perf/batch_parsing.py`). Lines/s is wall time, so the machine's "
        "load counts; lines per CPU-second much less so (it still counts the time a loaded "
        "core's other thread takes from this one).",
        "",
    ]
    runs = [
        ("batch_parsing", "after: the fast lane"),
        ("batch_parsing_before", "before: main's code, measured right before the run above"),
        ("batch_parsing_before_idle", "before: main's code on an idle machine of another kind"),
    ]
    found = False
    for name, what in runs:
        result = load(name)
        if not result:
            continue
        found = True
        before, after = result["machine_before"], result["machine_after"]
        out += [
            f"`{name}.json` ({what}; commit {result.get('commit') or 'not recorded'}), "
            f"{before['at']}, {before.get('cpu', 'unknown CPU')}, 1-minute load average "
            f"{before['loadavg'][0]:.1f} before and {after['loadavg'][0]:.1f} after:",
            "",
            batch_parsing.table(result),
            "",
            f"    {result.get('command', 'python -m bench.perf.batch_parsing')}",
            "",
        ]
    return out if found else []


def http_section() -> list[str]:
    from bench.perf import http_latency
    from bench.perf.common import load

    result = load("http_latency")
    if not result or not result.get("concurrent"):
        return []
    return [
        "## Classify over HTTP on LocalStack, concurrent clients",
        "",
        "`POST /classify` through API Gateway and Lambda on a LocalStack of the benchmark's own "
        "(`bench/perf/http_latency.py`, stack applied with Terraform, stage "
        f"`{result['stage']}`); every client its own keep-alive session. LocalStack runs every "
        "Lambda on this machine: the throughput is this machine's, not AWS's.",
        "",
        *http_latency.concurrent_section(result),
        "Outcomes: "
        + "; ".join(
            f"{r['clients']} clients: "
            + ", ".join(f"{n:,} x {kind}" for kind, n in sorted(r["outcomes"].items()))
            for r in result["concurrent"]
        )
        + ". Sequential, one client: "
        + f"p50 {result['http']['p50_ms']:.0f} ms, p99 {result['http']['p99_ms']:.0f} ms over "
        + f"{result['http']['n']} requests (handler p50 "
        + f"{(result.get('handler') or {}).get('p50_ms', float('nan')):.1f} ms).",
        "",
        "    python -m bench.perf.http_latency --requests 100 --concurrency 8,32 "
        "--requests-per-client 50 --compare-reserved 10",
        "",
    ]


def write_report(out: Path, results: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(results, indent=2, default=str))
    text = REPORT_HEAD.splitlines()
    text += ["", "## Prepare + SelectForReview per iteration", "", *scale_table(results), ""]
    for label, new in sorted({(r["label"], r["new"]) for r in results}):
        text += flatness(results, label, new)
    text += extrapolated(results)
    text += million_section(results)
    text += ["Commands (`python` is `.venv/bin/python`):", ""]
    text += [
        f"    {r['command']}"
        for r in sorted(results, key=lambda r: (r["label"], r["new"], r["size"]))
    ]
    text += ["", *batch_section(), *http_section(), MACHINE_NOTES.format(**_machine_of(results))]
    (out / "scale.md").write_text("\n".join(text) + "\n")
    print(f"wrote {out / 'scale.md'}", file=sys.stderr)


def _machine_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    m = next((r["machine"] for r in results if r.get("machine")), None) or machine()
    loads = [r["machine"]["loadavg"][0] for r in results if r.get("machine")]
    return {
        "nproc": m["nproc"],
        "cpu": m["cpu"],
        "mem": m["mem_gib"],
        "python": m["python"],
        "loads": ", ".join(f"{x:.1f}" for x in loads) or "n/a",
    }


REPORT_HEAD = """# Scale: an iteration's cost against the size of the lake

Generated by `bench/scale.py` (`make bench`); raw results in `bench/perf/results/scale/` (one
JSON per run, with its command and the machine's load).

**How.** One child process per run: in-process moto (`mock_aws`), the bootstrap model trained on
the first 400 AG News rows and made the active model (SSM pointer, artefact in S3), then a lake
of N implicit low-confidence feedback records (AG News texts cycled, each copy numbered so every
record is distinct: ids are content hashes) generated straight into moto's S3 backend, then the
NEW records in the hours after, then Prepare and SelectForReview called as the state machine
calls them (`textloop.steps.<step>.run(ctx, event)` with a `Stack` over the mocked AWS). Wall and
CPU time and the peak RSS the two steps add (VmHWM reset just before them, minus the RSS then:
the lake moto holds is not counted) and every S3 request by operation (a botocore
`before-call.s3` hook).

* **before** = main before issue 14: the lake in the layout main's classify path writes, one
  object per record (`layout.feedback_record_key`); Prepare lists `feedback/` and GETs every
  object, Select re-scores every unsettled record.
* **after** = with part "incremental" (watermark, carry-over, pre-ranked re-scoring): the lake as
  gzipped JSON Lines files of 10,000 records (`layout.feedback_file_key`, named by content),
  40,000 records per partition hour; the previous iteration's watermark (the hour after the old
  lake's last, the files it read in the lateness window) and its carry-over (at most
  `carry_over_limit` candidates) are in place, as its Record step would have left them.

* **stream** = with part "stream": Prepare counts the new feedback as the files stream by and
  names the files it read (with their ETags) instead of rewriting every record; SelectForReview
  reads those files again (GETs conditional on the ETags), parses each line once (orjson) and
  pre-ranks with bounded heaps, building a full record only for the few it keeps. The same lake
  and the same primed watermark and carry-over as `after`.

Which code each figure measured: the `commit` column. Runs marked `*` predate the benchmark
recording its commit; the report that published them named it: `before` on main at 7ca7e2a
(issue 14's starting point, with this benchmark), `after` with part "incremental" merged at
cd019fa. The `stream` runs at ae3cb5a and 8220aea ran the same step code (8220aea changed
documentation and this report, and removed a function nothing called). `load` is the machine's
1-minute load average when the run ended (2 cores).

moto answers in-process: a GET costs CPU here, not the 10-30 ms of a round trip to S3, so the
**request counts** carry over to AWS and the times do not (on AWS, today's Prepare waits on one
GET per object, 10 at a time). Runs from part "stream" on also record the CPU time spent inside
S3 calls (botocore and moto, `before-call`/`after-call` hooks, `time.thread_time` summed over
the reading threads): the share of the steps' CPU that is the emulator's, not the step's. On a
loaded machine the wall time is mostly waiting for a core: compare CPU times."""


MACHINE_NOTES = """## Machine

{nproc} cores ({cpu}), {mem} GiB, Python {python}, shared with three other engineers' test runs
while these figures were taken (1-minute load averages at the end of each scale run: {loads}):
the wall times are noisy, CPU times less so; the S3 request counts are exact."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000,10000000")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=100_000)
    parser.add_argument("--layout", choices=("files", "objects"), default="files")
    parser.add_argument("--label", default="stream", help="which code a run measures")
    parser.add_argument("--file-records", type=int, default=10_000)
    parser.add_argument("--records-per-hour", type=int, default=40_000)
    parser.add_argument("--gzip-level", type=int, default=1)
    parser.add_argument(
        "--old-gzip-level",
        type=int,
        default=None,
        help="gzip level of the old lake's files (default: --gzip-level); 0 stores them "
        "uncompressed in valid gzip, which makes a 10^7 lake affordable to generate on a busy "
        "machine; the after code never reads them",
    )
    parser.add_argument("--config", default="{}", help="iteration settings (JSON)")
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args), default=str))
        return
    if not args.report_only:
        RESULTS.mkdir(parents=True, exist_ok=True)
        for size in (int(s) for s in args.sizes.split(",") if s):
            result = run_child(args, size, args.new)
            result["machine"] = machine()
            result_path(args.label, size, args.new).write_text(json.dumps(result, indent=2))
            print(
                f"{args.label} size={size:,} new={args.new:,}: "
                f"{result['wall_seconds']:.1f} s, +{result['peak_added_mib']:.0f} MiB, "
                f"{result['s3_requests_total']:,} S3 requests {result['s3_requests']}",
                file=sys.stderr,
            )
    write_report(args.out, load_results())


if __name__ == "__main__":
    main()
