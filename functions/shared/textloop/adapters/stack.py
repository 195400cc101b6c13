"""The deployment as one Lambda sees it: settings from the environment, the adapters over its AWS
resources, and where it logs and counts. Every entry point runs with one ``Stack`` as ``ctx``.

``textloop.handler`` builds one per Lambda instance (a function's process); adapters and their
boto3 clients are made on first use, so a step pays only for what it touches, and state kept
here (the classify path's loaded models) lives as long as the instance.

Environment variables (set by Terraform):

* ``DATA_LAKE_BUCKET``: the data lake bucket.
* ``FEEDBACK_QUEUE_URL``: the intake queue feedback records are sent to (classify, feedback).
* ``STACK_NAME``: the deployment's name (``<name_prefix>-<stage>``), the value of the
  ``textloop:stack`` tag on every resource created at run time (``domain.resources``).
* ``ACTIVE_MODEL_PARAMETER_PREFIX``: SSM prefix of the active-model pointers.
* ``ACTIVE_MODEL_MAX_AGE_SECONDS``: how long the classify path trusts a pointer it read (30).
* ``THRESHOLD_OVERRIDE``: JSON thresholds that win over the model's (classify only): one set
  for every model type, or one per model type (``thresholds.override_for``).
* ``REGISTRY_TABLE``: the DynamoDB registry table (lock and model history).
* ``ITERATION_DEFAULTS``: JSON settings over ``IterationConfig``'s defaults; a key named after a
  model type holds that type's own settings (``iteration.deployment_config``).
* ``NOTIFICATIONS_TOPIC_ARN``: the SNS topic for approvals and results.
* ``STATE_MACHINE_ARN``: the iteration state machine (the iterations API).
* ``REVIEW_BACKEND``: ``local`` (review API) or ``a2i``; ``A2I_FLOW_DEFINITION_ARN`` with a2i.
* ``CLASSIFIER_MODE``: the mode batch feedback files are checked against (``MULTI_CLASS``).
* ``CLIENT_APPLICATIONS``: JSON, the client applications by API key id, with their trust
  (``domain.applications``; classify, feedback and batch feedback).
* ``COMPREHEND_DATA_ACCESS_ROLE_ARN``, ``COMPREHEND_CLASSIFIER_ENDPOINT_ARN`` and
  ``COMPREHEND_RECOGNIZER_ENDPOINT_ARN`` (optional, one endpoint per model type),
  ``COMPREHEND_ENDPOINT_INFERENCE_UNITS`` (1), ``COMPREHEND_CLASSIFIER_NAME`` (default
  ``textloop-document-classifier``), ``COMPREHEND_RECOGNIZER_NAME`` (default
  ``textloop-entity-recognizer``), ``COMPREHEND_LANGUAGE_CODE`` (default ``en``): the Comprehend
  back-end (``adapters.comprehend_training.MODEL_NAME_SETTINGS``, ``ENDPOINT_SETTINGS``).
* ``COMPREHEND_FLYWHEEL_ROLE_ARN``, ``COMPREHEND_KMS_KEY_ARN``,
  ``COMPREHEND_CLASSIFIER_FLYWHEEL_NAME`` (default ``textloop-document-classifier``),
  ``COMPREHEND_RECOGNIZER_FLYWHEEL_NAME`` (default ``textloop-entity-recognizer``): flywheel
  training (``adapters.comprehend_flywheel``).
* ``SENTENCE_ENCODER_NAME`` (default ``all-MiniLM-L6-v2``) and ``SENTENCE_ENCODER_SHA256``: the
  sentence encoder artefact Terraform uploaded (``layout.encoder_artefact_key``), which the Train
  step gives a new ``tfidf+embeddings`` model (``sentence_encoder``). Models already trained name
  their own encoder in their metadata.
* ``COGNITO_USER_POOL_ID`` and ``COGNITO_CLIENT_ID`` (AWS), or ``PEOPLE_TOKEN_KEY_ID``,
  ``PEOPLE_TOKEN_ISSUER`` and ``PEOPLE_TOKEN_AUDIENCE`` (local): who issues people's bearer
  tokens (``adapters.people``; the people APIs only).
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from textloop.adapters.active_model import (
    ActiveModelPointer,
    ActiveModelPointerStore,
    ActiveModelProvider,
    backend_loader,
    pointer_parameter_name,
)
from textloop.adapters.artefacts import ModelArtefactStore
from textloop.adapters.clients import Clients
from textloop.adapters.comprehend_endpoint import client_config
from textloop.adapters.feedback_queue import FeedbackQueue
from textloop.adapters.lake import DataLake
from textloop.adapters.model_catalog import ModelCatalog
from textloop.adapters.pool_store import PoolStore
from textloop.adapters.registry import Registry
from textloop.adapters.reviews_store import ReviewStore
from textloop.adapters.task_tokens import TaskTokens
from textloop.domain.applications import Applications, parse_applications
from textloop.domain.backends import ModelBackend
from textloop.domain.resources import DEFAULT_STACK, run_time_tags
from textloop.domain.thresholds import parse_override

if TYPE_CHECKING:
    from textloop.adapters.people import TokenVerifier
    from textloop.domain.iteration import DeploymentDefaults


class Stack:
    def __init__(self, environ: Any = None, *, logger: Any = None, metrics: Any = None):
        self.env = os.environ if environ is None else environ
        self.clients = Clients()
        self.logger = logger if logger is not None else Logger()
        self.metrics = metrics
        self._providers: dict[str, ActiveModelProvider] = {}

    # ------------------------------------------------------------------ settings

    def setting(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(name)
        return value if value else default

    def required(self, name: str) -> str:
        value = self.env.get(name)
        if not value:
            raise RuntimeError(f"environment variable {name} is not set")
        return value

    @property
    def stack_name(self) -> str:
        return self.setting("STACK_NAME", DEFAULT_STACK) or DEFAULT_STACK

    def resource_tags(self, model_type: str) -> list[dict[str, str]]:
        """Tags for a resource this deployment creates at run time for ``model_type``."""
        return run_time_tags(self.stack_name, model_type)

    @cached_property
    def iteration_defaults(self) -> DeploymentDefaults:
        """The deployment's iteration settings per model type (``ITERATION_DEFAULTS`` over the
        defaults)."""
        # Imported here: the iteration's rules pull in numpy and scikit-learn, which the
        # classify and feedback paths never need on their cold start.
        from textloop.domain.iteration import deployment_config

        return deployment_config(self.setting("ITERATION_DEFAULTS"))

    @cached_property
    def applications(self) -> Applications:
        """The client applications (``CLIENT_APPLICATIONS``); a malformed map raises."""
        return parse_applications(self.setting("CLIENT_APPLICATIONS"))

    # ------------------------------------------------------------------ observability

    def count(self, name: str, value: float = 1) -> None:
        """Add ``value`` to the metric ``name`` (a count) of this invocation."""
        if self.metrics is not None:
            self.metrics.add_metric(name=name, unit="Count", value=value)

    # ------------------------------------------------------------------ adapters

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
    def sentence_encoder(self) -> Any:
        """The deployment's sentence encoder (``SENTENCE_ENCODER_*``), loaded from the lake once
        per process (``adapters.encoder_store``); what a new ``tfidf+embeddings`` model uses."""
        # Imported here: only the paths that embed load the encoder's code.
        from textloop.adapters.encoder_store import EncoderStore
        from textloop.domain.sentence_encoder import ENCODER_NAME

        return EncoderStore(self.clients.get("s3"), self.required("DATA_LAKE_BUCKET")).load(
            self.setting("SENTENCE_ENCODER_NAME", ENCODER_NAME) or ENCODER_NAME,
            self.required("SENTENCE_ENCODER_SHA256"),
        )

    @cached_property
    def feedback_queue(self) -> FeedbackQueue:
        return FeedbackQueue(self.clients.get("sqs"), self.required("FEEDBACK_QUEUE_URL"))

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.clients.get("dynamodb"), self.required("REGISTRY_TABLE"))

    @cached_property
    def people(self) -> TokenVerifier:
        """Verifies people's bearer tokens; its keys are read once per Lambda instance."""
        # Imported here: the classify and feedback paths never load the JWT library.
        from textloop.adapters.people import verifier_from_env

        return verifier_from_env(self.env, self.clients)

    @cached_property
    def models(self) -> ModelCatalog:
        """Model versions and label sets that feedback is checked against (cached per
        instance; the registry is read only when the function has the table)."""
        table = self.setting("REGISTRY_TABLE")
        return ModelCatalog(
            pointer_store=self.pointer_store,
            s3_client=self.clients.get("s3"),
            bucket=self.required("DATA_LAKE_BUCKET"),
            registry=Registry(self.clients.get("dynamodb"), table) if table else None,
            logger=self.logger,
        )

    @cached_property
    def tokens(self) -> TaskTokens:
        return TaskTokens(self.clients.get("stepfunctions"))

    @property
    def comprehend(self) -> Any:
        """The Comprehend client, with the classify path's retry and timeout settings."""
        return self.clients.get_configured("comprehend", client_config())

    def pointer_store(
        self, model_type: str, *, max_age_seconds: float = 0
    ) -> ActiveModelPointerStore:
        """The active-model pointer of ``model_type``; by default read afresh every time, so a
        step sees a promotion made a moment ago."""
        return ActiveModelPointerStore(
            self.clients.get("ssm"),
            pointer_parameter_name(self.required("ACTIVE_MODEL_PARAMETER_PREFIX"), model_type),
            max_age_seconds=max_age_seconds,
        )

    def active_model(
        self, model_type: str
    ) -> tuple[ActiveModelPointer, ModelBackend] | tuple[None, None]:
        """``(pointer, backend)`` of the model serving ``model_type``; ``(None, None)`` if none."""
        pointer = self.pointer_store(model_type).current()
        if pointer is None:
            return None, None
        loader = backend_loader(artefact_store=self.artefacts, comprehend_client=self.comprehend)
        return pointer, loader(pointer)

    def serving(self, model_type: str) -> ActiveModelProvider:
        """The classify path's model of ``model_type``: loaded once, reloaded when the pointer
        moves (checked at most every ``ACTIVE_MODEL_MAX_AGE_SECONDS``)."""
        if model_type not in self._providers:
            store = self.pointer_store(
                model_type,
                max_age_seconds=float(self.setting("ACTIVE_MODEL_MAX_AGE_SECONDS", "30") or 30),
            )
            loader = backend_loader(
                artefact_store=self.artefacts, comprehend_client=self.comprehend
            )
            self._providers[model_type] = ActiveModelProvider(
                store,
                loader,
                threshold_override=parse_override(self.setting("THRESHOLD_OVERRIDE")),
            )
        return self._providers[model_type]
