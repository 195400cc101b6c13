"""`make demo`: the whole loop on this machine, with a simulated reviewer
(`make demo MODEL=entities`: the entity recogniser's loop, scripts/demo_entities.py).

On the stack that `make deploy-local` put on LocalStack: a seed model is trained from a small
slice of AG News by a bootstrap iteration; most of the rest goes through POST /classify as
traffic; then iterations run in which a SIMULATED reviewer (answers from the data set's true
labels, wrong on purpose at --error-rate) reviews what the loop selects. Each iteration prints
what was reviewed, the candidate's and the active model's metrics on the same test set, and the
decision. Each iteration's test set grows with the reviewed items, so the learning curve is
measured apart: after each iteration the active model (its artefact, read from the data lake)
predicts a fixed held-out slice of AG News that never reaches the stack. It ends with that curve
and an iteration left waiting for a person, with the review page's address. Safe to re-run:
every step is idempotent or picks up where it stopped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from sklearn.metrics import accuracy_score
from textloop.adapters.artefacts import ModelArtefactStore
from textloop.domain import layout

from textloop_ops import localstack
from textloop_ops.client import Api, ApiError, Target
from textloop_ops.data import AG_NEWS, require
from textloop_ops.people import LocalPeople
from textloop_ops.terraform import local_stack

REPO = Path(__file__).resolve().parents[1]
# The people this demo signs in as (the stack's local user directory; tokens signed with its
# KMS key, as `textloop users add` and `textloop users token` do).
REVIEWER = "simulated-reviewer"
OPERATOR = "demo-operator"
YOU = "you"
# Long enough for the whole run (a token cannot be revoked, so it is never longer than needed).
TOKEN_MINUTES = 180
MODEL_TYPE = "DOCUMENT_CLASSIFIER"
# The last rows of the file: never sent to the stack, the yardstick of the learning curve.
HELD_OUT = 1000


def start_iteration(api: Api, config: dict) -> dict:
    """POST /iterations; a 409 (one is already running for the model) is an answer, not an
    error: its body names the running iteration."""
    status, body = api.request("POST", "/iterations", {"model_type": MODEL_TYPE, "config": config})
    if status not in (202, 409):
        raise ApiError("POST", "/iterations", status, body)
    return body


def load_ag_news() -> list[tuple[str, str]]:
    with AG_NEWS.open(encoding="utf-8", newline="") as handle:
        return [(row[0], row[1]) for row in csv.reader(handle)]


def intake_drained(sqs, queue_url: str, timeout: float = 300) -> float:
    """Wait until the intake queue holds nothing (every record classify queued is in the lake's
    files: the consumer deletes a message only after its file is written); the seconds taken."""
    started = time.monotonic()
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    while time.monotonic() - started < timeout:
        counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
        if not any(int(counts[n]) for n in names):
            return time.monotonic() - started
        time.sleep(1)
    raise TimeoutError(f"feedback still queued after {timeout:.0f} s")


def wait(api: Api, iteration_id: str, answer=None, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer is not None:
            answer(iteration_id)
        body = api.call("GET", f"/iterations/{iteration_id}")
        if body["status"] != "RUNNING":
            return body
        time.sleep(2)
    raise TimeoutError(f"iteration {iteration_id} still running after {timeout} s")


def simulated_reviewer(api: Api, answer_of: Callable[[dict], dict | None]):
    """Answers the review batches of an iteration: ``answer_of(item)`` gives an item's answer
    (its fields besides ``item_id``), or None for a text not from the data set, which a person
    answers in the review page (and its batch is left to them)."""
    reviewed: list[int] = []

    def answer(iteration_id: str) -> None:
        for batch in api.call("GET", "/reviews")["reviews"]:
            if batch["iteration_id"] != iteration_id:
                continue
            task = api.call("GET", f"/reviews/{batch['batch_id']}")
            answers = []
            for item in task["items"]:
                fields = answer_of(item)
                if fields is not None:
                    answers.append({"item_id": item["item_id"], **fields})
            if len(answers) == len(task["items"]):
                # No reviewer id: the API records the token's person (REVIEWER).
                result = api.call(
                    "POST", f"/reviews/{batch['batch_id']}/answers", {"answers": answers}
                )
                reviewed.append(result["answered"])

    answer.reviewed = reviewed
    return answer


def label_answers(truth: dict[str, str], error_rate: float, rng: random.Random):
    """A simulated reviewer's labels: the true one, another in ``error_rate`` of the items."""
    labels = sorted(set(truth.values()))

    def answer_of(item: dict) -> dict | None:
        label = truth.get(item["text"])
        if label is None:
            return None
        if rng.random() < error_rate:
            label = rng.choice([other for other in labels if other != label])
        return {"labels": [label]}

    return answer_of


def held_out_accuracy(
    api: Api, artefacts: ModelArtefactStore, held_out: list[tuple[str, str]]
) -> float:
    """The active model's accuracy on the held-out rows, predicted here from its artefact (the
    classify API would record the uncertain ones as feedback and leak them into the loop)."""
    pointer = api.call("GET", "/models/active", query={"model_type": MODEL_TYPE})["pointer"]
    model = artefacts.load_local_model(pointer["artefact_uri"])
    predicted = model.pipeline.predict([text for _, text in held_out])
    return float(accuracy_score([y for y, _ in held_out], predicted))


