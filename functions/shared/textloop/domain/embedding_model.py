"""The ``tfidf+embeddings`` local document classifier (``local_model = "tfidf+embeddings"``).

Three blocks of features side by side, logistic regression on top:

* word TF-IDF, as the ``tfidf`` kind's (``local_model.HYPERPARAMETERS``);
* character TF-IDF over n-grams inside word boundaries (``char_wb``): spelling variants,
  inflections and words the training texts never had whole;
* the text's sentence embedding (``domain.sentence_encoder``: all-MiniLM-L6-v2, 384 floats, L2
  normalised), multiplied by a weight.

Each TF-IDF row and each embedding has unit length, so the weight says how much the embedding
counts beside the n-grams. It is chosen by cross-validation on the training data only
(``choose_weight``: ``WEIGHTS``, 0.5 to 2.0, 3 folds, stratified for MULTI_CLASS when every label
has three documents, on at most ``cv_max_documents`` of them); with too few documents or labels to
cross-validate it stays at ``DEFAULT_WEIGHT``. Fewer labels favour the embedding (a larger
weight), more labels the n-grams; no weight below 0.5 beat 0.5 in any measured run.

The classifier is pickled WITHOUT the encoder (``__getstate__``): the artefact names the
encoder (name and sha256 of its artefact) and whoever loads it attaches the encoder loaded from
the lake by that sha256 (``attach``); predicting without it fails with ``EncoderUnavailable``.
Training takes the embeddings as an argument, so the Train step can read most of them from the
embedding cache (``domain.embedding_cache``) instead of running the encoder again.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from scipy import sparse
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from textloop.domain.names import Mode

# Ascending; ties go to the smaller weight (the n-grams alone are the better-understood model).
# Measured by bench/embedding_weight.py (real encoder, AG News and Jigsaw, 200 labels to the
# whole pool, 17 runs): below 0.5 the CV and the held-out score both fall in every run, so the
# grid stops there; CV picked 0.7 in 8 runs and 4.0 in none, so 0.7 took 4.0's place (the same
# number of fits); 2.0 stays for small multi-label sets (Jigsaw at 500 labels).
WEIGHTS = (0.5, 0.7, 1.0, 2.0)
DEFAULT_WEIGHT = 1.0
HYPERPARAMETERS: dict[str, Any] = {
    "char_analyzer": "char_wb",
    "char_ngram_range": [3, 5],
    "weights": list(WEIGHTS),
    "default_weight": DEFAULT_WEIGHT,
    "cv_folds": 3,
    # Cross-validation fits len(WEIGHTS) x cv_folds regressions: on a sample of the training
    # data beyond this size, so a large pool does not multiply the train step's time by 13.
    "cv_max_documents": 4_000,
    # Fewer documents than this: the default weight (a fold of 5 documents says nothing).
    "cv_min_documents": 30,
}


class EncoderUnavailable(RuntimeError):
    """The model needs an encoder that is not attached (or not the one it was trained with)."""


class Encoder(Protocol):
    """What this module needs of ``domain.sentence_encoder.SentenceEncoder``."""

    name: str
    sha256: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def vectorisers(word: TfidfVectorizer) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    """The word vectoriser given (the ``tfidf`` kind's settings) and its character sibling."""
    char = TfidfVectorizer(
        analyzer=HYPERPARAMETERS["char_analyzer"],
        ngram_range=tuple(HYPERPARAMETERS["char_ngram_range"]),
        sublinear_tf=True,
        min_df=word.min_df,
        strip_accents="unicode",
        lowercase=True,
        dtype=np.float32,
    )
    return word, char


def _stack(word: Any, char: Any, embeddings: np.ndarray, weight: float) -> sparse.csr_matrix:
    dense = sparse.csr_matrix(np.asarray(embeddings, dtype=np.float32) * np.float32(weight))
    return sparse.hstack([word, char, dense], format="csr", dtype=np.float32)


class EmbeddingsClassifier:
    """``predict_proba(texts)`` like a scikit-learn pipeline's, columns in ``classes_`` order."""

    def __init__(
        self,
        word: TfidfVectorizer,
        char: TfidfVectorizer,
        classifier: Any,
        weight: float,
        encoder: Encoder,
    ):
        self.word, self.char, self.classifier = word, char, classifier
        self.weight = float(weight)
        self.encoder_name, self.encoder_sha256 = encoder.name, encoder.sha256
        self.encoder: Encoder | None = encoder

    def __getstate__(self) -> dict[str, Any]:
        # The encoder's weights stay out of the artefact: it is stored once in the lake and
        # found again by its sha256.
        return {**self.__dict__, "encoder": None}

    def attach(self, encoder: Encoder) -> None:
        if encoder.sha256 != self.encoder_sha256:
            raise EncoderUnavailable(
                f"the model was trained with encoder {self.encoder_name} sha256 "
                f"{self.encoder_sha256}, not {encoder.name} sha256 {encoder.sha256}"
            )
        self.encoder = encoder

    @property
    def classes_(self) -> np.ndarray:
        return self.classifier.classes_

    def features(
        self, texts: Sequence[str], embeddings: np.ndarray | None = None
    ) -> sparse.csr_matrix:
        if embeddings is None:
            if self.encoder is None:
                raise EncoderUnavailable(
                    f"encoder {self.encoder_name} sha256 {self.encoder_sha256} is not loaded"
                )
            embeddings = self.encoder.encode(list(texts))
        return _stack(
            self.word.transform(texts), self.char.transform(texts), embeddings, self.weight
        )

    def predict_proba(
        self, texts: Sequence[str], embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        return self.classifier.predict_proba(self.features(list(texts), embeddings))


def regression(mode: str, base: LogisticRegression) -> Any:
    return OneVsRestClassifier(base) if mode == Mode.MULTI_LABEL else base


def fit(
    texts: Sequence[str],
    y: Any,
    mode: str,
    *,
    word: TfidfVectorizer,
    base: LogisticRegression,
    encoder: Encoder,
    embeddings: np.ndarray,
) -> tuple[EmbeddingsClassifier, dict[str, Any]]:
    """The classifier on all of ``texts`` (``y``: labels, or MULTI_LABEL's indicator matrix),
    with the weight ``choose_weight`` picks; and what the choice was (for the metadata)."""
    texts = list(texts)
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.shape != (len(texts), encoder.dimension):
        raise ValueError(
            f"embeddings of shape {embeddings.shape} for {len(texts)} texts "
            f"(expected {encoder.dimension} columns)"
        )
    weight, choice = choose_weight(texts, y, mode, word=word, base=base, embeddings=embeddings)
    word, char = vectorisers(_clone(word))
    features = _stack(word.fit_transform(texts), char.fit_transform(texts), embeddings, weight)
    classifier = regression(mode, _clone(base))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Label .* is present in all training")
        classifier.fit(features, y)
    return EmbeddingsClassifier(word, char, classifier, weight, encoder), choice


def choose_weight(
    texts: list[str],
    y: Any,
    mode: str,
    *,
    word: TfidfVectorizer,
    base: LogisticRegression,
    embeddings: np.ndarray,
    weights: Sequence[float] = WEIGHTS,
) -> tuple[float, dict[str, Any]]:
    """The weight of ``weights`` (ascending) with the best mean cross-validated score
    (accuracy for MULTI_CLASS, micro F1 at 0.5 for MULTI_LABEL) on the training data, and the
    scores."""
    # Imported here: the classify path loads this module but never cross-validates.
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(texts)
    if n < HYPERPARAMETERS["cv_min_documents"]:
        return DEFAULT_WEIGHT, {"weight": DEFAULT_WEIGHT, "reason": f"{n} documents: too few"}
    rng = np.random.RandomState(0)
    index = np.arange(n)
    if n > HYPERPARAMETERS["cv_max_documents"]:
        index = np.sort(rng.choice(n, HYPERPARAMETERS["cv_max_documents"], replace=False))
    y_cv = y[index] if isinstance(y, np.ndarray) else np.asarray(y, dtype=object)[index]
    folds = HYPERPARAMETERS["cv_folds"]
    splitter: Any = KFold(folds, shuffle=True, random_state=0)
    stratified = False
    if mode == Mode.MULTI_CLASS:
        _, counts = np.unique(y_cv.astype(str), return_counts=True)
        if counts.min() >= folds:
            splitter, stratified = StratifiedKFold(folds, shuffle=True, random_state=0), True
    scores: dict[float, list[float]] = {w: [] for w in weights}
    for train, held in splitter.split(index, y_cv if stratified else None):
        y_train, y_held = y_cv[train], y_cv[held]
        if mode == Mode.MULTI_CLASS and len(set(y_train)) < 2:
            continue
        fold_texts = [texts[i] for i in index[train]]
        held_texts = [texts[i] for i in index[held]]
        w_vec, c_vec = vectorisers(_clone(word))
        w_train, c_train = w_vec.fit_transform(fold_texts), c_vec.fit_transform(fold_texts)
        w_held, c_held = w_vec.transform(held_texts), c_vec.transform(held_texts)
        for weight in weights:
            model = regression(mode, _clone(base))
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Label .* is present in all training")
                model.fit(_stack(w_train, c_train, embeddings[index[train]], weight), y_train)
            predicted = model.predict(_stack(w_held, c_held, embeddings[index[held]], weight))
            if mode == Mode.MULTI_CLASS:
                scores[weight].append(float(accuracy_score(y_held, predicted)))
            else:
                scores[weight].append(
                    float(f1_score(y_held, predicted, average="micro", zero_division=0.0))
                )
    if not scores[weights[0]]:
        return DEFAULT_WEIGHT, {"weight": DEFAULT_WEIGHT, "reason": "no fold had two labels"}
    means = {w: float(np.mean(s)) for w, s in scores.items()}
    best = max(weights, key=lambda w: (round(means[w], 9), -w))
    return best, {
        "weight": best,
        "folds": len(scores[best]),
        "stratified": stratified,
        "documents": len(index),
        "scores": {str(w): round(m, 6) for w, m in means.items()},
    }


def _clone(estimator: Any) -> Any:
    return clone(estimator)
