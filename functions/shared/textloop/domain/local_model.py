"""The embedded back-end: scikit-learn TF-IDF + logistic regression, for document classifiers.

* MULTI_CLASS: ``TfidfVectorizer`` (word 1-2 grams, sublinear tf) + ``LogisticRegression``
  (multinomial); scores are class probabilities summing to 1.
* MULTI_LABEL: the same vectoriser + ``OneVsRestClassifier(LogisticRegression)``; one
  independent probability per label. A document may have no label.

Both use ``class_weight="balanced"``: rare labels (Jigsaw's ``threat``: 4 of 4,000) otherwise
never reach a 0.5 threshold.

Every n-gram of the training texts is a feature until there are ``min_df_documents`` of them;
from there on, n-grams in fewer than ``min_df`` documents are dropped. An active-learning loop
trains on a few hundred labels, and what a selected (unusual) text teaches is mostly n-grams no
other labelled text has: dropping them threw that away (AG News development split, 1,000 labels
picked by the loop: 84.6 % accuracy with ``min_df`` 2, 85.9 % with every n-gram; random picks
83.8 % and 84.2 %; reports/selection-study.md). The L2 penalty ``C`` already keeps rare
features in check; the cut only bounds the model's size on large data sets (AG News, 4,904
documents: 129,000 n-grams and a 2.8 MB artefact with every n-gram, 28,000 and 0.7 MB with
``min_df`` 2; training takes about twice as long).

Two kinds (the iteration setting ``local_model``, ``names.LocalModelKind``, recorded in the
metadata as ``local_model``): ``tfidf``, the above; ``tfidf+embeddings``, word and character
TF-IDF beside sentence embeddings (``domain/embedding_model.py``), whose artefact names the
encoder (``metadata["encoder"]``: name and sha256) instead of holding its weights, so ``load``
needs that encoder. Scores mean the same in both: selection, thresholds and the gate read them
alike.

Artefacts are ``save(model) -> bytes`` (joblib, i.e. pickle) plus ``model.metadata``, a JSON
dict written beside them as ``metadata.json``.

PICKLE TRUST BOUNDARY: ``load`` unpickles, which runs code chosen by whoever wrote the bytes.
Artefacts must only ever come from the project's own encrypted models/ prefix, written by the
training step; never load an artefact from an upload, a request or another account's bucket.
The artefact store checks the bytes against the sha256 in metadata.json (integrity against
truncation or mix-ups, not a defence against someone who can write to the bucket).
"""

from __future__ import annotations

import hashlib
import io
import platform
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MultiLabelBinarizer
from threadpoolctl import ThreadpoolController

from textloop.domain import embedding_model
from textloop.domain.embedding_model import Encoder, EncoderUnavailable
from textloop.domain.hashing import canonical_json
from textloop.domain.names import (
    DEFAULT_MAX_TEXT_BYTES,
    Backend,
    LocalModelKind,
    Mode,
    ModelType,
)
from textloop.domain.predictions import LabelScore, Prediction
from textloop.domain.thresholds import Thresholds
from textloop.domain.timestamps import format_timestamp

ARTEFACT_FORMAT = 1
HYPERPARAMETERS: dict[str, Any] = {
    "ngram_range": [1, 2],
    "sublinear_tf": True,
    "min_df": 2,
    "min_df_documents": 10_000,
    "C": 4.0,
    "max_iter": 1000,
    "class_weight": "balanced",
}


class ArtefactError(ValueError):
    """An artefact that must not or cannot be loaded here."""


@dataclass
class LocalModel:
    # A scikit-learn Pipeline (tfidf) or an embedding_model.EmbeddingsClassifier: both answer
    # predict_proba(texts).
    pipeline: Pipeline | embedding_model.EmbeddingsClassifier
    metadata: dict[str, Any]

    @property
    def kind(self) -> str:
        return kind_of(self.metadata)

    @property
    def labels(self) -> list[str]:
        return list(self.metadata["labels"])

    @property
    def mode(self) -> str:
        return self.metadata["mode"]

    @property
    def model_version(self) -> str:
        return self.metadata["model_version"]


def kind_of(metadata: Mapping[str, Any]) -> str:
    """The metadata's ``local_model``; models trained before there were two kinds are tfidf."""
    return str(metadata.get("local_model") or LocalModelKind.TFIDF.value)


