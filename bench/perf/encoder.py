"""The sentence encoder's cost (domain/sentence_encoder.py, all-MiniLM-L6-v2 in numpy, one BLAS
thread): load time from the artefact's bytes, encode latency per AG News text one at a time and
in batches of 32, throughput on 6,000 texts, peak memory, the artefact's size and (``--layer``)
the Lambda layer's unzipped size against the 250 MiB limit.

    .venv/bin/python -m bench.perf.encoder [--single 300] [--batches 30] [--throughput 6000]
        [--layer] [--quick]

Raw figures go to bench/perf/results/encoder.json (with the machine and its load average); a
Markdown summary is printed. The artefact is the one `make setup` built.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from textloop.domain.sentence_encoder import BATCH_SIZE, SentenceEncoder

from bench.perf.common import REPO, ag_news_rows, fmt_ms, latency_summary, machine, save
from textloop_ops.encoder import DTYPE, built_artefact

# Lambda's limit on a function's unzipped code and layers together: 250 MiB.
LAMBDA_UNZIPPED_LIMIT = 262_144_000


def load_seconds(data: bytes, repeats: int = 3) -> tuple[float, SentenceEncoder]:
    times, encoder = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        encoder = SentenceEncoder.from_artefact(data)
        times.append(time.perf_counter() - start)
    assert encoder is not None
    return statistics.median(times), encoder


def timed(calls: list[list[str]], encoder: SentenceEncoder) -> dict[str, Any]:
    """Wall-clock latency of each call, and its CPU time: on a machine shared with other work
    the wall clock includes waiting for a core, the CPU time does not (the encoder uses one)."""
    wall, cpu = [], []
    for texts in calls:
        start, start_cpu = time.perf_counter(), time.process_time()
        encoder.encode(texts)
        cpu.append((time.process_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return {**latency_summary(wall), "cpu": latency_summary(cpu)}


def single_latency(encoder: SentenceEncoder, texts: list[str]) -> dict[str, Any]:
    encoder.encode(texts[:5])  # first-call costs (BLAS, threadpool controller) not measured
    return timed([[text] for text in texts], encoder)


def batch_latency(encoder: SentenceEncoder, texts: list[str], size: int) -> dict[str, Any]:
    calls = [texts[i : i + size] for i in range(0, len(texts) - size + 1, size)]
    summary = timed(calls, encoder)
    return {
        **summary,
        "batch_size": size,
        "per_text_p50_ms": summary["p50_ms"] / size,
        "per_text_cpu_p50_ms": summary["cpu"]["p50_ms"] / size,
    }


def throughput(encoder: SentenceEncoder, texts: list[str]) -> dict[str, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    encoder.encode(texts)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    tokens = sum(len(ids) for ids in encoder.token_ids(texts))
    return {
        "texts": len(texts),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "texts_per_second": len(texts) / seconds,
        "ms_per_text": seconds * 1000 / len(texts),
        "cpu_ms_per_text": cpu_seconds * 1000 / len(texts),
        "mean_tokens": tokens / len(texts),
    }


def layer_size() -> dict[str, Any]:
    """The layer as Terraform builds it (terraform/modules/lambda_layer/package.py, no cache)."""
    with tempfile.TemporaryDirectory(prefix="textloop-bench-layer-") as tmp:
        output = Path(tmp) / "layer.zip"
        command = [
            sys.executable,
            str(REPO / "terraform" / "modules" / "lambda_layer" / "package.py"),
            str(output),
            *("--prefix", "python", "--source", str(REPO / "functions" / "shared")),
            *("--requirements", str(REPO / "requirements" / "layer.txt")),
            "--cache-dir",
            tmp,
        ]
        subprocess.run(command, check=True, cwd=REPO)  # noqa: S603 - our own packager
        with zipfile.ZipFile(output) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
        by_package: dict[str, int] = {}
        with zipfile.ZipFile(output) as archive:
            for info in archive.infolist():
                top = info.filename.split("/")[1]
                by_package[top] = by_package.get(top, 0) + info.file_size
        return {
            "zip_bytes": output.stat().st_size,
            "unzipped_bytes": unzipped,
            "unzipped_mib": unzipped / 2**20,
            "limit_bytes": LAMBDA_UNZIPPED_LIMIT,
            "headroom_mib": (LAMBDA_UNZIPPED_LIMIT - unzipped) / 2**20,
            "encoder_packages_mib": sum(
                v for k, v in by_package.items() if k.startswith(("tokenizers", "safetensors"))
            )
            / 2**20,
        }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=300, help="texts encoded one at a time")
    parser.add_argument("--batches", type=int, default=30, help="batches of 32 timed")
    parser.add_argument("--throughput", type=int, default=6000, help="texts encoded in one call")
    parser.add_argument("--layer", action="store_true", help="also build the layer and size it")
    parser.add_argument("--quick", action="store_true", help="100 single, 10 batches, 1,000 texts")
    args = parser.parse_args(argv)
    if args.quick:
        args.single, args.batches, args.throughput = 100, 10, 1000

    texts = [text for _, text in ag_news_rows()]
    path = built_artefact()
    data = path.read_bytes()
    load_s, encoder = load_seconds(data)
    result: dict[str, Any] = {
        "machine_before": machine(),
        "artefact": {
            "path": str(path),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "dtype": DTYPE,
        },
        "load_seconds": load_s,
        "single": single_latency(encoder, texts[: args.single]),
        "batch": batch_latency(encoder, texts[: args.batches * BATCH_SIZE], BATCH_SIZE),
        "throughput": throughput(encoder, texts[: args.throughput]),
        # Peak resident memory of this process (KiB on Linux): the encoder plus the largest batch.
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if args.layer:
        result["layer"] = layer_size()
    result["machine_after"] = machine()
    save("encoder", result)
    print(summary(result))
    return result


def summary(result: dict[str, Any]) -> str:
    single, batch, bulk = result["single"], result["batch"], result["throughput"]
    lines = [
        f"artefact: {result['artefact']['bytes'] / 1e6:.1f} MB ({result['artefact']['dtype']}),"
        f" loaded from bytes in {result['load_seconds']:.2f} s; peak RSS"
        f" {result['max_rss_mib']:.0f} MiB",
        f"one text at a time (n={single['n']}): p50 {fmt_ms(single['p50_ms'])} ms,"
        f" p99 {fmt_ms(single['p99_ms'])} ms (CPU p50 {fmt_ms(single['cpu']['p50_ms'])} ms,"
        f" p99 {fmt_ms(single['cpu']['p99_ms'])} ms)",
        f"batches of {batch['batch_size']} (n={batch['n']}): p50 {fmt_ms(batch['p50_ms'])} ms,"
        f" p99 {fmt_ms(batch['p99_ms'])} ms per batch ({fmt_ms(batch['per_text_p50_ms'])} ms"
        f" per text; CPU {fmt_ms(batch['per_text_cpu_p50_ms'])} ms per text)",
        f"{bulk['texts']:,} texts in one call: {bulk['seconds']:.1f} s,"
        f" {bulk['texts_per_second']:.0f} texts/s, CPU {bulk['cpu_seconds']:.1f} s"
        f" ({bulk['cpu_ms_per_text']:.1f} ms per text; {bulk['mean_tokens']:.0f} tokens on"
        " average)",
    ]
    if "layer" in result:
        layer = result["layer"]
        lines.append(
            f"layer: {layer['unzipped_mib']:.1f} MiB unzipped ({layer['zip_bytes'] / 1e6:.1f} MB"
            f" zipped; tokenizers + safetensors {layer['encoder_packages_mib']:.1f} MiB),"
            f" {layer['headroom_mib']:.1f} MiB below Lambda's 250 MiB"
        )
    lines.append(
        f"load average {result['machine_before']['loadavg']} before,"
        f" {result['machine_after']['loadavg']} after"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
