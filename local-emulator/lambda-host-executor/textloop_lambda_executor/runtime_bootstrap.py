"""Runtime side of the textloop host Lambda executor.

The executor starts this file with the function's own interpreter
(``python3.X -I -S -u runtime_bootstrap.py ...``), so it must stay a single stdlib-only file that
runs on every Python a Lambda runtime may name (3.9+). It plays the part that LocalStack's Go
init plus AWS's Python runtime interface client play in a Lambda container:

* serves ``POST /invoke`` ({"invoke-id", "invoked-function-arn", "payload", "trace-id"}) on a
  listening socket the executor created and handed over (so there is no port race), answering
  200 at once and queueing the invocation for the main thread;
* imports the handler (``_HANDLER``) and reports ``<endpoint>/status/<id>/ready`` or, if the
  import fails, ``<endpoint>/status/<id>/error`` with the error document the AWS runtime sends;
* per invocation writes ``START``/``END``/``REPORT`` lines, runs the handler with an AWS-like
  context, then posts ``/invocations/<id>/logs`` followed by ``/response`` or ``/error``.

Timeouts and hard crashes are the executor's job: it watches this process from outside, which
also works when the handler never gives the interpreter a chance to run Python code again.
"""

from __future__ import annotations

import argparse
import contextlib
import decimal
import faulthandler
import http.server
import importlib
import json
import logging
import math
import os
import queue
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.request

_PROCESS_START = time.monotonic()

# What the AWS runtime interface client reports for handler problems (FaultException types).
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
MARSHAL_ERROR = "Runtime.MarshalError"

# Talking to LocalStack must never go through a proxy configured for the function.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_current_request_id = ""
# The runtime's own lines (START/END/REPORT, errors) go to the real log even if a handler
# replaces sys.stdout.
_OUT = sys.stdout


class Fault(Exception):
    def __init__(self, error_type: str, message: str, trace: list[str] | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


# --------------------------------------------------------------------------------------------
# context object, as the AWS Python runtime builds it


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self) -> None:
        self.cognito_identity_id = None
        self.cognito_identity_pool_id = None

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class LambdaContext:
    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: int) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, as on AWS (the runtime copies the environment variable).
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = None
        self.identity = CognitoIdentity()
        self.tenant_id = None
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._epoch_deadline_time_in_ms - int(time.time() * 1000), 0)

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )


# --------------------------------------------------------------------------------------------
# logging as on AWS: a root handler in the Lambda text format, request id included


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current_request_id
        return True


def _setup_logging() -> None:
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    if level in logging._nameToLevel:
        root.setLevel(level)


def _log_error(error: dict) -> None:
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}".rstrip(": ")]
    if error.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        for element in error["stackTrace"]:
            lines.extend(element.rstrip("\n").splitlines())
    _OUT.write("\n".join(lines) + "\n")


def _flush_all() -> None:
    for stream in (sys.stdout, sys.stderr, _OUT):
        # A handler may have replaced or closed sys.stdout/sys.stderr.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()


def _user_frames(tb) -> list[str]:
    frames = traceback.extract_tb(tb)
    # Drop this file's own frames so the trace starts in user code, as AWS reports it.
    while frames and frames[0].filename == __file__:
        frames = frames[1:]
    return traceback.format_list(frames)


def _error_document(exc: BaseException, request_id: str) -> dict:
    if isinstance(exc, Fault):
        error_type, message, trace = exc.error_type, exc.message, exc.trace
    else:
        error_type, message, trace = type(exc).__name__, str(exc), _user_frames(exc.__traceback__)
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": trace,
    }


# --------------------------------------------------------------------------------------------
# handler import


def load_handler(spec: str):
    try:
        modname, fname = spec.rsplit(".", 1)
    except ValueError as exc:
        raise Fault(MALFORMED_HANDLER_NAME, f"Bad handler '{spec}': {exc}") from None
    if modname.split(".")[0] in sys.builtin_module_names:
        raise Fault(
            BUILT_IN_MODULE_CONFLICT, f"Cannot use built-in module {modname} as a handler module"
        )
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        raise Fault(IMPORT_MODULE_ERROR, f"Unable to import module '{modname}': {exc}") from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise Fault(
            USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{modname}': {exc}", trace
        ) from None
    try:
        return getattr(module, fname)
    except AttributeError:
        raise Fault(HANDLER_NOT_FOUND, f"Handler '{fname}' missing on module '{modname}'") from None


def _json_default(obj: object) -> object:
    # The AWS runtime serialises Decimal (e.g. from DynamoDB) as a JSON number.
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def marshal(result: object) -> bytes:
    if isinstance(result, bytes):
        return result
    try:
        return json.dumps(result, default=_json_default).encode("utf-8")
    except (TypeError, ValueError, OverflowError) as exc:
        raise Fault(MARSHAL_ERROR, f"Unable to marshal response: {exc}") from None


