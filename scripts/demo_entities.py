"""`make demo MODEL=entities`: the entity loop on this machine, with a simulated reviewer.

On the stack that `make deploy-local` put on LocalStack, beside the classifier of `make demo`:
the Ground Truth manifest of AWS service announcements (data/aws_service_ner, entity types
SERVICE and VERSION) is split by text into a held-out part, a seed and traffic
(``textloop_ops.entity_gold``). The seed is imported with `textloop import-dataset --format
groundtruth` and trained by a bootstrap iteration; the traffic goes through POST /classify with
``model_type`` ENTITY_RECOGNIZER, where documents with an entity below the threshold (0.9)
become implicit feedback; then iterations run in which a SIMULATED reviewer answers the spans
of what the loop selects from the gold annotations (missing one span of a document at
--error-rate, a reviewer's likeliest slip). The learning curve is the active recogniser's micro
F1 (exact span and type) on the held-out documents after each iteration, predicted here from
its artefact. Safe to re-run: every step is idempotent or picks up where it stopped.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from textloop.domain.evaluation import evaluate_entities

from textloop_ops import cli, entity_gold
from textloop_ops.client import Api, ApiError

MODEL_TYPE = "ENTITY_RECOGNIZER"
HELD_OUT = 40
# The gate's metric for recognisers, shown for candidate and active.
F1 = "MicroF1Score"
# Measured on the moto stack before choosing: a 25-document seed leaves the recogniser unsure
# of about a third of the traffic, enough for three iterations of 10 reviews.
DEFAULTS = {"seed_size": 25, "traffic": None, "iterations": 3, "budget": 10}


def held_out_f1(api: Api, artefacts: Any, held_out: list[dict]) -> tuple[str, float]:
    """``(model version, micro F1)`` of the active recogniser on the held-out documents,
    predicted from its artefact (POST /classify would record the unsure ones as feedback and
    leak the yardstick into the loop)."""
    pointer = api.call("GET", "/models/active", query={"model_type": MODEL_TYPE})["pointer"]
    backend = artefacts.load_local_backend(pointer["artefact_uri"])
    predicted = backend.predict([d["text"] for d in held_out])
    evaluation = evaluate_entities(
        [d["entities"] for d in held_out], [p.entities for p in predicted]
    )
    return pointer["model_version"], float(evaluation["MicroF1Score"])


def span_answers(truth: dict[str, list[dict]], error_rate: float, rng: random.Random):
    """A simulated reviewer's spans: the gold ones, one of them missed in ``error_rate`` of the
    documents."""

    def answer_of(item: dict) -> dict | None:
        spans = truth.get(item["text"])
        if spans is None:
            return None
        spans = list(spans)
        if spans and rng.random() < error_rate:
            spans.pop(rng.randrange(len(spans)))
        return {"entities": spans}

    return answer_of


def import_seed(state_dir: Path, seed: list[dict]) -> None:
    """The seed through the operator's import path: its manifest lines, as the Ground Truth
    job wrote them, validated against Comprehend's entity rules and uploaded."""
    with tempfile.TemporaryDirectory(prefix="textloop-demo-") as directory:
        path = Path(directory) / "seed.manifest"
        path.write_text(entity_gold.manifest_of(seed), encoding="utf-8")
        code = cli.main(
            [
                "--state-dir",
                str(state_dir),
                "import-dataset",
                str(path),
                "--format",
                "groundtruth",
                "--model-type",
                MODEL_TYPE,
            ]
        )
    if code != 0:
        raise RuntimeError(f"textloop import-dataset exited {code}")


