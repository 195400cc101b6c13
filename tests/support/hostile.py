"""Hostile input (issue 11) for the adversarial tests: JSON texts no ``json.dumps`` writes
(NaN, lone surrogates, repeated keys, deep nesting), and calling a deployed handler so that
a crash shows as a failed test, never as a 502 the test could mistake for an answer."""

from __future__ import annotations

import json
from typing import Any

import boto3

from . import people
from .events import rest_event

_MARK = "\u0000raw\u0000"
# Deeper than any request nests (validation.MAX_JSON_DEPTH is 32) yet parseable by json.
DEEP = 40
# Deep enough that json's C parser itself gives up (RecursionError before the fix: a 502).
VERY_DEEP = 200_000
ZERO_WIDTH = "\u200b\u2060\ufeff\u200d"


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def with_raw(body: Any, path: tuple[Any, ...], raw: str) -> str:
    """The JSON text of ``body`` with the value at ``path`` replaced by the text ``raw``
    (``"NaN"``, ``'"\\\\ud800"'``, ``nested(40)``...)."""
    copy = json.loads(json.dumps(body))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = _MARK
    text = json.dumps(copy)
    marker = json.dumps(_MARK)
    assert text.count(marker) == 1
    return text.replace(marker, raw)


def with_repeated_key(body: dict, key: str, first: Any) -> str:
    """``{"<key>": first, ...body}``: the key twice, the body's value last (the one Python's
    json keeps)."""
    text = json.dumps(body)
    return "{" + json.dumps(key) + ": " + json.dumps(first) + ", " + text[1:]


def invoke(function_name: str, event: dict) -> dict:
    out = boto3.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event))
    payload = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, payload
    return payload


def call(
    function_name: str,
    path: str,
    method: str = "POST",
    body=None,
    *,
    query: dict[str, str] | None = None,
    **kwargs,
):
    """``(status, answer)`` of an API function; a handler crash fails the test. A people route
    gets a valid token of its group (the hostility under test is the input, not the caller)
    unless ``headers`` are given."""
    if "headers" not in kwargs:
        kwargs["headers"] = _person_of_the_route(function_name, method, path)
    event = rest_event(path, method, body, **kwargs)
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    response = invoke(function_name, event)
    return response["statusCode"], json.loads(response["body"])


def fields(answer: dict) -> list[str]:
    return [e["field"] for e in answer.get("errors", [])]


def people_env() -> dict[str, str]:
    """The environment a people API needs: the stack's token issuer, with a new signing key."""
    return people.people_env(people.create_signing_key())


def _person_of_the_route(function_name: str, method: str, path: str) -> dict[str, str] | None:
    from textloop.domain.identity import ROUTE_GROUPS

    resource = "/" + "/".join(path.strip("/").split("/")[:1])
    groups = {g for route, g in ROUTE_GROUPS.items() if route.startswith(f"{method} {resource}")}
    variables = boto3.client("lambda").get_function_configuration(FunctionName=function_name)
    key = variables.get("Environment", {}).get("Variables", {}).get("PEOPLE_TOKEN_KEY_ID")
    if not groups or not key:
        return None
    return people.bearer(people.token(key, "hostile-tester", *sorted(groups)))
