"""Model back-ends behind one interface (``base.ModelBackend``).

Import the concrete modules directly (``textloop.backends.local`` pulls in scikit-learn,
``textloop.backends.comprehend`` botocore); this package itself stays import-light.
"""

from textloop.backends.base import (
    BackendError,
    BackendThrottled,
    BackendUnavailable,
    EntitySpan,
    LabelScore,
    ModelBackend,
    Prediction,
)

__all__ = [
    "BackendError",
    "BackendThrottled",
    "BackendUnavailable",
    "EntitySpan",
    "LabelScore",
    "ModelBackend",
    "Prediction",
]
