"""The one decorator every Lambda goes through: ``handler = lambda_handler(entry)``.

``functions/<name>/app.py`` is that line and nothing else. ``entry`` is the module holding the
code, either:

* a step (``textloop.steps``) or an event handler (``textloop.events``): ``EVENT``, the JSON
  Schema of what it is sent, and ``run(ctx, event) -> dict``; or
* an HTTP API (``textloop.api``): ``app``, a resolver made by ``api.http.resolver()``.

What every handler needs, supplied once here:

* logging: powertools ``Logger``, JSON lines with the Lambda context and a correlation id (an
  API: API Gateway's request id; a step: the execution ARN; otherwise the entry's
  ``correlation_id(event)``);
* tracing: powertools ``Tracer``, a segment per invocation (and boto3 calls within);
* metrics: powertools ``Metrics``, flushed when the invocation ends (``ctx.count``);
* validation: the event is checked against ``EVENT`` before ``run``; a mismatch raises a
  ``ValueError`` naming the field (a contract break between the caller and the code, not data);
* ``ctx``: one ``adapters.stack.Stack`` per Lambda instance (its models and clients outlive
  one invocation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

from textloop.adapters.stack import Stack

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def lambda_handler(entry: ModuleType) -> Handler:
    """The Lambda handler of ``entry`` (see the module docstring)."""
    ctx = Stack(logger=logger, metrics=metrics)
    if hasattr(entry, "app"):
        return _api_handler(entry, ctx)
    return _event_handler(entry, ctx)


def _api_handler(entry: ModuleType, ctx: Stack) -> Handler:
    app = entry.app

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        # The resolver is the module's; the Stack is this Lambda instance's (see api.http.ctx).
        app.append_context(ctx=ctx)
        return app.resolve(event, context)

    return handler


def _event_handler(entry: ModuleType, ctx: Stack) -> Handler:
    name = entry.__name__.rsplit(".", 1)[-1]
    schema: Mapping[str, Any] = entry.EVENT
    correlation_id: Callable[[Any], str | None] = getattr(entry, "correlation_id", _execution_arn)
    run: Callable[[Stack, Any], dict[str, Any]] = entry.run

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        check(event, schema, name)
        logger.set_correlation_id(correlation_id(event))
        return run(ctx, event)

    return handler


def check(event: Any, schema: Mapping[str, Any], name: str) -> None:
    """Raise ``ValueError`` naming what in ``event`` breaks ``schema``."""
    try:
        validate(event=event, schema=dict(schema))
    except SchemaValidationError as exc:
        raise ValueError(f"invalid {name} event: {exc.validation_message}") from None


def _execution_arn(event: Mapping[str, Any]) -> str | None:
    """A step's correlation id: its execution (Prepare is sent it before ``iteration`` exists)."""
    iteration = event.get("iteration")
    if isinstance(iteration, Mapping):
        return iteration.get("execution_arn")
    return event.get("execution_arn")