def encoder_of(metadata: Mapping[str, Any]) -> dict[str, str] | None:
    """``{"name", "sha256"}`` of the encoder a model needs; None for the tfidf kind."""
    encoder = metadata.get("encoder")
    return dict(encoder) if kind_of(metadata) != LocalModelKind.TFIDF and encoder else None


def training_data_sha256(texts: Sequence[str], labels: Sequence[Any]) -> str:
    """Order-independent hash of (text, labels) pairs: the same data set in another order is
    the same data set."""
    digests = sorted(
        hashlib.sha256(canonical_json([t, _label_list(y)])).digest()
        for t, y in zip(texts, labels, strict=True)
    )
    return hashlib.sha256(b"".join(digests)).hexdigest()


def _label_list(y: Any) -> list[str]:
    return [y] if isinstance(y, str) else sorted(y)


def word_vectoriser(n_documents: int) -> TfidfVectorizer:
    """The word TF-IDF of both kinds, unfitted: rare n-grams are kept below
    ``min_df_documents`` training documents."""
    return TfidfVectorizer(
        ngram_range=tuple(HYPERPARAMETERS["ngram_range"]),
        sublinear_tf=HYPERPARAMETERS["sublinear_tf"],
        min_df=HYPERPARAMETERS["min_df"]
        if n_documents >= HYPERPARAMETERS["min_df_documents"]
        else 1,
        strip_accents="unicode",
        dtype=np.float32,
    )


def base_regression() -> LogisticRegression:
    """The logistic regression of both kinds, unfitted (one per label for MULTI_LABEL)."""
    return LogisticRegression(
        C=HYPERPARAMETERS["C"],
        max_iter=HYPERPARAMETERS["max_iter"],
        class_weight=HYPERPARAMETERS["class_weight"],
    )


