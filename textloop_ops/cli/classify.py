"""``textloop classify``: one text through the active model, as a client application sends it
(with the API key)."""

from __future__ import annotations

import argparse

from textloop_ops.cli.common import EXIT_OK, add_command, add_model_type


def cmd_classify(args: argparse.Namespace) -> int:
    body = {"text": args.text, "model_type": args.model_type}
    # A client route: the API key, never a person's token.
    result = args.target.api(timeout=args.timeout).call("POST", "/classify", body)
    if args.output.as_json:
        args.output.json(result)
        return EXIT_OK
    labels = ", ".join(result.get("predicted_labels") or []) or "(none)"
    args.output.line(f"{labels}  (model {result.get('model_version')})")
    for item in (result.get("prediction") or {}).get("labels", []):
        args.output.line(f"  {item['label']:<24} {float(item['score']):.3f}")
    if result.get("routed_to_review"):
        args.output.line("routed to review: the model is unsure of this text")
    return EXIT_OK


def add_parsers(commands) -> None:
    classify = add_command(
        commands, "classify", cmd_classify, "classify a text with the active model"
    )
    classify.add_argument("text")
    add_model_type(classify)