def metric(evaluation: dict | None, name: str) -> str:
    if not evaluation or evaluation.get(name) is None:
        return "   -  "
    return f"{evaluation[name]:.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, default=Path(".localstack"))
    parser.add_argument(
        "--model",
        choices=("classifier", "entities"),
        default="classifier",
        help="which loop: the AG News classifier, or the AWS-service entity recogniser",
    )
    parser.add_argument("--seed-size", type=int, help="seed documents (300; entities 25)")
    parser.add_argument("--traffic", type=int, help="texts sent through classify (1500; all)")
    parser.add_argument("--iterations", type=int, help="iterations (3)")
    parser.add_argument("--budget", type=int, help="reviews per iteration (150; entities 10)")
    parser.add_argument("--error-rate", type=float, default=0.05, help="simulated mistakes")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    endpoint = localstack.endpoint(args.state_dir)
    outputs = local_stack(args.state_dir).outputs()
    people = LocalPeople(
        Target(outputs["api_url"], outputs["api_key"], endpoint=endpoint, outputs=outputs)
    )
    people.add(OPERATOR, ["operators"])
    people.add(REVIEWER, ["reviewers"])
    people.add(YOU, ["reviewers", "approvers"])
    # A client application classifies (the API key); people start iterations and review (their
    # tokens).
    client = Api(outputs["api_url"], outputs["api_key"])
    api = Api(outputs["api_url"], None, token=people.token(OPERATOR, TOKEN_MINUTES))
    reviewer_api = Api(outputs["api_url"], None, token=people.token(REVIEWER, TOKEN_MINUTES))
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - LocalStack's fixed local account
    )
    artefacts = ModelArtefactStore(s3, outputs["data_lake_bucket"])
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - LocalStack's fixed local account
    )

    def intake(timeout: float = 300) -> float:
        return intake_drained(sqs, outputs["feedback_queue"]["url"], timeout)

    print(f"LocalStack on the host: {endpoint}\nREST API: {outputs['api_url']}\n")
    if args.model == "entities":
        import demo_entities  # scripts/ is this script's own directory, first on sys.path

        session = {
            "api": api,
            "client": client,
            "reviewer_api": reviewer_api,
            "artefacts": artefacts,
            "wait": wait,
            "intake": intake,
            "simulated_reviewer": simulated_reviewer,
            "metric": metric,
            "draw_curve": draw_curve,
            "figures": REPO / "reports" / "figures",
            "repo": REPO,
        }
        return demo_entities.run(args, session)
    return classifier_demo(args, client, api, reviewer_api, s3, artefacts, outputs, intake)