def _max_rss_mb() -> int:
    # VmHWM is this process's own peak; getrusage's ru_maxrss would include the peak of the
    # process that forked us (LocalStack), which survives exec on Linux.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    try:
        import resource  # not on every platform

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return 0
    return int(rss / (1024 * 1024 if sys.platform == "darwin" else 1024))


# --------------------------------------------------------------------------------------------
# the runtime


class _InvokeHandler(http.server.BaseHTTPRequestHandler):
    server: _InvokeServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.rstrip("/") != "/invoke":
            self.send_error(404)
            return
        try:
            invocation = json.loads(body)
        except ValueError:
            self.send_error(400, "invalid JSON")
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")
        self.wfile.flush()
        # Queue only after answering: the handler may end the process (sys.exit) at once, and
        # LocalStack must not see a half-written answer to its invoke request.
        self.server.invocations.put(invocation)

    def log_message(self, format: str, *args: object) -> None:
        # Request logging would land in the function's log stream.
        pass


class _InvokeServer(http.server.HTTPServer):
    def __init__(self, listen_fd: int) -> None:
        sock = socket.socket(fileno=listen_fd)
        super().__init__(sock.getsockname()[:2], _InvokeHandler, bind_and_activate=False)
        self.socket.close()  # the unbound socket TCPServer made; ours is already listening
        self.socket = sock
        self.invocations: queue.Queue = queue.Queue()


