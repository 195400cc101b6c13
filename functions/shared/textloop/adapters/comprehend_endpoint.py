"""Amazon Comprehend real-time endpoints as a ``ModelBackend``.

ClassifyDocument (custom classifier endpoints, flywheel endpoints included: they are ordinary
``document-classifier-endpoint`` ARNs) and DetectEntities (custom recogniser endpoints) map to
the same ``Prediction`` shape as the local back-end. The boto3 client is a parameter; build it
with ``client_config()`` so throttling is retried by botocore (the real-time endpoints throttle
at their provisioned inference units).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from textloop.domain.backends import BackendError, BackendThrottled, BackendUnavailable
from textloop.domain.names import COMPREHEND_REALTIME_MAX_TEXT_BYTES, Mode, ModelType
from textloop.domain.predictions import EntitySpan, LabelScore, Prediction
from textloop.domain.validation import InvalidInput, check_text

_THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException"})


def client_config(
    *,
    total_max_attempts: int = 4,
    retry_mode: str = "standard",
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
) -> Config:
    """botocore settings for the classify path.

    ``standard`` retries throttling and transient errors with jittered exponential backoff;
    4 attempts in total (the first call and 3 retries) keep the worst case well inside API
    Gateway's 29 s. ``adaptive`` adds
    client-side rate limiting, which pays off for one long-lived client doing many calls (a
    batch job), not for a Lambda answering one request per invocation.
    """
    return Config(
        retries={"mode": retry_mode, "total_max_attempts": total_max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


class ComprehendBackend:
    def __init__(
        self,
        client: Any,
        *,
        endpoint_arn: str,
        model_type: str,
        mode: str | None,
        model_version: str,
        max_text_bytes: int = COMPREHEND_REALTIME_MAX_TEXT_BYTES,
    ):
        if model_type == ModelType.DOCUMENT_CLASSIFIER and mode not in (
            Mode.MULTI_CLASS,
            Mode.MULTI_LABEL,
        ):
            raise ValueError("a document classifier needs mode MULTI_CLASS or MULTI_LABEL")
        if model_type == ModelType.ENTITY_RECOGNIZER and mode is not None:
            raise ValueError("an entity recogniser has no mode")
        if model_type not in (ModelType.DOCUMENT_CLASSIFIER, ModelType.ENTITY_RECOGNIZER):
            raise ValueError(f"unknown model_type {model_type!r}")
        self.client = client
        self.endpoint_arn = endpoint_arn
        self.model_type = str(model_type)
        self.mode = None if mode is None else str(mode)
        self.model_version = model_version
        self.max_text_bytes = max_text_bytes

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        # The real-time APIs take one document per call.
        return [self._predict_one(text) for text in texts]

    def _predict_one(self, text: str) -> Prediction:
        errors = check_text(text, max_bytes=self.max_text_bytes)
        if errors:
            # Checked before the call: a TextSizeLimitExceededException costs a round trip
            # and an inference unit's throughput.
            raise InvalidInput(errors)
        try:
            if self.model_type == ModelType.ENTITY_RECOGNIZER:
                # No LanguageCode: with an EndpointArn Comprehend uses the model's language.
                response = self.client.detect_entities(Text=text, EndpointArn=self.endpoint_arn)
            else:
                response = self.client.classify_document(Text=text, EndpointArn=self.endpoint_arn)
        except ClientError as exc:
            raise _translate(exc) from exc
        return self._to_prediction(response)

    def _to_prediction(self, response: dict[str, Any]) -> Prediction:
        if self.model_type == ModelType.ENTITY_RECOGNIZER:
            return Prediction(
                model_type=self.model_type,
                model_version=self.model_version,
                mode=None,
                entities=tuple(
                    EntitySpan(
                        begin_offset=int(e["BeginOffset"]),
                        end_offset=int(e["EndOffset"]),
                        type=e["Type"],
                        score=float(e["Score"]),
                    )
                    for e in response.get("Entities", ())
                ),
            )
        # Multi-class endpoints answer in Classes, multi-label ones in Labels.
        key = "Labels" if self.mode == Mode.MULTI_LABEL else "Classes"
        items = response.get(key) or []
        if not items:
            raise BackendError(
                f"ClassifyDocument answered without {key}: is {self.endpoint_arn} a "
                f"{self.mode} classifier?"
            )
        return Prediction(
            model_type=self.model_type,
            model_version=self.model_version,
            mode=self.mode,
            labels=tuple(LabelScore(c["Name"], float(c["Score"])) for c in items),
        )


def _translate(exc: ClientError) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    if code in _THROTTLING_CODES:
        return BackendThrottled(f"Comprehend throttled after retries: {message or code}")
    if code == "ResourceUnavailableException":
        return BackendUnavailable(f"Comprehend endpoint unavailable: {message or code}")
    if code == "TextSizeLimitExceededException":
        # Our byte check passed, so Comprehend's limit is lower than configured.
        return BackendError(f"Comprehend rejected the text size ({message}); lower max_text_bytes")
    return BackendError(f"Comprehend {code}: {message}")
