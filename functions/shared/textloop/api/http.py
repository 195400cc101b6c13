"""What every HTTP API shares: the resolver, the request body, JSON answers and error answers.

In the manner of powertools' ``APIGatewayRestResolver`` and ``@app.exception_handler``: an API
module makes its ``app = resolver()``, reads this Lambda instance's ``Stack`` with ``ctx(app)``
and the request's JSON with ``json_body(app)``, answers with ``json_response``, and raises
rather than building error answers:

* ``InvalidInput`` (a body or field that breaks its rules): 400 naming every field, or 413 when
  the only thing wrong is a text over the size limit (``validation.http_status``);
* ``HttpError(status, message, **fields)``: that status, ``{"message", **fields}``;
* ``BackendThrottled``: 429; ``BackendUnavailable``: 503 (the model cannot answer now).

Anything else is a bug: powertools re-raises it, the Lambda fails and API Gateway answers 502.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from textloop.domain.backends import BackendThrottled, BackendUnavailable
from textloop.domain.validation import (
    FieldError,
    InvalidInput,
    error_body,
    http_status,
    parse_json_body,
)

if TYPE_CHECKING:
    from textloop.adapters.stack import Stack


class HttpError(Exception):
    """An answer other than success: ``status`` with ``{"message": message, **fields}``."""

    def __init__(self, status: int, message: str, **fields: Any):
        super().__init__(message)
        self.status = status
        self.body = {"message": message, **fields}


def json_response(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def resolver() -> APIGatewayRestResolver:
    """A REST (v1) resolver answering the shared errors the same way on every API."""
    app = APIGatewayRestResolver()

    @app.exception_handler(InvalidInput)
    def invalid_input(exc: InvalidInput) -> Response:
        return json_response(http_status(exc.errors), error_body(exc.errors))

    @app.exception_handler(HttpError)
    def http_error(exc: HttpError) -> Response:
        return json_response(exc.status, exc.body)

    @app.exception_handler(BackendThrottled)
    def throttled(exc: BackendThrottled) -> Response:
        return json_response(
            429, {"message": "the model back-end is throttling; retry with backoff"}
        )

    @app.exception_handler(BackendUnavailable)
    def unavailable(exc: BackendUnavailable) -> Response:
        app.context["ctx"].logger.exception("model back-end unavailable")
        return json_response(503, {"message": f"the model back-end is unavailable: {exc}"})

    return app


def ctx(app: APIGatewayRestResolver) -> Stack:
    """The ``Stack`` of the Lambda instance answering this request (set by ``textloop.handler``)."""
    return app.context["ctx"]


def raw_body(app: APIGatewayRestResolver) -> str | bytes | None:
    """The request body; bytes when API Gateway base64-encoded it (a non-UTF-8 body must be
    reported, not silently replaced)."""
    event = app.current_event
    if event.is_base64_encoded and event.body is not None:
        try:
            return base64.b64decode(event.body, validate=True)
        except ValueError:  # binascii.Error: a direct invoke, API Gateway always encodes right
            raise InvalidInput([FieldError("body", "is not valid base64")]) from None
    return event.body


def json_body(app: APIGatewayRestResolver, *, optional: bool = False) -> Any:
    """The request's JSON; ``InvalidInput`` naming ``body`` when it is not JSON. ``optional``:
    an empty body is ``{}``."""
    body = raw_body(app)
    if optional and not body:
        return {}
    data, errors = parse_json_body(body)
    if errors:
        raise InvalidInput(errors)
    return data
