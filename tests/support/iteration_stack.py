"""The iteration's stack in moto: bucket, registry table, topic, every step Lambda (run
in-process) and the iteration state machine rendered from a definition file, plus helpers to
drive an execution (wait for review tasks, answer them through the review API)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from . import REPO, people
from .events import CLIENT_APPLICATIONS, rest_event
from .stack import (
    _role,
    create_bucket,
    create_feedback_queue,
    create_registry_table,
    deploy_function,
    drain_feedback_queue,
)
from .templates import render_definition, template_variables

ITERATION_DEFINITION = REPO / "statemachines" / "iteration.asl.json"
BUCKET = "textloop-test-lake"
TABLE = "textloop-test-registry"
PREFIX = "/textloop/test"
STEPS = (
    "prepare",
    "select_for_review",
    "start_review",
    "return_to_pool",
    "merge_answers",
    "build_datasets",
    "train",
    "describe_training",
    "predict_test_set",
    "describe_test_predictions",
    "evaluate",
    "wait_for_approval",
    "promote_candidate",
    "record",
    "release_lock",
)
APIS = ("reviews", "a2i_callback", "approvals", "iterations", "models", "classify")
# How long a test waits for an execution or a task before failing. A wait returns as soon as
# its condition holds, so this only bounds a failing test: generous, because a loaded 2-core
# machine has taken 125 s for an iteration that takes 25 s alone (scikit-learn's first import).
WAIT_SECONDS = 300
# Small and fast: tiny waits (they are real sleeps in moto), small review batches.
TEST_DEFAULTS = {
    "min_new_items": 3,
    "review_budget": 12,
    "review_batch_size": 6,
    "random_share": 0.0,
    "review_timeout_seconds": 60,
    "approval_timeout_seconds": 60,
    "training_poll_seconds": 1,
    "training_max_polls": 3,
    "test_predictions_poll_seconds": 1,
    "test_predictions_max_polls": 3,
    "min_docs_per_label": 5,
    "promotion_min_absolute": 0.5,
}


# Who calls each people API by default (``IterationStack.api``), in the group it needs.
DEFAULT_PEOPLE = {
    "reviews": ("rev-1", "reviewers"),
    "approvals": ("lead@example.com", "approvers"),
    "iterations": ("operator-1", "operators"),
    "models": ("operator-1", "operators"),
}
_DEFAULT = object()


def function_name(step: str) -> str:
    return "textloop-" + step.replace("_", "-")


@dataclass
class IterationStack:
    lambdas: Any
    state_machine_arn: str
    topic_arn: str
    queue_url: str
    environment: dict[str, str]
    executions: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ driving

    def start(self, name: str, payload: dict | None = None) -> str:
        arn = boto3.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload or {})
        )["executionArn"]
        self.executions.append(arn)
        return arn

    def wait(self, execution_arn: str, timeout: float = WAIT_SECONDS) -> dict:
        sfn = boto3.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout} s")
            time.sleep(0.05)

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def selection(self, iteration_id: str) -> dict | None:
        return self.get_json(f"reviews/{iteration_id}/selection.json")

    def wait_for_tasks(self, iteration_id: str, timeout: float = WAIT_SECONDS) -> list[dict]:
        """Every review task of the iteration, once all of its batches are open."""

        def ready():
            selection = self.selection(iteration_id)
            if selection is None:
                return None
            tasks = [
                self.get_json(f"reviews/{iteration_id}/batches/{b['batch_id']}/task.json")
                for b in selection["batches"]
            ]
            return tasks if all(tasks) else None

        return self.wait_for(ready, f"the review tasks of {iteration_id}", timeout)

    def invoke(self, step: str, event: dict) -> dict:
        out = boto3.client("lambda").invoke(
            FunctionName=function_name(step), Payload=json.dumps(event)
        )
        payload = json.loads(out["Payload"].read())
        assert "FunctionError" not in out, payload
        return payload

    def token(self, user: str, *groups: str, **kwargs: Any) -> str:
        """A people token minted with the stack's signing key (as ``textloop users token``)."""
        return people.token(self.environment["PEOPLE_TOKEN_KEY_ID"], user, *groups, **kwargs)

    def api(
        self, step: str, path: str, method: str = "GET", body=None, *, token: Any = _DEFAULT
    ) -> tuple[int, dict]:
        """Call an API Lambda; people APIs get a token of ``DEFAULT_PEOPLE`` unless ``token``
        is given (None: no Authorization header)."""
        if token is _DEFAULT:
            token = self.token(*DEFAULT_PEOPLE[step]) if step in DEFAULT_PEOPLE else None
        headers = people.bearer(token) if token else None
        response = self.invoke(step, rest_event(path, method, body, headers=headers))
        if step == "classify":
            # Lambda's SQS poller, right away: the routed predictions reach the lake's files.
            drain_feedback_queue(
                function_name("write_feedback"), self.environment["FEEDBACK_QUEUE_URL"]
            )
        return response["statusCode"], json.loads(response["body"])

    def answer(self, task: dict, label_of: Callable[[str], str], reviewer: str = "rev-1"):
        answers = [
            {"item_id": item["item_id"], "labels": [label_of(item["text"])]}
            for item in task["items"]
        ]
        return self.api(
            "reviews",
            f"/reviews/{task['batch_id']}/answers",
            "POST",
            {"answers": answers},
            token=self.token(reviewer, "reviewers"),
        )

    # ------------------------------------------------------------------ reading

    def get_json(self, key: str) -> Any:
        s3 = boto3.client("s3")
        try:
            return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None

    def keys(self, prefix: str) -> list[str]:
        listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for o in listed.get("Contents", [])]

    def notifications(self) -> list[dict]:
        sqs = boto3.client("sqs")
        messages = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return messages
            for m in got["Messages"]:
                messages.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])

    def history(self, execution_arn: str) -> list[dict]:
        return boto3.client("stepfunctions").get_execution_history(
            executionArn=execution_arn, maxResults=1000
        )["events"]


