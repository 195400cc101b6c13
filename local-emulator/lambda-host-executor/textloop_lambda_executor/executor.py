"""LocalStack RuntimeExecutor that runs Python zip functions as host processes.

One execution environment is one process: ``python3.X runtime_bootstrap.py`` in its own process
group, cwd at the function's unzipped code, speaking LocalStack's runtime protocol (the one the
Go init speaks in a container). This module is LocalStack's side of that environment: it starts
and stops the process, sends invocations, and turns what only an outside observer can see —
the function timeout and the process dying — into the results AWS would report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

import requests
from localstack import config
from localstack.http import Response
from localstack.services.lambda_.invocation.executor_endpoint import (
    NAMESPACE,
    Endpoint,
    ShutdownDuringStartup,
    StatusErrorException,
    executor_router,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)
from werkzeug import Request

from textloop_lambda_executor import environment

LOG = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("runtime_bootstrap.py")
# The environment log file is truncated between invocations once it grows past this.
LOG_ROTATE_BYTES = 16 * 1024 * 1024
# CloudWatch takes at most 1 MiB per PutLogEvents batch; keep the end of very chatty invocations.
MAX_INVOCATION_LOG_BYTES = 1024 * 1024
# Environment variables whose defaults the executor supplies unless the function sets them.
_UNRESERVED_DEFAULTS = (
    "PATH",
    "LANG",
    "LD_LIBRARY_PATH",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


def _gateway_host() -> str:
    """Where a host process reaches LocalStack's gateway."""
    if config.HOSTNAME_FROM_LAMBDA:
        return config.HOSTNAME_FROM_LAMBDA
    host = config.GATEWAY_LISTEN[0].host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _describe_exit(returncode: int) -> str:
    """The wording of the AWS platform (a Go ExitError) for a runtime exit."""
    if returncode < 0:
        try:
            name = signal.strsignal(-returncode) or f"signal {-returncode}"
        except ValueError:
            name = f"signal {-returncode}"
        return f"Runtime exited with error: signal: {name.lower()}"
    if returncode == 0:
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: exit status {returncode}"


@dataclasses.dataclass
class _Invocation:
    request_id: str
    proc: subprocess.Popen
    log_offset: int
    started: float
    future: Future = dataclasses.field(default_factory=Future)
    logs: str | None = None
    # Set once the executor itself decided the outcome (timeout, process exit); late posts
    # from the runtime are then ignored.
    settled_by_executor: bool = False
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def resolve(self, result: InvocationResult, by_executor: bool = False) -> bool:
        with self.lock:
            if self.future.done() or self.settled_by_executor:
                return False
            if by_executor:
                self.settled_by_executor = True
            self.future.set_result(result)
            return True

    def claim(self) -> bool:
        """Reserves the outcome for the executor (before killing the process)."""
        with self.lock:
            if self.future.done() or self.settled_by_executor:
                return False
            self.settled_by_executor = True
            return True


class _HostEndpoint(Endpoint):
    """The callbacks LocalStack routes to ``/_localstack_lambda/<id>/...`` for one environment."""

    def __init__(self) -> None:
        self.startup: Future | None = None
        self.current: _Invocation | None = None

    def _matching(self, req_id: str) -> _Invocation | None:
        current = self.current
        return current if current is not None and current.request_id == req_id else None

    def invocation_response(self, request: Request, req_id: str) -> Response:
        inv = self._matching(req_id)
        if inv is not None:
            inv.resolve(InvocationResult(req_id, request.data, is_error=False, logs=inv.logs))
        return Response(status=HTTPStatus.ACCEPTED)

    def invocation_error(self, request: Request, req_id: str) -> Response:
        inv = self._matching(req_id)
        if inv is not None:
            inv.resolve(InvocationResult(req_id, request.data, is_error=True, logs=inv.logs))
        return Response(status=HTTPStatus.ACCEPTED)

    def invocation_logs(self, request: Request, invoke_id: str) -> Response:
        inv = self._matching(invoke_id)
        body = request.get_json(silent=True)
        if inv is not None and isinstance(body, dict):
            inv.logs = _cap_logs(str(body.get("logs") or ""))
        return Response(status=HTTPStatus.ACCEPTED)

    def status_ready(self, request: Request, executor_id: str) -> Response:
        startup = self.startup
        if startup is not None and not startup.done():
            with contextlib.suppress(Exception):
                startup.set_result(True)
        return Response(status=HTTPStatus.ACCEPTED)

    def status_error(self, request: Request, executor_id: str) -> Response:
        startup = self.startup
        if startup is None or startup.done():
            return Response(status=HTTPStatus.BAD_REQUEST)
        LOG.debug(
            "Lambda environment %s failed to initialise: %s",
            executor_id,
            request.data.decode("utf-8", "replace"),
        )
        with contextlib.suppress(Exception):
            startup.set_exception(
                StatusErrorException("Environment startup failed", payload=request.data)
            )
        return Response(status=HTTPStatus.ACCEPTED)


