"""The host Lambda executor, end to end through LocalStack's Lambda API."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from emulator_helpers import pid_alive, wait_active, zip_files

APP = """
import json
import os
import signal
import sys
import time

CALLS = 0
print("init: module imported")


def handler(event, context):
    global CALLS
    CALLS += 1
    action = event.get("action", "echo")
    if action == "echo":
        return {
            "event": event,
            "pid": os.getpid(),
            "calls": CALLS,
            "cwd": os.getcwd(),
            "sys_path": sys.path,
            "context": {
                "function_name": context.function_name,
                "function_version": context.function_version,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "aws_request_id": context.aws_request_id,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining_ms": context.get_remaining_time_in_millis(),
            },
        }
    if action == "raise":
        raise ValueError("bad input: " + event.get("msg", ""))
    if action == "sleep":
        time.sleep(event["seconds"])
        return {"pid": os.getpid()}
    if action == "exit":
        sys.exit(event.get("code", 1))
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "env":
        return dict(os.environ)
    if action == "print":
        print(event["marker"])
        return {"pid": os.getpid()}
    if action == "imports":
        found = {}
        for name in ("boto3", "botocore", "dateutil", "localstack", "moto", "requests", "werkzeug"):
            try:
                module = __import__(name)
            except ImportError:
                found[name] = None
            else:
                found[name] = getattr(module, "__file__", "?")
        return found
    if action == "s3_put":
        import boto3

        boto3.client("s3").put_object(
            Bucket=event["bucket"], Key=event["key"], Body=json.dumps(event).encode()
        )
        account = boto3.client("sts").get_caller_identity()["Account"]
        return {"account": account, "boto3": boto3.__version__}
    raise KeyError(action)
