"""What every HTTP API shares: the resolver, the request body, JSON answers and error answers.

In the manner of powertools' ``APIGatewayRestResolver`` and ``@app.exception_handler``: an API
module makes its ``app = resolver()``, reads this Lambda instance's ``Stack`` with ``ctx(app)``
and the request's JSON with ``json_body(app)``, answers with ``json_response``, and raises
rather than building error answers:

* ``InvalidInput`` (a body or field that breaks its rules): 400 naming every field, or 413 when
  the only thing wrong is a text over the size limit (``validation.http_status``);
* ``HttpError(status, message, **fields)``: that status, ``{"message", **fields}``;
* ``BackendThrottled``: 429; ``BackendUnavailable``: 503 (the model cannot answer now);
* ``identity.Unauthenticated``: 401 with ``WWW-Authenticate: Bearer``; ``identity.Forbidden``:
  403 (see ``person``).

Client routes call ``application(app)`` first: the calling client application, from the API key
API Gateway checked (403 when the key belongs to no application of this deployment).

Anything else is a bug: powertools re-raises it, the Lambda fails and API Gateway answers 502.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from textloop.domain.applications import Application
from textloop.domain.backends import BackendThrottled, BackendUnavailable
from textloop.domain.identity import Forbidden, Principal, Unauthenticated, bearer_token
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

    @app.exception_handler(Unauthenticated)
    def unauthenticated(exc: Unauthenticated) -> Response:
        # RFC 6750: the scheme, and for a token that was sent, why it was refused.
        challenge = 'Bearer realm="textloop"'
        if _authorization(app):
            challenge += f', error="invalid_token", error_description="{exc}"'
        app.context["ctx"].count("PeopleTokensRefused")
        app.context["ctx"].logger.info("people token refused", extra={"reason": str(exc)})
        return Response(
            status_code=401,
            content_type=content_types.APPLICATION_JSON,
            body={"message": f"sign in required: {exc}"},
            headers={"WWW-Authenticate": challenge},
        )

    @app.exception_handler(Forbidden)
    def forbidden(exc: Forbidden) -> Response:
        app.context["ctx"].logger.info(
            "person not in the route's group",
            extra={"principal": exc.principal.id, "group": exc.group},
        )
        return json_response(403, {"message": str(exc), "group": exc.group})

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


def person(app: APIGatewayRestResolver, group: str) -> Principal:
    """The person whose verified bearer token came with this request, who must be in ``group``
    (``domain.identity``): ``Unauthenticated`` (401) without a valid token, ``Forbidden`` (403)
    outside the group. Their id is what records and audit name, never a body field."""
    return ctx(app).people.verify(bearer_token(_authorization(app))).require(group)


def _authorization(app: APIGatewayRestResolver) -> str | None:
    headers = app.current_event.headers or {}
    return next((v for k, v in headers.items() if k.lower() == "authorization"), None)


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


def application(app: APIGatewayRestResolver) -> Application:
    """The client application calling: the one whose API key API Gateway verified and put in
    ``requestContext.identity.apiKeyId``. ``HttpError`` 403 when there is no key id or it
    belongs to no application (a key made outside ``client_applications``, or a route deployed
    without ``api_key_required``)."""
    key_id = app.current_event.request_context.identity.api_key_id
    stack = ctx(app)
    found = stack.applications.for_key(key_id)
    # The logger outlives the invocation: a refused request must not log the previous caller.
    stack.logger.remove_keys(["application_id"])
    if found is None:
        raise HttpError(403, "this API key belongs to no client application of this deployment")
    stack.logger.append_keys(application_id=found.application_id)
    return found