def deploy_iteration_stack(
    lambdas,
    *,
    defaults: dict | None = None,
    extra_env: dict | None = None,
    definition: Path = ITERATION_DEFINITION,
) -> IterationStack:
    create_bucket(BUCKET)
    create_registry_table(TABLE)
    topic_arn = boto3.client("sns").create_topic(Name="textloop-test-notifications")["TopicArn"]
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="textloop-test-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    boto3.client("sns").subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "false"},
    )
    env = {
        "DATA_LAKE_BUCKET": BUCKET,
        "ACTIVE_MODEL_PARAMETER_PREFIX": PREFIX,
        "REGISTRY_TABLE": TABLE,
        # As Terraform sets it (<name_prefix>-<stage>): the value of every run-time tag.
        "STACK_NAME": "textloop-test",
        "NOTIFICATIONS_TOPIC_ARN": topic_arn,
        "ITERATION_DEFAULTS": json.dumps({**TEST_DEFAULTS, **(defaults or {})}),
        "REVIEW_BACKEND": "local",
        "STAGE": "test",
        "CLIENT_APPLICATIONS": CLIENT_APPLICATIONS,
        "FEEDBACK_QUEUE_URL": create_feedback_queue(),
        **people.people_env(people.create_signing_key()),
        **(extra_env or {}),
    }
    arns = {}
    for step in STEPS:
        arns[f"{step}_function_arn"] = deploy_function(lambdas, function_name(step), step, env)
    variables = {**arns, "notifications_topic_arn": topic_arn}
    machine_name = "textloop-test-iteration"
    env["STATE_MACHINE_ARN"] = f"arn:aws:states:us-east-1:123456789012:stateMachine:{machine_name}"
    for api in (*APIS, "write_feedback"):
        deploy_function(lambdas, function_name(api), api, env)
    missing = template_variables(definition) - variables.keys()
    assert not missing, f"no test value for {sorted(missing)}"
    rendered = render_definition(definition, variables)
    arn = boto3.client("stepfunctions").create_state_machine(
        name=machine_name, definition=json.dumps(rendered), roleArn=_role()
    )["stateMachineArn"]
    assert arn == env["STATE_MACHINE_ARN"]
    return IterationStack(lambdas, arn, topic_arn, queue_url, env)


def settle_executions(timeout: float = WAIT_SECONDS) -> None:
    """Wait until every running execution of this mock is past its Prepare state (or ended):
    the ones still waiting on a task token never take a lock again."""
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    for machine in sfn.list_state_machines()["stateMachines"]:
        running = sfn.list_executions(
            stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
        )["executions"]
        for execution in running:
            while time.monotonic() < deadline and not _past_prepare(sfn, execution["executionArn"]):
                time.sleep(0.1)


def _past_prepare(sfn, execution_arn: str) -> bool:
    if sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING":
        return True
    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
    return any(e.get("stateExitedEventDetails", {}).get("name") == "Prepare" for e in events)