"""


def invoke(lam, name: str, event: dict, **kwargs) -> tuple[dict, dict]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    body = response["Payload"].read()
    return response, (json.loads(body) if body else None)


def tail_logs(response: dict) -> str:
    return base64.b64decode(response.get("LogResult", "")).decode()


@pytest.fixture(scope="module")
def lam(client):
    return client("lambda")


@pytest.fixture(scope="module")
def app(create_function, lambda_pids, lam):
    name = create_function({"app.py": APP}, environment={"APP_SETTING": "forty-two"})
    _, body = invoke(lam, name, {})
    lambda_pids.add(body["pid"])
    return name


def test_sync_invoke_returns_value_with_aws_like_context(lam, app, endpoint):
    start = time.monotonic()
    response, body = invoke(lam, app, {"action": "echo", "n": 1}, LogType="Tail")
    warm_ms = (time.monotonic() - start) * 1000

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body["event"] == {"action": "echo", "n": 1}
    ctx = body["context"]
    assert ctx["function_name"] == app
    assert ctx["function_version"] == "$LATEST"
    assert ctx["memory_limit_in_mb"] == "128"  # a string, as the AWS runtime passes it
    assert ctx["invoked_function_arn"].endswith(f":function:{app}")
    assert ctx["aws_request_id"] == response["ResponseMetadata"]["RequestId"]
    assert ctx["log_group_name"] == f"/aws/lambda/{app}"
    assert 0 < ctx["remaining_ms"] <= 10_000
    # cwd and sys.path start at the task root; neither the host interpreter's site-packages
    # nor LocalStack's venv are importable (only the layer directory ends in site-packages).
    assert body["sys_path"][0] == body["cwd"]
    assert not [p for p in body["sys_path"] if p.startswith(sys.prefix + os.sep)]
    assert not [
        p for p in body["sys_path"] if p.endswith("site-packages") and "/opt/python/" not in p
    ]
    logs = tail_logs(response)
    assert f"START RequestId: {ctx['aws_request_id']}" in logs
    assert f"REPORT RequestId: {ctx['aws_request_id']}" in logs
    assert warm_ms < 5000


def test_cold_start_is_fast(lam, create_function, lambda_pids):
    name = create_function({"app.py": APP})
    start = time.monotonic()
    response, body = invoke(lam, name, {}, LogType="Tail")
    cold_ms = (time.monotonic() - start) * 1000
    lambda_pids.add(body["pid"])
    assert "Init Duration:" in tail_logs(response)
    assert "init: module imported" in tail_logs(response)
    print(f"cold start invoke: {cold_ms:.0f} ms")
    assert cold_ms < 10_000


def test_handler_exception_is_reported_like_aws(lam, app):
    response, body = invoke(lam, app, {"action": "raise", "msg": "x"}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad input: x"
    assert any('app.py", line' in frame and "in handler" in frame for frame in body["stackTrace"])
    assert "[ERROR] ValueError: bad input: x" in tail_logs(response)


def test_env_vars(lam, app, endpoint):
    _, env = invoke(lam, app, {"action": "env"})
    assert env["APP_SETTING"] == "forty-two"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == app
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "10"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_ENDPOINT_URL"] == endpoint
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert os.path.isfile(os.path.join(env["LAMBDA_TASK_ROOT"], "app.py"))
    assert os.path.isdir(env["TEXTLOOP_OPT_DIR"])
    # LocalStack's own environment (and any venv) stays out of the function.
    for leaked in ("GATEWAY_LISTEN", "LAMBDA_RUNTIME_EXECUTOR", "VIRTUAL_ENV", "PYTHONPATH"):
        assert leaked not in env


def test_sdk_is_boto3_only(lam, app):
    _, found = invoke(lam, app, {"action": "imports"})
    assert found["boto3"] and not found["boto3"].startswith(sys.prefix + os.sep)
    assert found["botocore"] and found["dateutil"]
    # LocalStack's dependencies are not importable by handlers (as on AWS).
    assert found["localstack"] is None
    assert found["moto"] is None
    assert found["requests"] is None
    assert found["werkzeug"] is None


def test_boto3_in_handler_reaches_localstack(lam, client, app):
    s3 = client("s3")
    bucket = f"bkt-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    response, body = invoke(lam, app, {"action": "s3_put", "bucket": bucket, "key": "sync.json"})
    assert "FunctionError" not in response, body
    assert body["account"] == "000000000000"
    stored = json.loads(s3.get_object(Bucket=bucket, Key="sync.json")["Body"].read())
    assert stored["key"] == "sync.json"


def test_async_invoke_side_effect(lam, client, app):
    s3 = client("s3")
    bucket = f"bkt-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    event = {"action": "s3_put", "bucket": bucket, "key": "async.json"}
    response = lam.invoke(FunctionName=app, InvocationType="Event", Payload=json.dumps(event))
    assert response["StatusCode"] == 202
    deadline = time.monotonic() + 30
    while True:
        try:
            obj = s3.get_object(Bucket=bucket, Key="async.json")
            break
        except s3.exceptions.NoSuchKey:
            assert time.monotonic() < deadline, "async invocation left no S3 object"
            time.sleep(0.2)
    assert json.loads(obj["Body"].read())["action"] == "s3_put"


def test_timeout_then_fresh_process(lam, create_function, lambda_pids):
    name = create_function({"app.py": APP}, timeout=1)
    _, first = invoke(lam, name, {})
    lambda_pids.add(first["pid"])

    start = time.monotonic()
    response, body = invoke(lam, name, {"action": "sleep", "seconds": 5}, LogType="Tail")
    elapsed = time.monotonic() - start
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert "Status: timeout" in tail_logs(response)
    assert elapsed < 4.5

    _, after = invoke(lam, name, {})
    lambda_pids.add(after["pid"])
    assert after["pid"] != first["pid"]
    assert after["calls"] == 1  # a new process: module state starts over


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"action": "exit", "code": 3}, "Runtime exited with error: exit status 3"),
        ({"action": "exit", "code": 0}, "Runtime exited without providing a reason"),
        ({"action": "kill"}, "Runtime exited with error: signal: killed"),
    ],
)
def test_process_exit_then_fresh_process(lam, create_function, lambda_pids, event, message):
    name = create_function({"app.py": APP})
    _, first = invoke(lam, name, {})
    lambda_pids.add(first["pid"])

    response, body = invoke(lam, name, event)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith(message)

    _, after = invoke(lam, name, {})
    lambda_pids.add(after["pid"])
    assert after["pid"] != first["pid"]
    assert after["calls"] == 1


def test_concurrent_invokes_run_in_parallel_processes(lam, create_function, lambda_pids):
    name = create_function({"app.py": APP})
    count, seconds = 6, 2
    start = time.monotonic()
    with ThreadPoolExecutor(count) as pool:
        results = list(
            pool.map(
                lambda _: invoke(lam, name, {"action": "sleep", "seconds": seconds}), range(count)
            )
        )
    elapsed = time.monotonic() - start
    pids = {body["pid"] for response, body in results if "FunctionError" not in response}
    lambda_pids.update(pids)
    assert len(pids) == count, results
    assert elapsed < count * seconds - 2, f"not parallel: {elapsed:.1f}s"


def test_invocations_beyond_reserved_concurrency_are_throttled(lam, create_function, lambda_pids):
    """Each invocation in flight holds one environment until it answers. With reserved
    concurrency N, N run at once and one more is refused with TooManyRequestsException, which
    API Gateway's Lambda proxy integration turns into a 5xx: the 502s that 32 clients got from
    classify's former reserved concurrency of 10 (issue 14). The leases come back afterwards."""
    name = create_function({"app.py": APP}, timeout=30)
    reserved, seconds = 3, 10
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    with ThreadPoolExecutor(reserved) as pool:
        holders = [
            pool.submit(invoke, lam, name, {"action": "sleep", "seconds": seconds})
            for _ in range(reserved)
        ]
        # The lease is taken when LocalStack accepts the invoke, before any process starts.
        time.sleep(3)
        assert not any(h.done() for h in holders), [h.result() for h in holders if h.done()]
        with pytest.raises(lam.exceptions.TooManyRequestsException) as throttled:
            invoke(lam, name, {"action": "echo"})
        results = [h.result() for h in holders]
    assert throttled.value.response.get("Reason") == (
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    ), throttled.value.response
    assert all("FunctionError" not in response for response, _ in results), results
    pids = {body["pid"] for _, body in results}
    lambda_pids.update(pids)
    assert len(pids) == reserved
    response, body = invoke(lam, name, {"action": "echo"})
    assert "FunctionError" not in response, body
    assert body["pid"] in pids


