"""The operator's view of one deployed stack: where its REST API is, its key, the person calling
it, and AWS access.

Two kinds of target, with the same commands on top:

* LocalStack (``--state-dir``, default ``.localstack``): the endpoint file written by
  ``make localstack-up`` and the Terraform outputs of ``make deploy-local``.
* AWS (``--api-url`` and ``--api-key``, or ``TEXTLOOP_API_URL`` / ``TEXTLOOP_API_KEY``): the
  REST API only; S3 and Step Functions through the default credential chain when a command
  needs them (``--bucket`` / ``TEXTLOOP_DATA_LAKE_BUCKET`` for the data lake).

Client routes (classify, feedback) authenticate with the API key; people routes (reviews,
approvals, iterations, models) with a person's bearer token (``Api.token``: ``--token`` /
``TEXTLOOP_TOKEN``, or minted locally by ``textloop_ops.people``).

HTTP goes through urllib on purpose: the CLI and the review server then need nothing beyond
the standard library until a command touches S3 or Step Functions (boto3).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = Path(".localstack")
DEFAULT_TIMEOUT = 120.0
LOCALSTACK_REGION = "us-east-1"


class TargetError(RuntimeError):
    """The target cannot be resolved (no LocalStack, no outputs, a missing key)."""


class UsageError(TargetError):
    """The options do not describe a target (e.g. an API URL without a key)."""


class ApiError(RuntimeError):
    """A non-2xx answer from the REST API, kept whole so callers can show the field."""

    def __init__(self, method: str, path: str, status: int, body: Any):
        self.method, self.path, self.status, self.body = method, path, status, body
        super().__init__(f"{method} {path}: HTTP {status}: {describe_error(body)}")


def describe_error(body: Any) -> str:
    """One readable line from an API error body.

    The Lambdas answer ``{"message", "errors": [{"field", "message"}]}`` for 400 (see
    ``textloop.domain.validation.error_body``); each field is named so a person can fix it.
    """
    if not isinstance(body, dict):
        return str(body)[:500]
    parts = []
    if body.get("message"):
        parts.append(str(body["message"]))
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            parts.append(f"{error.get('field', '?')}: {error.get('message', '')}")
    return "; ".join(parts) or json.dumps(body)[:500]


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


@dataclass
class Api:
    """The REST API with its key (client routes) and a person's token (people routes), each
    sent when set; every call returns (status, decoded body)."""

    base_url: str
    api_key: str | None
    timeout: float = DEFAULT_TIMEOUT
    token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        token: str | None = None,
    ) -> tuple[int, Any]:
        """``token``: a bearer token for this request only (the review server forwards the
        browser's)."""
        url = join_url(self.base_url, path)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s)
        if self.api_key:
            request.add_header("x-api-key", self.api_key)
        bearer = token or self.token
        if bearer:
            request.add_header("authorization", f"Bearer {bearer}")
        request.add_header("accept", "application/json")
        if data is not None:
            request.add_header("content-type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.read())

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """The body of a 2xx answer; ``ApiError`` otherwise."""
        status, decoded = self.request(method, path, body, **kwargs)
        if not 200 <= status < 300:
            raise ApiError(method, path, status, decoded)
        return decoded


def _decode(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")


@dataclass
class Target:
    api_url: str
    api_key: str
    # LocalStack only: the endpoint boto3 clients must use, and the Terraform outputs.
    endpoint: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    bucket: str | None = None

    @property
    def is_localstack(self) -> bool:
        return self.endpoint is not None

    def api(self, timeout: float = DEFAULT_TIMEOUT, token: str | None = None) -> Api:
        """The API as a client application (the key) and, with ``token``, as that person."""
        return Api(self.api_url, self.api_key, timeout, token)

    def client(self, service: str):
        """A boto3 client for this target (LocalStack's fixed test account, or the default
        credential chain on AWS). Imported here: only S3/Step Functions commands need boto3."""
        import boto3

        if self.endpoint:
            return boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=LOCALSTACK_REGION,
                aws_access_key_id="test",
                aws_secret_access_key="test",  # noqa: S106 - LocalStack's documented dummy
            )
        return boto3.client(service)

    def data_lake_bucket(self) -> str:
        bucket = self.bucket or self.outputs.get("data_lake_bucket")
        if not bucket:
            raise UsageError("no data lake bucket: pass --bucket or set TEXTLOOP_DATA_LAKE_BUCKET")
        return bucket


def read_outputs(state_dir: Path) -> dict[str, Any]:
    """The Terraform outputs of the stack deployed from ``state_dir``.

    The state file's ``outputs`` map is read directly (state format v4): it is instant and
    needs no ``terraform init`` of a data dir another run may have pointed elsewhere. The
    Terraform binary is the fallback for a state it cannot parse.
    """
    state_path = state_dir / "terraform.tfstate"
    if not state_path.exists():
        raise TargetError(f"no Terraform state in {state_dir}; run `make deploy-local`")
    try:
        state = json.loads(state_path.read_text())
        outputs = {name: item["value"] for name, item in state["outputs"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        from textloop_ops.terraform import local_stack

        outputs = local_stack(state_dir).outputs()
    if not outputs.get("api_url") or not outputs.get("api_key"):
        raise TargetError(f"the stack in {state_dir} has no api_url/api_key outputs yet")
    return outputs


def resolve_target(
    *,
    state_dir: Path | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    bucket: str | None = None,
    environ: dict[str, str] | None = None,
) -> Target:
    """The target the options (then the environment) name; LocalStack unless an API URL is
    given."""
    environ = os.environ if environ is None else environ
    api_url = api_url or environ.get("TEXTLOOP_API_URL") or None
    api_key = api_key or environ.get("TEXTLOOP_API_KEY") or None
    bucket = bucket or environ.get("TEXTLOOP_DATA_LAKE_BUCKET") or None
    if api_url:
        if not api_key:
            raise UsageError("--api-url needs --api-key (or TEXTLOOP_API_KEY)")
        return Target(api_url=api_url, api_key=api_key, bucket=bucket)
    if api_key:
        raise UsageError("--api-key needs --api-url (or TEXTLOOP_API_URL)")
    from textloop_ops import localstack

    state_dir = Path(state_dir or DEFAULT_STATE_DIR)
    try:
        endpoint = localstack.endpoint(state_dir)
    except RuntimeError as exc:  # no endpoint file: LocalStack is not running from there
        raise TargetError(str(exc)) from exc
    outputs = read_outputs(state_dir)
    return Target(
        api_url=outputs["api_url"],
        api_key=outputs["api_key"],
        endpoint=endpoint,
        outputs=outputs,
        bucket=bucket,
    )
