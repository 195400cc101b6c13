"""The review page in headless Chromium, end to end on LocalStack.

A bootstrap iteration (through the CLI: ``import-dataset`` then ``iterations start --follow``)
promotes a first model; a batch feedback file of unlabelled texts asks for reviews; a second
iteration selects them and waits in its Review state. A reviewer then opens the page served by
``review_server`` (which holds no credential), signs in with the token the operator minted for
them (``textloop users add`` / ``users token``), answers the batch with the keyboard only and
submits it. The batch must leave the queue, its answers must be stored under the token's name,
and the iteration must leave the Review state and finish.
"""

import csv
import json
import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support import DATA, REPO
from textloop_ops import cli
from textloop_ops.client import Api, Target
from textloop_ops.people import LocalPeople
from textloop_ops.review_server import ReviewServer

pytestmark = pytest.mark.integration

SEED_ROWS = 400
REVIEW_ROWS = 12
BATCH_SIZE = 6
REVIEWER = "e2e-reviewer"
OPERATOR = "e2e-operator"
# The README's picture of the page is refreshed only on request: a test run must not leave a
# tracked file modified.
SCREENSHOT = (
    REPO / "reports" / "figures" / "review-page.png"
    if os.environ.get("TEXTLOOP_UPDATE_SCREENSHOT") == "1"
    else REPO / "build" / "e2e" / "review-page.png"
)


@pytest.fixture(scope="module")
def ag_news():
    with (DATA / "ag_news" / "train.csv").open(encoding="utf-8", newline="") as handle:
        return [(row[0], row[1]) for row in csv.reader(handle)]


@pytest.fixture(scope="module")
def cli_state_dir(stack, localstack_endpoint, tmp_path_factory):
    """A state dir the CLI reads as it reads ``.localstack``: the endpoint file and a state
    file whose outputs are the session stack's; its people added as an operator would."""
    state_dir = tmp_path_factory.mktemp("cli-state")
    (state_dir / "endpoint").write_text(localstack_endpoint + "\n")
    outputs = {name: {"value": value} for name, value in stack.items()}
    (state_dir / "terraform.tfstate").write_text(json.dumps({"version": 4, "outputs": outputs}))
    assert run_cli(state_dir, "users", "add", OPERATOR, "--group", "operators") == 0
    assert run_cli(state_dir, "users", "add", REVIEWER, "--group", "reviewers") == 0
    return state_dir


@pytest.fixture(scope="module")
def people(cli_state_dir, stack, localstack_endpoint):
    return LocalPeople(
        Target(stack["api_url"], stack["api_key"], endpoint=localstack_endpoint, outputs=stack)
    )


@pytest.fixture(scope="module")
def api(people, stack):
    """The API as the operator: iterations and models (reviews need a reviewer)."""
    return Api(stack["api_url"], None, token=people.token(OPERATOR, 120))


@pytest.fixture(scope="module")
def reviewer_api(people, stack):
    return Api(stack["api_url"], None, token=people.token(REVIEWER, 120))


def run_cli(state_dir: Path, *argv: str) -> int:
    return cli.main(["--state-dir", str(state_dir), *argv])


def run_cli_as_operator(state_dir: Path, *argv: str) -> int:
    return run_cli(state_dir, "--as", OPERATOR, *argv)


