"""Start, stop and locate a host-mode LocalStack for textloop (no Docker needed).

Stdlib only: it is run both by the project venv and by a plain ``python3`` (from the
repository root, which ``-m`` puts on the path):

    python3 -m textloop_ops.localstack up --state-dir .localstack [--port N] [--services s3,sqs]
    python3 -m textloop_ops.localstack endpoint --state-dir .localstack
    python3 -m textloop_ops.localstack down --state-dir .localstack

LocalStack runs from its own venv (default ``<repo>/.venv-localstack``) with the host Lambda
executor (``LAMBDA_RUNTIME_EXECUTOR=host``) and the moto-backed DynamoDB provider
(``PROVIDER_OVERRIDE_DYNAMODB=moto``) from ``local-emulator/``. Everything it writes lives under
the state directory: ``localstack.log``, ``pid``, ``endpoint``, the volume and filesystem roots.

For pytest fixtures::

    info = start(tmp_dir)   # {"endpoint": "http://127.0.0.1:PORT", "pid": ..., "port": ...}
    stop(tmp_dir)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO_ROOT / ".venv-localstack"
DEFAULT_SERVICES = (
    "s3,sqs,sns,ssm,iam,sts,logs,events,stepfunctions,apigateway,firehose,lambda,dynamodb,"
    "cloudwatch,kms"
)
# 4566 is LocalStack's well-known port: another LocalStack (or a developer's Docker one) may own it.
RESERVED_PORT = 4566
START_TIMEOUT_S = float(os.environ.get("TEXTLOOP_LOCALSTACK_START_TIMEOUT", "180"))
STOP_TIMEOUT_S = 20.0
RUNTIME_MODULE = "localstack.runtime.main"

# Popen handles of LocalStacks started by this Python process, so that stop() can reap them
# (a dead but unreaped child still answers kill(pid, 0)).
_CHILDREN: dict[int, subprocess.Popen] = {}


class LocalStackError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# helpers


def _paths(state_dir: Path) -> dict[str, Path]:
    return {
        "pid": state_dir / "pid",
        "endpoint": state_dir / "endpoint",
        "log": state_dir / "localstack.log",
        "lock": state_dir / ".lock",
    }


@contextlib.contextmanager
def _locked(state_dir: Path):
    """Serialises up/down on one state dir (parallel test workers may share it)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(_paths(state_dir)["lock"], "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def free_port(host: str = "127.0.0.1") -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port != RESERVED_PORT:
            return port


def _read_pid(state_dir: Path) -> int | None:
    try:
        return int(_paths(state_dir)["pid"].read_text().strip())
    except (OSError, ValueError):
        return None


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[0] == "Z"


def _reap(pid: int) -> None:
    proc = _CHILDREN.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            _CHILDREN.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_our_localstack(pid: int) -> bool:
    """Guards against PID reuse: only a live LocalStack runtime counts as "ours"."""
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        # No /proc (macOS): fall back to trusting the pid file plus the process group check.
        return os.getpgid(pid) == pid
    return RUNTIME_MODULE.encode() in cmdline


def _http_json(url: str, timeout: float = 2.0):
    # LocalStack is always local: never send these requests through a proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def _healthy(endpoint: str) -> bool:
    try:
        _http_json(f"{endpoint}/_localstack/health")
        ready = _http_json(f"{endpoint}/_localstack/init/ready")
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return bool(isinstance(ready, dict) and ready.get("completed"))


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _bind_failed(log: Path) -> bool:
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - 16384, 0))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return False
    return "CannotListenError" in text or "Address already in use" in text


def _port_from_endpoint(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1].split("/", 1)[0])


# --------------------------------------------------------------------------------------------
# API


def running(state_dir: str | os.PathLike) -> dict | None:
    """The running, healthy LocalStack of this state dir as start() describes it, else None."""
    state_dir = Path(state_dir).resolve()
    pid = _read_pid(state_dir)
    if pid is None or not _is_our_localstack(pid):
        return None
    try:
        endpoint = _paths(state_dir)["endpoint"].read_text().strip()
    except OSError:
        return None
    if not endpoint or not _healthy(endpoint):
        return None
    return {"endpoint": endpoint, "pid": pid, "port": _port_from_endpoint(endpoint)}


def start(
    state_dir: str | os.PathLike,
    port: int | None = None,
    services: str | None = None,
    venv: str | os.PathLike | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT_S,
) -> dict:
    """Starts LocalStack for state_dir (or returns the one already running there).

    Returns ``{"endpoint": "http://127.0.0.1:PORT", "pid": PID, "port": PORT}``.
    """
    state_dir = Path(state_dir).resolve()
    with _locked(state_dir):
        current = running(state_dir)
        if current:
            return current
        # A stale pid file (crashed LocalStack, reboot) must not keep us from starting.
        _cleanup_files(state_dir)

        python = Path(venv or DEFAULT_VENV) / "bin" / "python"
        if not python.exists():
            raise LocalStackError(
                f"LocalStack venv not found: {python} does not exist. Run `make setup` "
                "(or pass --venv / venv=) first."
            )
        if port == RESERVED_PORT:
            raise LocalStackError(f"port {RESERVED_PORT} is reserved; pick another one")

        # An auto-picked port can be taken by someone else before LocalStack binds it; retry
        # with a fresh one in that case. A port given by the caller is tried once.
        attempts = 1 if port else 3
        last_error: LocalStackError | None = None
        for _ in range(attempts):
            chosen = port or free_port()
            try:
                return _spawn(state_dir, python, chosen, services, extra_env, timeout)
            except _PortInUse as exc:
                last_error = exc
        raise last_error or LocalStackError("LocalStack did not start")


