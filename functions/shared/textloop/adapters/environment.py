"""The deployment as the iteration's Lambdas see it: environment variables to adapters.

Every step handler builds one ``Stack`` at import time; adapters (and their boto3 clients) are
made on first use, so a step pays only for what it touches.

Environment variables (set by Terraform):

* ``DATA_LAKE_BUCKET``: the data lake bucket.
* ``ACTIVE_MODEL_PARAMETER_PREFIX``: SSM prefix of the active-model pointers.
* ``REGISTRY_TABLE``: the DynamoDB registry table (lock and model history).
* ``ITERATION_DEFAULTS``: JSON overrides of ``iteration.DEFAULTS``.
* ``NOTIFICATIONS_TOPIC_ARN``: the SNS topic for approvals and results.
* ``REVIEW_BACKEND``: ``local`` (review API) or ``a2i``; ``A2I_FLOW_DEFINITION_ARN`` with a2i.
* ``COMPREHEND_DATA_ACCESS_ROLE_ARN``, ``COMPREHEND_ENDPOINT_ARN`` (optional),
  ``COMPREHEND_CLASSIFIER_NAME`` (default ``textloop-document-classifier``),
  ``COMPREHEND_LANGUAGE_CODE`` (default ``en``): the Comprehend back-end.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

from textloop.adapters.active_model import ActiveModelPointerStore, pointer_parameter_name
from textloop.adapters.artefacts import ModelArtefactStore
from textloop.adapters.clients import Clients
from textloop.adapters.lake import DataLake
from textloop.adapters.pool_store import PoolStore
from textloop.adapters.registry import Registry
from textloop.adapters.reviews_store import ReviewStore
from textloop.adapters.task_tokens import TaskTokens


class Stack:
    def __init__(self, environ: Any = None):
        self.env = os.environ if environ is None else environ
        self.clients = Clients()

    def setting(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name)
        return value if value else default

    def required(self, name: str) -> str:
        value = self.env.get(name)
        if not value:
            raise RuntimeError(f"environment variable {name} is not set")
        return value

    @cached_property
    def lake(self) -> DataLake:
        return DataLake(self.clients.get("s3"), self.required("DATA_LAKE_BUCKET"))

    @cached_property
    def pools(self) -> PoolStore:
        return PoolStore(self.lake)

    @cached_property
    def reviews(self) -> ReviewStore:
        return ReviewStore(self.lake)

    @cached_property
    def artefacts(self) -> ModelArtefactStore:
        return ModelArtefactStore(self.clients.get("s3"), self.required("DATA_LAKE_BUCKET"))

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.clients.get("dynamodb"), self.required("REGISTRY_TABLE"))

    @cached_property
    def tokens(self) -> TaskTokens:
        return TaskTokens(self.clients.get("stepfunctions"))

    def pointer_store(self, model_type: str) -> ActiveModelPointerStore:
        # No caching across calls: steps must see a promotion made a moment ago.
        return ActiveModelPointerStore(
            self.clients.get("ssm"),
            pointer_parameter_name(self.required("ACTIVE_MODEL_PARAMETER_PREFIX"), model_type),
            max_age_seconds=0,
        )

    def active_model(self, model_type: str) -> tuple[Any, Any]:
        """``(pointer, backend)`` of the model serving ``model_type``; ``(None, None)`` if none."""
        from textloop.adapters.active_model import backend_loader
        from textloop.adapters.promotions import current_pointer
        from textloop.backends import comprehend

        pointer = current_pointer(self.pointer_store(model_type))
        if pointer is None:
            return None, None
        loader = backend_loader(
            artefact_store=self.artefacts,
            comprehend_client=self.clients.get_configured("comprehend", comprehend.client_config()),
        )
        return pointer, loader(pointer)

    def defaults(self) -> dict[str, Any]:
        from textloop.iteration import parse_defaults

        return parse_defaults(self.setting("ITERATION_DEFAULTS"))