def run(args, session) -> int:
    """``session``: what demo.py set up (APIs as client, operator and reviewer; the data lake's
    artefact store; helpers to wait and draw)."""
    for name, value in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    metric = session["metric"]
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible simulation, not a secret
    api, client, artefacts = session["api"], session["client"], session["artefacts"]
    gold = entity_gold.split(entity_gold.gold_documents(), held_out=HELD_OUT, seed=args.seed_size)
    truth = gold.truth
    traffic = gold.traffic if args.traffic is None else gold.traffic[: args.traffic]
    print(
        f"Ground Truth manifest: {len(gold.held_out) + len(gold.seed) + len(gold.traffic)} "
        f"distinct texts: {len(gold.held_out)} held out, {len(gold.seed)} seed, "
        f"{len(gold.traffic)} traffic\n"
    )

    curve: list[tuple[int, float]] = []
    status, active = api.request("GET", "/models/active", query={"model_type": MODEL_TYPE})
    if status == 404:
        print(
            f"1. Seed recogniser: {len(gold.seed)} documents of the manifest "
            "(textloop import-dataset --format groundtruth), trained by a bootstrap iteration"
        )
        import_seed(args.state_dir, gold.seed)
        started = api.call(
            "POST", "/iterations", {"model_type": MODEL_TYPE, "config": {"min_new_items": 0}}
        )
        result = session["wait"](api, started["iteration_id"])
        audit = result["audit"] or {}
        candidate = (audit.get("models") or {}).get("candidate") or {}
        print(f"   {result['status']}: {audit.get('status')} {candidate.get('model_version')}")
        print(f"   {(audit.get('decision') or {}).get('reason', '')}\n")
        if result["status"] != "SUCCEEDED" or audit.get("status") != "PROMOTED":
            print("the seed recogniser was not promoted; see the iteration above", file=sys.stderr)
            print(json.dumps(result, indent=2, default=str), file=sys.stderr)
            return 1
    else:
        if status != 200:
            raise ApiError("GET", "/models/active", status, active)
        version = active["pointer"]["model_version"]
        print(f"1. Seed recogniser: already active ({version}); re-run picks up here\n")
    _, f1 = held_out_f1(api, artefacts, gold.held_out)
    curve.append((0, f1))
    print(f"   active recogniser on {len(gold.held_out)} held-out documents: micro F1 {f1:.4f}\n")

    print(f"2. Traffic: {len(traffic)} documents through POST /classify (ENTITY_RECOGNIZER)")
    routed = 0
    started_at = time.monotonic()
    for document in traffic:
        body = client.call(
            "POST", "/classify", {"model_type": MODEL_TYPE, "text": document["text"]}
        )
        routed += bool(body["routed_to_review"])
    elapsed = time.monotonic() - started_at
    print(
        f"   {routed} with an entity below its threshold became implicit feedback ({elapsed:.0f} s)"
    )
    print(f"   queued, and in the lake's files {session['intake']():.0f} s later")
    classifier = client.request("POST", "/classify", {"text": "Oil prices rose again."})
    if classifier[0] == 200:
        print(
            f"   side by side: the classifier {classifier[1]['model_version']} answers "
            f"{classifier[1]['predicted_labels']} on the same API\n"
        )
    else:
        print("   (no classifier active: `make demo` trains one beside this recogniser)\n")

    print(
        "3. Iterations, reviewed by a SIMULATED reviewer "
        f"(gold spans, one missed in {args.error_rate:.0%} of documents on purpose)"
    )
    print("   candidate and active: micro F1 on the iteration's frozen test set")
    print("   held-out: the active recogniser after the iteration, on documents never sent")
    print("   it  reviewed  docs  candidate F1   active F1   decision    held-out F1")
    labels_so_far = 0
    config = {
        "min_new_items": 5,
        "review_budget": args.budget,
        "review_batch_size": 10,
        "per_label_tolerance": 0.05,
    }
    for number in range(1, args.iterations + 1):
        reviewer = session["simulated_reviewer"](
            session["reviewer_api"], span_answers(truth, args.error_rate, rng)
        )
        status, started = api.request(
            "POST", "/iterations", {"model_type": MODEL_TYPE, "config": config}
        )
        if status == 409:
            # A re-run: an iteration of an earlier run still waits. The reviewer finishes it.
            session["wait"](api, started["iteration_id"], answer=reviewer)
            reviewer.reviewed.clear()
            started = api.call("POST", "/iterations", {"model_type": MODEL_TYPE, "config": config})
        elif status != 202:
            raise ApiError("POST", "/iterations", status, started)
        result = session["wait"](api, started["iteration_id"], answer=reviewer)
        audit = result.get("audit") or {}
        reviewed = sum(reviewer.reviewed)
        labels_so_far += reviewed
        models = audit.get("models") or {}
        cand = (models.get("candidate") or {}).get("metrics")
        act = (models.get("active") or {}).get("metrics")
        decision = audit.get("status") or result["status"]
        _, f1 = held_out_f1(api, artefacts, gold.held_out)
        curve.append((labels_so_far, f1))
        print(
            f"   {number:>2}  {reviewed:>8}  {labels_so_far:>4}  {metric(cand, F1):>12}  "
            f"{metric(act, F1):>10}   {decision:<10}  {f1:.4f}"
        )
        reason = (audit.get("decision") or {}).get("reason")
        if reason:
            print(f"       {reason}")
        if result["status"] != "SUCCEEDED":
            print(json.dumps(result, indent=2, default=str), file=sys.stderr)
            return 1

    print("\n   learning curve (reviewed documents: held-out micro F1)")
    print("   " + ", ".join(f"{x}: {y:.4f}" for x, y in curve))
    if labels_so_far == 0:
        # A re-run on the same stack: its traffic was reviewed by the earlier run, so nothing
        # was selected. A flat line would replace the figure of the run that learned.
        print(
            "   nothing to review: this stack's entity traffic was reviewed by an earlier run; "
            "`make localstack-down`, then `make demo MODEL=entities`, to see the "
            "loop learn again (figure left as it was)"
        )
    elif len(curve) > 1:
        plot = session["draw_curve"](
            curve,
            session["figures"] / "demo-entities-learning-curve.png",
            xlabel="documents reviewed in this run (simulated reviewer)",
            ylabel="active recogniser's micro F1, held-out documents",
            title="textloop demo: AWS service entities",
        )
        print(f"   drawn: {plot.relative_to(session['repo'])}")
    cli_ = ".venv/bin/python -m textloop_ops.cli"
    print("\n4. By hand: the review page edits spans (select text, a number key for the type)")
    print(f"   {cli_} --as you review-page    (after the next entity iteration selects)")
    print("\nStop LocalStack with `make localstack-down`.")
    return 0
