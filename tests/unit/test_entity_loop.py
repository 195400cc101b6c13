"""The entity loop in moto, every Lambda in process, as tests/integration/test_entities.py runs
it on LocalStack: a seed from the Ground Truth manifest, a bootstrap iteration, detection
traffic through the classify function, an iteration whose selected documents a reviewer
answers with their gold spans, the candidate promoted; the audit record (which lists how each
reviewed document was selected) valid against its schema."""

from __future__ import annotations

import time

import boto3
from textloop.domain.datasets.seed import seed_files

from tests.support.iteration_stack import BUCKET, deploy_iteration_stack
from textloop_ops import entity_gold

NER = "ENTITY_RECOGNIZER"


def answer_reviews(stack, iteration_id: str, execution_arn: str, truth) -> int:
    answered = 0
    deadline = time.monotonic() + 120
    sfn = boto3.client("stepfunctions")
    while time.monotonic() < deadline:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
        _, listed = stack.api("reviews", "/reviews")
        pending = [b for b in listed["reviews"] if b["iteration_id"] == iteration_id]
        for batch in pending:
            _, task = stack.api("reviews", f"/reviews/{batch['batch_id']}")
            answers = [
                {"item_id": item["item_id"], "entities": truth[item["text"]]}
                for item in task["items"]
            ]
            code, result = stack.api(
                "reviews",
                f"/reviews/{batch['batch_id']}/answers",
                "POST",
                {"answers": answers},
                token=stack.token("rev-1", "reviewers"),
            )
            assert code == 200, result
            answered += result["answered"]
        if status != "RUNNING" or (answered and not pending):
            return answered
        time.sleep(0.2)
    raise TimeoutError(f"{iteration_id} still waiting for reviews")


def test_an_entity_iteration_reviews_spans_and_promotes(lambdas):
    stack = deploy_iteration_stack(lambdas)
    gold = entity_gold.split(entity_gold.gold_documents(), held_out=40, seed=40)
    s3 = boto3.client("s3")
    for key, body in seed_files(NER, None, gold.seed).items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    bootstrap = {"model_type": NER, "config": {"min_new_items": 0}}
    _, started = stack.api("iterations", "/iterations", "POST", bootstrap)
    assert stack.wait(started["executionArn"])["status"] == "SUCCEEDED"
    first = stack.get_json(f"audit/iterations/{started['iteration_id']}.json")
    assert first["status"] == "PROMOTED", first["decision"]

    routed = 0
    for document in gold.traffic:
        body = {"model_type": NER, "text": document["text"]}
        code, answer = stack.api("classify", "/classify", "POST", body)
        assert code == 200, answer
        routed += answer["routed_to_review"]
    assert routed >= 10

    config = {"min_new_items": 5, "review_budget": 40, "review_batch_size": 10}
    config |= {"random_share": 0.0, "per_label_tolerance": 0.1}
    second = {"model_type": NER, "config": config}
    _, started = stack.api("iterations", "/iterations", "POST", second)
    iteration_id = started["iteration_id"]
    answered = answer_reviews(stack, iteration_id, started["executionArn"], gold.truth)
    assert answered == routed  # the budget covers every unsure document
    described = stack.wait(started["executionArn"])
    audit = stack.get_json(f"audit/iterations/{iteration_id}.json")
    assert described["status"] == "SUCCEEDED", audit and audit.get("failure")
    assert audit["status"] == "PROMOTED", audit["decision"]
    assert audit["decision"]["metric"] == "MicroF1Score"
    # Each reviewed document says why it was picked: its least confident entity.
    reviewed = [i for i in audit["reviewed_items"] if "rev-1" in i["reviewer_ids"]]
    assert len(reviewed) == answered
    assert {i["measure"] for i in reviewed} <= {"least_confidence", "no_entity"}