def classifier_demo(args, client, api, reviewer_api, s3, artefacts, outputs, intake) -> int:
    for name, value in {"seed_size": 300, "traffic": 1500, "iterations": 3, "budget": 150}.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    require(AG_NEWS)
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible simulation, not a secret
    rows = load_ag_news()
    held_out, rows = rows[-HELD_OUT:], rows[:-HELD_OUT]
    truth = {text: label for label, text in rows}
    # AG News repeats some texts: a held-out text the stack has seen would flatter the curve.
    held_out = [(label, text) for label, text in held_out if text not in truth]
    seed_rows, traffic_rows = rows[: args.seed_size], rows[args.seed_size :]

    curve: list[tuple[int, float]] = []
    status, active = api.request("GET", "/models/active", query={"model_type": MODEL_TYPE})
    if status == 404:
        print(f"1. Seed model: {len(seed_rows)} AG News texts, trained by a bootstrap iteration")
        seed = io.StringIO()
        csv.writer(seed, lineterminator="\n").writerows(seed_rows)
        s3.put_object(
            Bucket=outputs["data_lake_bucket"],
            Key=layout.seed_key(MODEL_TYPE),
            Body=seed.getvalue().encode(),
        )
        started = api.call(
            "POST", "/iterations", {"model_type": MODEL_TYPE, "config": {"min_new_items": 0}}
        )
        result = wait(api, started["iteration_id"])
        audit = result["audit"] or {}
        candidate = (audit.get("models") or {}).get("candidate") or {}
        print(f"   {result['status']}: {audit.get('status')} {candidate.get('model_version')}")
        print(f"   {(audit.get('decision') or {}).get('reason', '')}\n")
        if result["status"] != "SUCCEEDED" or audit.get("status") != "PROMOTED":
            # Everything after this needs an active model.
            print("the seed model was not promoted; see the iteration above", file=sys.stderr)
            print(json.dumps(result, indent=2, default=str), file=sys.stderr)
            return 1
    else:
        if status != 200:
            raise ApiError("GET", "/models/active", status, active)
        pointer = active["pointer"]
        print(f"1. Seed model: already active ({pointer['model_version']}); re-run picks up here\n")
    accuracy = held_out_accuracy(api, artefacts, held_out)
    curve.append((0, accuracy))
    print(f"   active model on {len(held_out)} held-out texts: accuracy {accuracy:.4f}\n")

    print(f"2. Traffic: {args.traffic} texts through POST /classify")
    routed = 0
    started_at = time.monotonic()
    for _, text in traffic_rows[: args.traffic]:
        if client.call("POST", "/classify", {"text": text})["routed_to_review"]:
            routed += 1
    elapsed = time.monotonic() - started_at
    print(f"   {routed} below threshold became implicit feedback ({elapsed:.0f} s)")
    print(f"   queued, and in the lake's files {intake():.0f} s later\n")

    print(
        "3. Iterations, reviewed by a SIMULATED reviewer "
        f"(true labels, {args.error_rate:.0%} wrong on purpose)"
    )
    # The frozen test set grows with reviewed texts, which the loop picked because the model was
    # unsure of them: harder than the held-out texts, so its figures run lower.
    print("   candidate and active: on the iteration's test set (grows with reviewed texts)")
    print("   held-out: the active model after the iteration, on texts the stack never saw")
    print("   it  reviewed  labels  candidate acc / F1    active acc / F1     decision    held-out")
    labels_so_far = 0
    last_candidate = None
    config = {
        "min_new_items": 10,
        "review_budget": args.budget,
        "review_batch_size": 50,
        "per_label_tolerance": 0.05,
    }
    for number in range(1, args.iterations + 1):
        reviewer = simulated_reviewer(reviewer_api, label_answers(truth, args.error_rate, rng))
        started = start_iteration(api, config)
        if "executionArn" not in started:
            # A re-run: the iteration the last run left for a person still waits. The simulated
            # reviewer finishes it, and this run's iteration starts after it.
            print(
                f"   (iteration {started['iteration_id']} from an earlier run was waiting: ", end=""
            )
            left = wait(api, started["iteration_id"], answer=reviewer)
            print(f"answered by the simulated reviewer, {left['status']})")
            reviewer.reviewed.clear()
            started = api.call("POST", "/iterations", {"model_type": MODEL_TYPE, "config": config})
        result = wait(api, started["iteration_id"], answer=reviewer)
        audit = result.get("audit") or {}
        reviewed = sum(reviewer.reviewed)
        labels_so_far += reviewed
        models = audit.get("models") or {}
        cand = (models.get("candidate") or {}).get("metrics")
        act = (models.get("active") or {}).get("metrics")
        decision = audit.get("status") or result["status"]
        accuracy = held_out_accuracy(api, artefacts, held_out)
        curve.append((labels_so_far, accuracy))
        print(
            f"   {number:>2}  {reviewed:>8}  {labels_so_far:>6}  "
            f"{metric(cand, 'Accuracy')} / {metric(cand, 'F1Score')}   "
            f"{metric(act, 'Accuracy')} / {metric(act, 'F1Score')}   {decision:<10}  "
            f"{accuracy:.4f}"
        )
        reason = (audit.get("decision") or {}).get("reason")
        if reason:
            print(f"       {reason}")
        if cand:
            last_candidate = (models.get("candidate") or {}).get("model_version")
        if result["status"] != "SUCCEEDED":
            print(json.dumps(result, indent=2, default=str), file=sys.stderr)
            return 1

    if len(curve) > 1:
        plot = draw_curve(curve, REPO / "reports" / "figures" / "demo-learning-curve.png")
        print(f"\n   learning curve: {plot.relative_to(REPO)}")
    if last_candidate:
        figure = save_confusion_matrix(s3, outputs["data_lake_bucket"], last_candidate)
        if figure:
            print(f"   last candidate's confusion matrix (written by Evaluate): {figure}")

    print("\n4. Your turn: an iteration waits for a person")
    for _, text in traffic_rows[args.traffic : args.traffic + 40]:
        client.call("POST", "/classify", {"text": text})
    started = start_iteration(api, {**config, "min_new_items": 1, "review_budget": 20})
    print(f"   iteration {started['iteration_id']} is waiting for a review")
    print(f"   you are user {YOU!r} (reviewers, approvers) in this stack's local directory")
    cli = ".venv/bin/python -m textloop_ops.cli"
    print(f"   start the review page:   {cli} --as {YOU} review-page")
    print("   it prints its address (http://127.0.0.1:<port>/#token=...); review the batch there,")
    print(f"   or from a file:          {cli} --as {YOU} reviews list")
    print("\nStop LocalStack with `make localstack-down`.")
    return 0


def save_confusion_matrix(s3, bucket: str, model_version: str) -> str | None:
    body = s3.get_object(Bucket=bucket, Key=layout.evaluation_key(model_version))["Body"]
    key = (json.loads(body.read()).get("figures") or {}).get("confusion_matrix")
    if not key:
        return None
    path = REPO / "reports" / "figures" / "demo-confusion-matrix.png"
    path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return f"{path.relative_to(REPO)} (s3://{bucket}/{key})"


def draw_curve(
    points: list[tuple[int, float]],
    path: Path,
    *,
    xlabel: str = "human labels in this run (simulated reviewer)",
    ylabel: str = "active model's accuracy, held-out texts",
    title: str = "textloop demo: AG News",
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    xs, ys = zip(*points, strict=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, marker="o")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