def fit(
    texts: Sequence[str],
    labels: Sequence[str] | Sequence[Collection[str]],
    mode: str,
    *,
    model_version: str | None = None,
    thresholds: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    kind: str = LocalModelKind.TFIDF.value,
    encoder: Encoder | None = None,
    embeddings: np.ndarray | None = None,
) -> LocalModel:
    """Train a document classifier.

    ``labels``: one label per text for MULTI_CLASS; a collection of labels (possibly empty) per
    text for MULTI_LABEL. ``thresholds`` (``{"default", "per_label", "band"}``) go into the
    metadata, where the classify path reads them; defaults otherwise. ``kind``: the
    ``local_model`` setting; ``tfidf+embeddings`` needs the ``encoder``, and takes the texts'
    ``embeddings`` (rows in ``texts`` order) when the caller has them (the embedding cache),
    otherwise encodes the texts.
    """
    if kind not in set(LocalModelKind):
        raise ValueError(f"unknown local_model {kind!r}: one of {', '.join(LocalModelKind)}")
    if kind == LocalModelKind.TFIDF_EMBEDDINGS:
        if encoder is None:
            raise EncoderUnavailable("local_model tfidf+embeddings needs the sentence encoder")
        if embeddings is None:
            embeddings = encoder.encode(list(texts))
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} label entries")
    if not texts:
        raise ValueError("no training documents")
    now = now or datetime.now(UTC)
    data_hash = training_data_sha256(texts, labels)
    vectoriser = word_vectoriser(len(texts))
    regression = base_regression()
    if mode == Mode.MULTI_CLASS:
        if not all(isinstance(y, str) for y in labels):
            raise ValueError("MULTI_CLASS needs exactly one label (a string) per text")
        classes = sorted(set(labels))  # type: ignore[arg-type]
        if len(classes) < 2:
            raise ValueError("MULTI_CLASS needs at least two distinct labels")
        pipeline: Any
        choice = None
        with _one_blas_thread():
            if kind == LocalModelKind.TFIDF_EMBEDDINGS:
                assert encoder is not None and embeddings is not None
                pipeline, choice = embedding_model.fit(
                    texts,
                    list(labels),
                    mode,
                    word=vectoriser,
                    base=regression,
                    encoder=encoder,
                    embeddings=embeddings,
                )
            else:
                pipeline = Pipeline([("tfidf", vectoriser), ("clf", regression)])
                pipeline.fit(list(texts), list(labels))
        class_order = [str(c) for c in pipeline.classes_]
    elif mode == Mode.MULTI_LABEL:
        if any(isinstance(y, str) for y in labels):
            raise ValueError("MULTI_LABEL needs a collection of labels per text")
        binariser = MultiLabelBinarizer()
        matrix = binariser.fit_transform([sorted(y) for y in labels])
        if matrix.shape[1] == 0:
            raise ValueError("MULTI_LABEL needs at least one label in the training data")
        choice = None
        with warnings.catch_warnings(), _one_blas_thread():
            # A label present in every or no document gets a constant predictor; that is the
            # right answer, not something to warn about in the training logs.
            warnings.filterwarnings("ignore", message="Label .* is present in all training")
            if kind == LocalModelKind.TFIDF_EMBEDDINGS:
                assert encoder is not None and embeddings is not None
                pipeline, choice = embedding_model.fit(
                    texts,
                    matrix,
                    mode,
                    word=vectoriser,
                    base=regression,
                    encoder=encoder,
                    embeddings=embeddings,
                )
            else:
                pipeline = Pipeline(
                    [("tfidf", vectoriser), ("clf", OneVsRestClassifier(regression))]
                )
                pipeline.fit(list(texts), matrix)
        class_order = [str(c) for c in binariser.classes_]
    else:
        raise ValueError(f"unknown mode {mode!r}")
    resolved = Thresholds.from_dict(thresholds)
    metadata = {
        "artefact_format": ARTEFACT_FORMAT,
        "backend": Backend.LOCAL.value,
        "model_type": ModelType.DOCUMENT_CLASSIFIER.value,
        "mode": mode,
        "model_version": model_version or f"local-{now:%Y%m%d%H%M%S}-{data_hash[:8]}",
        "labels": class_order,
        "thresholds": resolved.to_dict(),
        "trained_at": format_timestamp(now),
        "training_data_sha256": data_hash,
        "n_documents": len(texts),
        "hyperparameters": HYPERPARAMETERS,
        "sklearn_version": sklearn.__version__,
        "python_version": platform.python_version(),
        "local_model": kind,
    }
    if kind == LocalModelKind.TFIDF_EMBEDDINGS:
        assert encoder is not None
        metadata["encoder"] = {"name": encoder.name, "sha256": encoder.sha256}
        metadata["embedding_hyperparameters"] = embedding_model.HYPERPARAMETERS
        metadata["embedding_weight"] = choice
    return LocalModel(pipeline=pipeline, metadata=metadata)


_THREADPOOLS: ThreadpoolController | None = None


def _one_blas_thread() -> Any:
    # These matrices are small: a multi-threaded BLAS spends more time spinning up and
    # contending for the 1-2 vCPUs of a Lambda (or a busy CI runner) than it saves. Measured
    # on Jigsaw's 2,400 documents on a loaded 2-core machine: 7.3 s CPU fitting with the
    # default threads, 0.5 s with one. The controller is built once (3 ms; a limit then costs
    # 0.04 ms, cheap enough for every classify call).
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1)


def save(model: LocalModel) -> bytes:
    """The artefact bytes (``model.joblib``); ``model.metadata`` is written beside them."""
    buffer = io.BytesIO()
    joblib.dump({"metadata": model.metadata, "pipeline": model.pipeline}, buffer, compress=3)
    return buffer.getvalue()


def load(
    data: bytes,
    metadata: Mapping[str, Any] | None = None,
    *,
    allow_version_mismatch: bool = False,
    encoder: Encoder | None = None,
) -> LocalModel:
    """Load an artefact written by ``save``. See the trust boundary in the module docstring.

    A ``tfidf+embeddings`` model needs ``encoder``, the one its metadata names (by sha256);
    without it loading fails (``EncoderUnavailable``) rather than a first prediction.

    With ``metadata`` (the metadata.json beside the artefact) the scikit-learn version is
    checked BEFORE unpickling: pickles are not portable across scikit-learn versions, and a
    model that loads but predicts subtly differently is worse than one that refuses to load.
    """
    if metadata is not None:
        _check_compatible(metadata, allow_version_mismatch)
        _check_encoder(metadata, encoder)
    # Unpickling: trusted artefacts only (see the module docstring).
    loaded = joblib.load(io.BytesIO(data))
    if not isinstance(loaded, dict) or "pipeline" not in loaded or "metadata" not in loaded:
        raise ArtefactError("not a textloop local model artefact")
    embedded = loaded["metadata"]
    _check_compatible(embedded, allow_version_mismatch)
    if metadata is not None and metadata.get("model_version") != embedded.get("model_version"):
        raise ArtefactError(
            f"artefact holds model_version {embedded.get('model_version')!r}, "
            f"metadata says {metadata.get('model_version')!r}"
        )
    _check_encoder(embedded, encoder)
    pipeline = loaded["pipeline"]
    if isinstance(pipeline, embedding_model.EmbeddingsClassifier):
        assert encoder is not None
        pipeline.attach(encoder)
    return LocalModel(pipeline=pipeline, metadata=dict(embedded))