class _PortInUse(LocalStackError):
    pass


def _spawn(
    state_dir: Path,
    python: Path,
    port: int,
    services: str | None,
    extra_env: dict[str, str] | None,
    timeout: float,
) -> dict:
    paths = _paths(state_dir)
    env = dict(os.environ)
    env.update(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "LOCALSTACK_VOLUME_DIR": str(state_dir / "volume"),
            "FILESYSTEM_ROOT": str(state_dir / "filesystem"),
            # Lambda code archives are unzipped below the temp dir; keep them in the state dir.
            # TMP rather than TMPDIR: LocalStack warns about TMPDIR as a deprecated setting.
            "TMP": str(state_dir / "tmp"),
            "DISABLE_EVENTS": "1",
            "LAMBDA_RUNTIME_EXECUTOR": "host",
            "PROVIDER_OVERRIDE_DYNAMODB": "moto",
            "SERVICES": services or DEFAULT_SERVICES,
        }
    )
    # No internet here: skip the TLS certificate download and the DNS server (which needs an
    # upstream resolver); both only add start-up time and warnings. Callers may override.
    env.setdefault("SKIP_SSL_CERT_DOWNLOAD", "1")
    env.setdefault("DNS_ADDRESS", "0")
    # Function init (imports of boto3, scikit-learn...) on a busy 2-core machine can take longer
    # than LocalStack's 20 s default for an execution environment to report ready.
    env.setdefault("LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT", "60")
    # The venv is not activated; make sure nothing from the caller's venv leaks into LocalStack.
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "TMPDIR", "TEMP"):
        env.pop(var, None)
    env.update(extra_env or {})
    for sub in ("volume", "filesystem", "tmp"):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)

    endpoint = f"http://127.0.0.1:{port}"
    with open(paths["log"], "wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own venv
            [str(python), "-m", RUNTIME_MODULE],
            cwd=state_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Own process group: `down` signals exactly this group and nothing else.
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    paths["pid"].write_text(f"{proc.pid}\n")

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _CHILDREN.pop(proc.pid, None)
            paths["pid"].unlink(missing_ok=True)
            raise LocalStackError(
                f"LocalStack exited with code {proc.returncode} before becoming healthy "
                f"(log {paths['log']}):\n{_log_tail(paths['log'])}"
            )
        if _bind_failed(paths["log"]):
            # LocalStack logs the failed listen and keeps running without a gateway.
            tail = _log_tail(paths["log"])
            _terminate_group(proc.pid, timeout=5)
            _cleanup_files(state_dir)
            raise _PortInUse(
                f"LocalStack could not listen on 127.0.0.1:{port} (log {paths['log']}):\n{tail}"
            )
        if _healthy(endpoint):
            paths["endpoint"].write_text(f"{endpoint}\n")
            return {"endpoint": endpoint, "pid": proc.pid, "port": port}
        time.sleep(0.25)

    tail = _log_tail(paths["log"])
    _terminate_group(proc.pid, timeout=5)
    _cleanup_files(state_dir)
    raise LocalStackError(
        f"LocalStack did not become healthy at {endpoint} within {timeout:.0f}s "
        f"(log {paths['log']}):\n{tail}"
    )


def _terminate_group(pid: int, timeout: float = STOP_TIMEOUT_S) -> None:
    # Only signal the group if it is the one start() created (pgid == pid).
    try:
        if os.getpgid(pid) != pid:
            os.kill(pid, signal.SIGTERM)
        else:
            os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    # Whatever is left of the group (LocalStack itself if it hung, or helpers it spawned).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)


def _cleanup_files(state_dir: Path) -> None:
    paths = _paths(state_dir)
    paths["pid"].unlink(missing_ok=True)
    paths["endpoint"].unlink(missing_ok=True)


def stop(state_dir: str | os.PathLike) -> bool:
    """Stops the LocalStack started from state_dir. Returns False if none was running."""
    state_dir = Path(state_dir).resolve()
    if not state_dir.exists():
        return False
    with _locked(state_dir):
        pid = _read_pid(state_dir)
        was_running = pid is not None and _is_our_localstack(pid)
        if was_running:
            _terminate_group(pid)
        _cleanup_files(state_dir)
        return was_running


def endpoint(state_dir: str | os.PathLike) -> str:
    """The endpoint ``start`` recorded in ``state_dir`` (read, not probed: the CLI and test
    fixtures point at it); ``LocalStackError`` when there is none."""
    path = _paths(Path(state_dir))["endpoint"]
    if not path.exists():
        raise LocalStackError(f"no LocalStack running from {state_dir}; run `make localstack-up`")
    return path.read_text().strip()


# --------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "endpoint"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--state-dir", required=True, type=Path)
        if name == "up":
            cmd.add_argument("--port", type=int, default=None)
            cmd.add_argument("--services", default=None, help=f"default: {DEFAULT_SERVICES}")
            cmd.add_argument("--venv", type=Path, default=None, help=f"default: {DEFAULT_VENV}")
            cmd.add_argument("--timeout", type=float, default=START_TIMEOUT_S)
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            info = start(
                args.state_dir,
                port=args.port,
                services=args.services,
                venv=args.venv,
                timeout=args.timeout,
            )
            print(info["endpoint"])
            return 0
        if args.command == "down":
            stop(args.state_dir)
            return 0
        info = running(args.state_dir)
        if info is None:
            print(f"no LocalStack running for {args.state_dir}", file=sys.stderr)
            return 1
        print(info["endpoint"])
        return 0
    except LocalStackError as exc:
        print(f"localstack: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