def _cap_logs(text: str) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= MAX_INVOCATION_LOG_BYTES:
        return text
    tail = data[-MAX_INVOCATION_LOG_BYTES:].decode("utf-8", "replace")
    return f"[textloop: {len(data) - MAX_INVOCATION_LOG_BYTES} bytes of logs dropped]\n{tail}"


class HostRuntimeExecutor(RuntimeExecutor):
    """One Lambda execution environment running as a host process (see module docstring)."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._endpoint = _HostEndpoint()
        self._lock = threading.RLock()
        self._invoke_lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._port: int | None = None
        self._env: dict[str, str] | None = None
        self._registered = False
        self._stopped = False
        self._next_log_offset = 0
        self._log_path = environment.version_dir(function_version) / "envs" / f"{id}.log"

    # -- process management

    def _process_env(self, env_vars: dict) -> dict[str, str]:
        fv_config = self.function_version.config
        version = environment.python_version_for(fv_config.runtime)
        user = fv_config.environment or {}
        opt = environment.opt_dir(self.function_version)
        python_dir = os.path.dirname(environment.resolve_interpreter(fv_config.runtime))
        env = {k: str(v) for k, v in env_vars.items() if v is not None}
        env.update(
            {
                # LocalStack passes the container paths; the process sees the host ones.
                "LAMBDA_TASK_ROOT": str(fv_config.code.get_unzipped_code_location()),
                "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_python{version}",
                # The directory that plays /opt (merged layers). Code that reads files shipped
                # in a layer should use os.environ.get("TEXTLOOP_OPT_DIR", "/opt").
                "TEXTLOOP_OPT_DIR": str(opt),
            }
        )
        defaults = {
            "PATH": os.pathsep.join(
                [str(opt / "bin"), python_dir, "/usr/local/bin", "/usr/bin", "/bin"]
            ),
            "LANG": "en_US.UTF-8",
            "LD_LIBRARY_PATH": str(opt / "lib"),
            # Keep the developer's ~/.aws profiles (regions, credential processes, endpoints)
            # out of the function, as on AWS where there are none.
            "AWS_CONFIG_FILE": str(environment.version_dir(self.function_version) / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(
                environment.version_dir(self.function_version) / "no-credentials"
            ),
        }
        for name in _UNRESERVED_DEFAULTS:
            if name not in user:
                env[name] = defaults[name]
        # Opt-in test instrumentation set on LocalStack's own process (runtime_bootstrap).
        if os.environ.get("TEXTLOOP_AWS_CALL_LOG"):
            env["TEXTLOOP_AWS_CALL_LOG"] = os.environ["TEXTLOOP_AWS_CALL_LOG"]
        return env

    def _argv(self, listen_fd: int) -> list[str]:
        fv_config = self.function_version.config
        version = environment.python_version_for(fv_config.runtime)
        argv = [
            environment.resolve_interpreter(fv_config.runtime),
            # -I: no PYTHON* variables, user site or script dir; -S: no site-packages of the
            # host interpreter (the handler gets task root, layers and boto3 only); -u: output
            # reaches the log unbuffered, so a crash loses nothing.
            "-I",
            "-S",
            "-u",
            str(BOOTSTRAP),
            "--listen-fd",
            str(listen_fd),
            "--task-root",
            str(fv_config.code.get_unzipped_code_location()),
            "--log-file",
            str(self._log_path),
            "--parent-pid",
            str(os.getpid()),
            "--sdk-path",
            str(environment.sdk_dir()),
        ]
        opt = environment.opt_dir(self.function_version)
        for path in environment.layer_import_paths(opt, version):
            argv += ["--layer-path", path]
        return argv

    def _spawn(self) -> None:
        """Starts a runtime process and blocks until it reported ready (or failed)."""
        with self._lock:
            if self._stopped:
                raise ShutdownDuringStartup("Environment stopped before its runtime started")
            # The listening socket is created here and inherited, so the port is known before
            # the process runs and no other process can grab it in between.
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                listener.bind(("127.0.0.1", 0))
                listener.listen(16)
                self._port = listener.getsockname()[1]
                startup: Future = Future()
                self._endpoint.startup = startup
                self._log_path.parent.mkdir(parents=True, exist_ok=True)
                # Output before the first START (module-level prints during init) belongs to
                # the first invocation's logs, as with LocalStack's Go init.
                self._next_log_offset = self._log_size()
                with open(self._log_path, "ab") as log:
                    proc = subprocess.Popen(  # noqa: S603 - our bootstrap, resolved interpreter
                        self._argv(listener.fileno()),
                        cwd=str(self.function_version.config.code.get_unzipped_code_location()),
                        env=self._env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        pass_fds=(listener.fileno(),),
                        # Own process group: stop() takes the handler's children down too.
                        start_new_session=True,
                    )
            finally:
                listener.close()
            self._proc = proc
            threading.Thread(
                target=self._watch,
                args=(proc, startup),
                name=f"lambda-host-{self.id}",
                daemon=True,
            ).start()

        try:
            startup.result(timeout=config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT + 5)
        except CancelledError as exc:
            raise ShutdownDuringStartup("Environment stopped during runtime startup") from exc
        except FutureTimeout as exc:
            self._kill(proc)
            raise LambdaRuntimeException(
                f"Runtime of {self.function_version.qualified_arn} did not report ready within "
                f"{config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT}s"
            ) from exc
        except StatusErrorException:
            LOG.warning(
                "Runtime log of %s:\n%s",
                self.function_version.qualified_arn,
                self.get_logs()[-4000:],
            )
            self._kill(proc)
            raise

    def _watch(self, proc: subprocess.Popen, startup: Future) -> None:
        returncode = proc.wait()
        if not startup.done():
            # Died before reporting ready or an init error: a crash during init, reported like
            # AWS does for it (Runtime.ExitError as the invocation's error).
            payload = json.dumps(
                {
                    # No request id exists yet during init.
                    "errorMessage": f"Error: {_describe_exit(returncode)}",
                    "errorType": "Runtime.ExitError",
                }
            ).encode()
            with contextlib.suppress(Exception):
                startup.set_exception(StatusErrorException("Runtime exited", payload=payload))
            return
        current = self._endpoint.current
        if current is not None and current.proc is proc and current.claim():
            message = f"RequestId: {current.request_id} Error: {_describe_exit(returncode)}"
            logs = self._logs_since(current.log_offset, current.request_id)
            logs += f"{message}\nRuntime.ExitError\n" + self._end_report(current)
            current.future.set_result(
                InvocationResult(
                    current.request_id,
                    json.dumps(
                        {"errorMessage": message, "errorType": "Runtime.ExitError"}
                    ).encode(),
                    is_error=True,
                    logs=_cap_logs(logs),
                )
            )

    def _kill(self, proc: subprocess.Popen | None) -> None:
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- logs

    def _log_size(self) -> int:
        try:
            return self._log_path.stat().st_size
        except OSError:
            return 0

    def _logs_since(self, offset: int, request_id: str) -> str:
        try:
            with open(self._log_path, "rb") as fh:
                fh.seek(offset)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        if "START RequestId:" not in text:
            version = self.function_version.id.qualifier
            text = f"START RequestId: {request_id} Version: {version}\n{text}"
        if text and not text.endswith("\n"):
            text += "\n"
        return text

    def _end_report(self, inv: _Invocation, status: str = "") -> str:
        duration = (time.monotonic() - inv.started) * 1000
        memory = self.function_version.config.memory_size
        return (
            f"END RequestId: {inv.request_id}\n"
            f"REPORT RequestId: {inv.request_id}\tDuration: {duration:.2f} ms\t"
            f"Billed Duration: {max(math.ceil(duration), 1)} ms\tMemory Size: {memory} MB\t"
            f"Max Memory Used: {memory} MB\t{status}\n"
        )

    # -- RuntimeExecutor

    def start(self, env_vars: dict[str, str]) -> None:
        self._env = self._process_env(env_vars)
        executor_router().register_endpoint(self.id, self._endpoint)
        self._registered = True
        self._spawn()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            proc = self._proc
        startup = self._endpoint.startup
        if startup is not None and not startup.done():
            startup.cancel()
        current = self._endpoint.current
        if current is not None and current.claim():
            current.future.cancel()
        self._kill(proc)
        if self._registered:
            with contextlib.suppress(KeyError):
                executor_router().unregister_endpoint(self.id)
            self._registered = False
        with contextlib.suppress(OSError):
            self._log_path.unlink()

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return _gateway_host()

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{_gateway_host()}:{port}{NAMESPACE}/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        with self._invoke_lock:
            if self._stopped:
                raise LambdaRuntimeException(f"Environment {self.id} is stopped")
            if not self._alive():
                # The previous process timed out or crashed: AWS starts a fresh one (cold
                # start) for the next invocation; so do we.
                self._spawn()
            if self._log_size() > LOG_ROTATE_BYTES:
                with contextlib.suppress(OSError):
                    os.truncate(self._log_path, 0)
                    self._next_log_offset = 0
            inv = _Invocation(
                request_id=payload["invoke-id"],
                proc=self._proc,
                log_offset=min(self._next_log_offset, self._log_size()),
                started=time.monotonic(),
            )
            self._endpoint.current = inv
            try:
                try:
                    self._send(payload)
                except (requests.RequestException, LambdaRuntimeException):
                    # If the process died meanwhile, the watcher reports that as the result.
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        inv.proc.wait(timeout=1)
                    if inv.proc.poll() is None:
                        raise
                timeout = self.function_version.config.timeout
                try:
                    return inv.future.result(timeout=timeout)
                except FutureTimeout:
                    if not inv.claim():
                        return inv.future.result()
                    return self._timed_out(inv, timeout)
            finally:
                self._endpoint.current = None
                self._next_log_offset = self._log_size()

    def _send(self, payload: dict[str, str]) -> None:
        url = f"http://127.0.0.1:{self._port}/invoke"
        # The socket is listening from before the process starts, so connection errors mean
        # the process is gone; a couple of retries only cover a transient hiccup.
        for attempt in range(3):
            try:
                response = requests.post(
                    url, json=payload, proxies={"http": "", "https": ""}, timeout=30
                )
                break
            except requests.ConnectionError:
                if attempt == 2:
                    raise
                time.sleep(0.1)
        if not response.ok:
            raise LambdaRuntimeException(
                f"Runtime rejected invocation {payload.get('invoke-id')}: {response.status_code}"
            )

    def _timed_out(self, inv: _Invocation, timeout: int) -> InvocationResult:
        self._kill(inv.proc)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        logs = self._logs_since(inv.log_offset, inv.request_id)
        logs += f"{stamp} {inv.request_id} Task timed out after {timeout}.00 seconds\n"
        logs += self._end_report(inv, status="Status: timeout")
        error = {
            "errorMessage": (
                f"RequestId: {inv.request_id} Error: Task timed out after {timeout}.00 seconds"
            ),
            "errorType": "Sandbox.Timedout",
        }
        result = InvocationResult(
            inv.request_id, json.dumps(error).encode(), is_error=True, logs=_cap_logs(logs)
        )
        inv.future.set_result(result)
        return result

    def get_logs(self) -> str:
        try:
            with open(self._log_path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                fh.seek(max(size - 64 * 1024, 0))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        try:
            environment.prepare(function_version)
        except Exception as exc:
            # LocalStack only records this in the function's StateReason (and a debug log);
            # say it where people look.
            LOG.warning("Cannot run %s on the host: %s", function_version.qualified_arn, exc)
            raise

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        environment.cleanup(function_version)

    @classmethod
    def validate_environment(cls) -> bool:
        LOG.info("Lambda functions run as host processes (textloop host executor)")
        return True