def _check_encoder(metadata: Mapping[str, Any], encoder: Encoder | None) -> None:
    needed = encoder_of(metadata)
    if kind_of(metadata) == LocalModelKind.TFIDF:
        return
    if needed is None:
        raise ArtefactError(f"a {kind_of(metadata)} model whose metadata names no encoder")
    if encoder is None or encoder.sha256 != needed["sha256"]:
        have = "none" if encoder is None else f"sha256 {encoder.sha256}"
        raise EncoderUnavailable(
            f"model needs encoder {needed['name']} sha256 {needed['sha256']}; loaded: {have}"
        )


def _check_compatible(metadata: Mapping[str, Any], allow_version_mismatch: bool) -> None:
    if metadata.get("artefact_format") != ARTEFACT_FORMAT:
        raise ArtefactError(f"unsupported artefact_format {metadata.get('artefact_format')!r}")
    if kind_of(metadata) not in set(LocalModelKind):
        raise ArtefactError(f"unknown local_model {kind_of(metadata)!r}")
    if metadata.get("sklearn_version") != sklearn.__version__ and not allow_version_mismatch:
        raise ArtefactError(
            f"artefact was written by scikit-learn {metadata.get('sklearn_version')}, "
            f"this runtime has {sklearn.__version__}; retrain or pin the layer"
        )


class LocalBackend:
    """``ModelBackend`` over a ``LocalModel``; loads once per process, predicts in-process."""

    def __init__(self, model: LocalModel, *, max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES):
        self.model = model
        self.model_type = ModelType.DOCUMENT_CLASSIFIER.value
        self.mode = model.mode
        self.model_version = model.model_version
        # Same limit as Comprehend's real-time API: switching back-ends must not change which
        # requests the API accepts.
        self.max_text_bytes = max_text_bytes
        self._labels = model.labels

    @property
    def thresholds(self) -> dict[str, Any]:
        return dict(self.model.metadata.get("thresholds") or {})

    @property
    def encoder(self) -> Encoder | None:
        """The sentence encoder a ``tfidf+embeddings`` model predicts with (None: tfidf)."""
        pipeline = self.model.pipeline
        return (
            pipeline.encoder if isinstance(pipeline, embedding_model.EmbeddingsClassifier) else None
        )

    def predict_proba(
        self, texts: Sequence[str], *, embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        """Scores as a matrix, columns in ``model.labels`` order (for evaluation code).
        ``embeddings``: the texts' sentence embeddings when the caller has them (the embedding
        cache), for a ``tfidf+embeddings`` model; otherwise its encoder computes them."""
        with _one_blas_thread():
            if embeddings is not None:
                pipeline = self.model.pipeline
                if not isinstance(pipeline, embedding_model.EmbeddingsClassifier):
                    raise ValueError(f"a {self.model.kind} model takes no embeddings")
                return np.asarray(pipeline.predict_proba(list(texts), embeddings))
            return np.asarray(self.model.pipeline.predict_proba(list(texts)))

    def predict(
        self, texts: Sequence[str], *, embeddings: np.ndarray | None = None
    ) -> list[Prediction]:
        if not texts:
            return []
        matrix = self.predict_proba(texts, embeddings=embeddings)
        return [
            Prediction(
                model_type=self.model_type,
                model_version=self.model_version,
                mode=self.mode,
                labels=tuple(
                    LabelScore(label, round(float(score), 6))
                    for label, score in zip(self._labels, row, strict=True)
                ),
            )
            for row in matrix
        ]