def wait_for(predicate, timeout: float, what: str, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def seeded(cli_state_dir, ag_news, tmp_path_factory):
    """The first model, trained and promoted by a bootstrap iteration started from the CLI;
    skipped when the session's stack already has one (the integration suite ran first and left
    feedback behind, which a bootstrap iteration would select and then wait on for reviews)."""
    if run_cli_as_operator(cli_state_dir, "models", "active") == 0:
        return
    seed = tmp_path_factory.mktemp("seed") / "train.csv"
    with seed.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(ag_news[:SEED_ROWS])
    assert run_cli(cli_state_dir, "import-dataset", str(seed), "--format", "comprehend-csv") == 0
    code = run_cli_as_operator(
        cli_state_dir,
        "iterations",
        "start",
        "--set",
        "min_new_items=0",
        "--follow",
        "--poll-seconds",
        "2",
        "--follow-timeout",
        "900",
    )
    assert code == 0, "the bootstrap iteration did not succeed"


@pytest.fixture(scope="module")
def pending_batch(seeded, api, reviewer_api, stack, aws_client, ag_news):
    """A second iteration waiting in Review on one batch of texts people asked to review."""
    texts = [text for _, text in ag_news[SEED_ROWS : SEED_ROWS + REVIEW_ROWS]]
    key = "uploads/feedback/DOCUMENT_CLASSIFIER/e2e-desk/review-me.jsonl"
    s3 = aws_client("s3")
    body = "\n".join(json.dumps({"text": text}) for text in texts)
    s3.put_object(Bucket=stack["data_lake_bucket"], Key=key, Body=body.encode())

    def processed():
        try:
            report = s3.get_object(
                Bucket=stack["data_lake_bucket"], Key=f"uploads/errors/{key[8:]}.errors.json"
            )
        except s3.exceptions.NoSuchKey:
            return None
        return json.loads(report["Body"].read())

    report = wait_for(processed, 120, "the batch-feedback function")
    assert report["accepted"] == REVIEW_ROWS, report

    config = {
        "min_new_items": 1,
        "review_budget": BATCH_SIZE,
        "review_batch_size": BATCH_SIZE,
        "random_share": 0,
    }
    started = api.call("POST", "/iterations", {"config": config})
    iteration_id = started["iteration_id"]

    def offered():
        if api.call("GET", f"/iterations/{iteration_id}")["status"] != "RUNNING":
            pytest.fail(f"iteration {iteration_id} stopped before offering a review batch")
        mine = [
            b
            for b in reviewer_api.call("GET", "/reviews")["reviews"]
            if b["iteration_id"] == iteration_id
        ]
        return mine[0] if mine else None

    batch = wait_for(offered, 300, "a review batch")
    return {**batch, "execution_arn": started["executionArn"]}


def test_a_reviewer_answers_a_batch_with_the_keyboard(
    pending_batch, api, reviewer_api, stack, aws_client, page
):
    batch_id, iteration_id = pending_batch["batch_id"], pending_batch["iteration_id"]
    task = reviewer_api.call("GET", f"/reviews/{batch_id}")
    items, options = task["items"], task["options"]
    assert task["mode"] == "MULTI_CLASS"

    # The server holds no credential: the reviewer signs in with their own token.
    with ReviewServer(Api(stack["api_url"], None)) as server:
        page.goto(server.url)
        expect(page.locator("#signin-dialog")).to_be_visible()
        page.locator("#token-input").fill(reviewer_api.token)
        page.keyboard.press("Enter")
        expect(page.locator("#reviewer-name")).to_have_text(REVIEWER)
        queue_item = page.locator(f'.queue-item[data-batch-id="{batch_id}"]')
        expect(queue_item).to_contain_text(f"{len(items)} items")

        queue_item.focus()
        page.keyboard.press("Enter")
        progress = page.locator("#progress")
        expect(progress).to_have_text(f"1 / {len(items)}")
        expect(page.locator("#item-text")).to_have_text(items[0]["text"])
        expect(page.locator("#suggestion")).to_contain_text("confident")

        expected = {}
        for index, item in enumerate(items):
            expect(page.locator("#item-text")).to_have_text(item["text"])
            if index % 2 == 0 and item["suggestion"]:
                page.keyboard.press("a")  # accept the model's suggestion
                expected[item["item_id"]] = item["suggestion"]["labels"]
            else:
                choice = (index // 2) % len(options)  # a number key picks a label
                page.keyboard.press(str(choice + 1))
                expected[item["item_id"]] = [options[choice]]
            if index == 2:
                # Back and forth keeps the answer; the screenshot shows an answered item.
                expect(progress).to_have_text(f"4 / {len(items)}")
                page.keyboard.press("k")
                expect(page.locator("#item-status")).to_contain_text("Answered")
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT))
                page.keyboard.press("j")
            if index + 1 < len(items):
                expect(progress).to_have_text(f"{index + 2} / {len(items)}")

        expect(progress).to_have_text(f"{len(items)} / {len(items)} answered")
        expect(page.locator("#item-text")).to_contain_text("Press Enter to submit")
        page.keyboard.press("Enter")
        expect(page.locator("#toast")).to_contain_text(f"Submitted {len(items)} answers")
        expect(page.locator("#queue-view")).to_be_visible()
        expect(page.locator(f'.queue-item[data-batch-id="{batch_id}"]')).to_have_count(0)

    assert batch_id not in {b["batch_id"] for b in reviewer_api.call("GET", "/reviews")["reviews"]}
    answers = json.loads(
        aws_client("s3")
        .get_object(
            Bucket=stack["data_lake_bucket"],
            Key=f"reviews/{iteration_id}/batches/{batch_id}/answers.json",
        )["Body"]
        .read()
    )
    assert answers["reviewers"] == [REVIEWER]
    assert {a["item_id"]: a["labels"] for a in answers["answers"]} == expected

    # The task token was completed: the execution leaves Review and the iteration finishes.
    sfn = aws_client("stepfunctions")

    def left_review():
        events = sfn.get_execution_history(
            executionArn=pending_batch["execution_arn"], maxResults=1000
        )["events"]
        return any(
            e["type"] == "MapStateExited" and e["stateExitedEventDetails"]["name"] == "Review"
            for e in events
        )

    wait_for(left_review, 120, "the execution to leave the Review state")
    final = wait_for(
        lambda: (
            (body := api.call("GET", f"/iterations/{iteration_id}"))["status"] != "RUNNING" and body
        ),
        600,
        "the iteration to finish",
    )
    assert final["status"] == "SUCCEEDED", final
    assert REVIEWER in json.dumps(final["audit"]["reviewers"])