class Runtime:
    def __init__(self, args: argparse.Namespace) -> None:
        self.endpoint = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"].rstrip("/")
        if not self.endpoint.startswith(("http://", "https://")):
            raise SystemExit(f"LOCALSTACK_RUNTIME_ENDPOINT is not an http URL: {self.endpoint}")
        self.runtime_id = os.environ["LOCALSTACK_RUNTIME_ID"]
        self.handler_spec = os.environ.get("_HANDLER", "")
        self.timeout_s = int(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
        self.version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_file = args.log_file
        self.log_mark = os.fstat(1).st_size if args.log_file else 0
        self.parent_pid = args.parent_pid
        self.server = _InvokeServer(args.listen_fd)
        self.handler = None
        self.init_duration_ms: float | None = None

    # -- LocalStack API

    def _post(self, path: str, body: bytes) -> None:
        # The endpoint is LocalStack's own http:// URL (checked in __init__).
        request = urllib.request.Request(  # noqa: S310
            f"{self.endpoint}{path}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=60) as resp:
                resp.read()
        except OSError as exc:
            sys.stderr.write(f"textloop runtime: POST {path} failed: {exc}\n")

    def _collect_logs(self) -> str:
        """Everything written to the log file since the previous collection."""
        if not self.log_file:
            return ""
        _flush_all()
        with open(self.log_file, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            # The executor truncates the file between invocations when it grows large.
            if self.log_mark > size:
                self.log_mark = 0
            fh.seek(self.log_mark)
            data = fh.read(size - self.log_mark)
        self.log_mark = size
        return data.decode("utf-8", errors="replace")

    # -- lifecycle

    def _watch_parent(self) -> None:
        # LocalStack normally stops us; if it dies without doing so (SIGKILL, crash), take the
        # whole process group down instead of lingering as an orphan.
        while True:
            time.sleep(1.0)
            if os.getppid() != self.parent_pid:
                os.killpg(os.getpgrp(), signal.SIGKILL)

    def init(self) -> None:
        global _current_request_id
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        if self.parent_pid:
            threading.Thread(target=self._watch_parent, daemon=True).start()
        try:
            self.handler = load_handler(self.handler_spec)
        except Exception as exc:  # noqa: BLE001 - any import-time error is an init error
            error = _error_document(exc, "")
            _log_error(error)
            _flush_all()
            self._post(f"/status/{self.runtime_id}/error", json.dumps(error).encode())
            sys.exit(1)
        self.init_duration_ms = (time.monotonic() - _PROCESS_START) * 1000
        _current_request_id = ""
        self._post(f"/status/{self.runtime_id}/ready", b"{}")

    def serve(self) -> None:
        while True:
            self.invoke(self.server.invocations.get())

    def invoke(self, invocation: dict) -> None:
        global _current_request_id
        request_id = invocation.get("invoke-id") or ""
        _current_request_id = request_id
        trace_id = invocation.get("trace-id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)

        started = time.monotonic()
        deadline_ms = int(time.time() * 1000) + self.timeout_s * 1000
        context = LambdaContext(request_id, invocation.get("invoked-function-arn", ""), deadline_ms)
        _OUT.write(f"START RequestId: {request_id} Version: {self.version}\n")

        body, error = b"", None
        try:
            payload = invocation.get("payload") or ""
            try:
                event = json.loads(payload) if payload.strip() else {}
            except ValueError as exc:
                raise Fault(UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}") from None
            body = marshal(self.handler(event, context))
        except SystemExit as exc:
            self._exit_like_aws(exc)
        except Exception as exc:  # noqa: BLE001 - every handler error is reported, not raised
            error = _error_document(exc, request_id)
            _log_error(error)

        duration = (time.monotonic() - started) * 1000
        init = ""
        if self.init_duration_ms is not None:
            init = f"Init Duration: {self.init_duration_ms:.2f} ms\t"
            self.init_duration_ms = None
        _OUT.write(
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\t{init}Duration: {duration:.2f} ms\t"
            f"Billed Duration: {max(math.ceil(duration), 1)} ms\t"
            f"Memory Size: {self.memory} MB\tMax Memory Used: {_max_rss_mb()} MB\t\n"
        )
        logs = self._collect_logs()
        _current_request_id = ""
        self._post(f"/invocations/{request_id}/logs", json.dumps({"logs": logs}).encode())
        if error is not None:
            self._post(f"/invocations/{request_id}/error", json.dumps(error).encode())
        else:
            self._post(f"/invocations/{request_id}/response", body)

    @staticmethod
    def _exit_like_aws(exc: SystemExit) -> None:
        # On AWS, sys.exit() in a handler ends the runtime process and the platform reports
        # Runtime.ExitError. Exit right here (os._exit: no waiting for non-daemon threads the
        # handler may have started); the executor sees the exit and reports it.
        code = exc.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code & 0xFF
        else:
            sys.stderr.write(f"{code}\n")
            status = 1
        _flush_all()
        os._exit(status)


def _configure_path(task_root: str, layer_paths: list[str], sdk_path: str) -> None:
    # AWS order: task root, layers, PYTHONPATH entries, the runtime's boto3, then the stdlib.
    user = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    front = [task_root, *layer_paths, *user]
    if sdk_path:
        front.append(sdk_path)
    ordered: list[str] = []
    for entry in front:
        if entry not in ordered:
            ordered.append(entry)
    sys.path[:] = ordered + [p for p in sys.path if p and p not in ordered]


# Parameters that name the resource an AWS call acts on; values of anything else (object bodies,
# items, texts) are never recorded.
_RESOURCE_PARAMS = (
    "Bucket",
    "Key",
    "VersionId",
    "Prefix",
    "CopySource",
    "TableName",
    "Name",
    "Path",
    "TopicArn",
    "stateMachineArn",
    "executionArn",
    "KeyId",
    "FunctionName",
    "QueueUrl",
    "DeliveryStreamName",
    "HumanLoopName",
    "FlowDefinitionArn",
    "EndpointArn",
    "DocumentClassifierArn",
    "EntityRecognizerArn",
    "JobId",
    "RoleArn",
    "DataAccessRoleArn",
)


def _record_aws_calls(path: str) -> None:
    """Test instrumentation, on only when the executor passes TEXTLOOP_AWS_CALL_LOG: append one
    JSON line per AWS API call the function makes (service, operation, the parameters that name
    its resource), so a test can compare what the code calls with what its IAM role allows."""
    import botocore.client

    original = botocore.client.BaseClient._make_api_call
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")

    def recorded(client, operation_name, api_params):
        model = client.meta.service_model
        entry = {
            "function": function,
            "service": model.service_name,
            "iam_prefix": model.signing_name,
            "operation": operation_name,
            "region": client.meta.region_name,
            "params": {
                k: v for k, v in api_params.items() if k in _RESOURCE_PARAMS and isinstance(v, str)
            },
        }
        # One write(2) per line on an O_APPEND file: concurrent functions never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
        finally:
            os.close(fd)
        return original(client, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = recorded


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--task-root", required=True)
    parser.add_argument("--log-file", default="")
    parser.add_argument("--parent-pid", type=int, default=0)
    # Layer import roots (after the task root, in order) and the boto3 directory (last).
    parser.add_argument("--layer-path", action="append", default=[])
    parser.add_argument("--sdk-path", default="")
    args = parser.parse_args(argv)

    # The interpreter runs with -S (no site-packages of the host Python leak in); restore the
    # exit()/quit() builtins that `site` would have provided, since handlers do use them.
    import site

    if hasattr(site, "setquit"):
        site.setquit()
    faulthandler.enable()
    _configure_path(args.task_root, args.layer_path, args.sdk_path)
    os.chdir(args.task_root)
    _setup_logging()
    if os.environ.get("TEXTLOOP_AWS_CALL_LOG"):
        _record_aws_calls(os.environ["TEXTLOOP_AWS_CALL_LOG"])

    runtime = Runtime(args)
    runtime.init()
    runtime.serve()


if __name__ == "__main__":
    main()
