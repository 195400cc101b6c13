"""Runs the project's real Lambda handlers in-process whenever moto invokes a function.

moto has no Docker-free Lambda mode; every invocation path (direct Invoke, Step Functions tasks,
event sources) goes through `LambdaFunction._invoke_lambda`, so replacing that one method runs
the handler from functions/<name>/ against moto's in-memory AWS in the same process.
"""

import json
import os
import runpy
import threading
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from moto.awslambda.models import LambdaFunction

from . import FUNCTIONS


@dataclass
class Context:
    """The attributes of the AWS LambdaContext that handlers and powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"in-process/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@contextmanager
def _environment(values: dict[str, str]):
    saved = dict(os.environ)
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class InProcessLambdas:
    """Maps deployed function names to source folders under functions/ and runs them."""

    def __init__(self, functions_dir: Path = FUNCTIONS):
        self.functions_dir = functions_dir
        self.sources: dict[str, Path] = {}
        self._modules: dict[str, dict] = {}
        self.invocations: list[tuple[str, dict]] = []
        # Handlers read os.environ, which is process-wide: moto's Step Functions thread and the
        # test's own thread must not run two handlers (two environments) at once. Re-entrant,
        # because a handler may invoke another function synchronously.
        self._serial = threading.RLock()

    def register(self, function_name: str, source: str) -> None:
        path = self.functions_dir / source
        if not path.is_dir():
            raise FileNotFoundError(f"no function source at {path}")
        self.sources[function_name] = path

    def _handler(self, fn: LambdaFunction):
        # As the Lambda runtime does: run the function's handler file once per function (each
        # deployed function is its own process there, with its own Stack), then call its handler.
        if fn.function_name not in self._modules:
            module_name, _, _ = fn.handler.rpartition(".")
            path = self.sources[fn.function_name] / f"{module_name}.py"
            self._modules[fn.function_name] = runpy.run_path(str(path))
        return self._modules[fn.function_name][fn.handler.rpartition(".")[2]]

    def invoke(self, fn: LambdaFunction, event: str | bytes | dict | None) -> tuple[str, bool, str]:
        if fn.function_name not in self.sources:
            raise KeyError(f"function {fn.function_name} is not registered with InProcessLambdas")
        # moto hands over the payload as a string from Invoke and as a dict from Step Functions.
        payload = json.loads(event) if isinstance(event, str | bytes) else dict(event or {})
        self.invocations.append((fn.function_name, payload))
        env = {
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
            **(fn.environment_vars or {}),
        }
        context = Context(
            function_name=fn.function_name,
            function_version=str(fn.version),
            invoked_function_arn=fn.function_arn,
            memory_limit_in_mb=int(fn.memory_size),
            timeout_seconds=int(fn.timeout),
        )
        with self._serial, _environment(env):
            try:
                result = self._handler(fn)(payload, context)
                return json.dumps(result), False, ""
            except Exception as exc:  # noqa: BLE001 - every error becomes the Lambda's error payload
                error = {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
                return json.dumps(error), True, traceback.format_exc()

    def install(self, monkeypatch) -> None:
        runner = self

        def _invoke_lambda(self: LambdaFunction, event=None):
            return runner.invoke(self, event)

        monkeypatch.setattr(LambdaFunction, "_invoke_lambda", _invoke_lambda)
