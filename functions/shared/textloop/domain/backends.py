"""The model back-end interface: what inference, selection and evaluation need from a model.

It is implemented in process by ``local_model.LocalBackend`` (scikit-learn, document classifiers)
and ``entity_model.EntityBackend`` (a CRF, entity recognisers), and by
``adapters.comprehend_endpoint.ComprehendBackend`` (an Amazon Comprehend endpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from textloop.domain.predictions import Prediction


class BackendError(RuntimeError):
    """The back-end failed for a reason the caller cannot fix by changing the text."""


class BackendThrottled(BackendError):
    """Throttled even after the client's retries: answer 429/503, or let the caller retry."""


class BackendUnavailable(BackendError):
    """The model cannot answer now (endpoint creating/updating/deleted, artefact missing)."""


@runtime_checkable
class ModelBackend(Protocol):
    """What serving, selection and evaluation need from a model: predictions. Training is the
    Train step's, per back-end (``local_model.fit``, or a Comprehend job)."""

    model_type: str
    mode: str | None
    model_version: str
    max_text_bytes: int

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in order. Texts must already pass ``check_text``."""
        ...