def test_layers_are_importable_in_order(lam, client, create_function, lambda_pids):
    first = lam.publish_layer_version(
        LayerName="textloop-test-a",
        Content={
            "ZipFile": zip_files(
                {
                    "python/greeting.py": "def greet(n):\n    return f'hello {n}'\n",
                    "python/shared_mod.py": "VALUE = 'from layer a'\n",
                    "data/model.txt": "weights",
                }
            )
        },
        CompatibleRuntimes=["python3.13"],
    )
    second = lam.publish_layer_version(
        LayerName="textloop-test-b",
        Content={
            "ZipFile": zip_files(
                {
                    "python/lib/python3.13/site-packages/layerpkg/__init__.py": "VALUE = 'pkg'\n",
                    "python/shared_mod.py": "VALUE = 'from layer b'\n",
                }
            )
        },
    )
    app = (
        "import os\n"
        "import greeting, layerpkg, shared_mod\n"
        "def handler(event, context):\n"
        "    with open(os.path.join(os.environ['TEXTLOOP_OPT_DIR'], 'data', 'model.txt')) as f:\n"
        "        data = f.read()\n"
        "    return {'greet': greeting.greet('x'), 'pkg': layerpkg.VALUE,\n"
        "            'shared': shared_mod.VALUE, 'data': data, 'pid': os.getpid()}\n"
    )
    name = create_function(
        {"app.py": app}, layers=[first["LayerVersionArn"], second["LayerVersionArn"]]
    )
    conf = lam.get_function_configuration(FunctionName=name)
    assert [layer["Arn"] for layer in conf["Layers"]] == [
        first["LayerVersionArn"],
        second["LayerVersionArn"],
    ]
    response, body = invoke(lam, name, {})
    assert "FunctionError" not in response, body
    lambda_pids.add(body["pid"])
    assert body == {
        "greet": "hello x",
        "pkg": "pkg",
        "shared": "from layer b",  # later layers override earlier ones, as in /opt on AWS
        "data": "weights",
        "pid": body["pid"],
    }


def test_logs_reach_cloudwatch(lam, client, app):
    marker = f"marker-{uuid.uuid4().hex}"
    invoke(lam, app, {"action": "print", "marker": marker})
    logs = client("logs")
    deadline = time.monotonic() + 20
    while True:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{app}")["events"]
        messages = [e["message"] for e in events]
        if any(marker in m for m in messages):
            break
        assert time.monotonic() < deadline, "log line never reached CloudWatch Logs"
        time.sleep(0.3)
    assert any(m.startswith("START RequestId:") for m in messages)
    assert any(m.startswith("REPORT RequestId:") for m in messages)


def test_import_error_is_an_init_error(lam, create_function):
    name = create_function({"app.py": APP}, handler="missing_module.handler")
    response, body = invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'missing_module'" in body["errorMessage"]


def test_crash_during_init_is_an_exit_error(lam, create_function):
    name = create_function({"app.py": "import os\nos._exit(2)\n"})
    response, body = invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Runtime exited with error: exit status 2")


def test_deleting_a_function_stops_its_processes(lam, create_function):
    name = create_function({"app.py": APP})
    _, body = invoke(lam, name, {})
    assert pid_alive(body["pid"])
    lam.delete_function(FunctionName=name)
    deadline = time.monotonic() + 15
    while pid_alive(body["pid"]):
        assert time.monotonic() < deadline, "function process survived its deletion"
        time.sleep(0.1)


def test_unsupported_runtime_fails_clearly(lam, create_function):
    name = create_function(
        {"index.js": "exports.handler = async () => 1;"},
        handler="index.handler",
        runtime="nodejs20.x",
    )
    conf = lam.get_function_configuration(FunctionName=name)
    assert conf["State"] == "Failed"
    assert "python3.x zip functions only" in conf["StateReason"]


def test_runtime_selects_the_interpreter(lam, create_function, lambda_pids):
    app = (
        "import os, sys\n"
        "def handler(event, context):\n"
        "    return {'version': '%d.%d' % sys.version_info[:2], 'pid': os.getpid(),\n"
        "            'env': os.environ['AWS_EXECUTION_ENV']}\n"
    )
    name = f"py312-{uuid.uuid4().hex[:8]}"
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/lambda-role",
        Handler="app.handler",
        Code={"ZipFile": zip_files({"app.py": app})},
    )
    conf = wait_active(lam, name)
    if conf["State"] == "Failed" and "No Python 3.12 interpreter" in conf.get("StateReason", ""):
        pytest.skip("no python3.12 on this machine")
    response, body = invoke(lam, name, {})
    assert "FunctionError" not in response, body
    lambda_pids.add(body["pid"])
    assert body["version"] == "3.12"
    assert body["env"] == "AWS_Lambda_python3.12"
