"""The promotion gate, and rollback to an earlier model version.

Gate rules, all on evaluations made by ``evaluation`` (the candidate and the active model):

1. Both must be evaluated on the same frozen test set (equal, non-empty ``test_set_hash``),
   else the gate *refuses*: comparing numbers from different test sets means nothing.
2. No active model yet: promote iff the candidate's metric reaches ``min_absolute``.
3. Otherwise promote iff the candidate beats the active model on the metric by at least
   ``min_improvement`` (and by more than nothing: a tie is not worth a deployment) AND no label
   regresses: per-label F1 (entity recognisers: per entity type) may drop by at most
   ``per_label_tolerance``. Labels with no support
   in the test set are not judged (their F1 is 0 for both by definition). A label the active
   model scored that the candidate does not know regresses to 0.

The metric defaults to ``F1Score`` (macro) for MULTI_CLASS, where micro-F1 equals accuracy and
hides a class the model gave up on, and to ``MicroF1Score`` for MULTI_LABEL and entity
recognisers, where rare labels make the macro average swing with one or two examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from textloop.domain.evaluation import METRIC_NAMES
from textloop.domain.names import Mode
from textloop.domain.timestamps import parse_timestamp

TRAINED_STATUSES = ("TRAINED", "TRAINED_WITH_WARNINGS")


@dataclass(frozen=True)
class GateConfig:
    metric: str | None = None
    min_improvement: float = 0.0
    per_label_tolerance: float = 0.02
    min_absolute: float = 0.5

    def __post_init__(self) -> None:
        if self.metric is not None and self.metric not in METRIC_NAMES:
            raise ValueError(f"metric must be one of {METRIC_NAMES}, got {self.metric!r}")
        if self.metric == "HammingLoss":
            # Lower is better: the "beats by a margin" rule would run backwards.
            raise ValueError("HammingLoss cannot be the gate metric (lower is better)")
        for name in ("min_improvement", "per_label_tolerance", "min_absolute"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GateConfig:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown gate settings: {sorted(unknown)}")
        return cls(**data)

    def metric_for(self, evaluation: Mapping[str, Any]) -> str:
        if self.metric:
            return self.metric
        if evaluation.get("mode") == Mode.MULTI_CLASS:
            return "F1Score"
        return "MicroF1Score"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "min_improvement": self.min_improvement,
            "per_label_tolerance": self.per_label_tolerance,
            "min_absolute": self.min_absolute,
        }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def decide(
    candidate: Mapping[str, Any],
    active: Mapping[str, Any] | None,
    config: GateConfig | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The gate's decision: ``{promote, outcome, reason, metric, candidate, active, delta, ...}``.

    ``outcome`` is ``promote``, ``reject`` or ``refuse`` (the comparison itself was invalid);
    ``reason`` is one human-readable sentence for the audit record and the notification.
    """
    if not isinstance(config, GateConfig):
        config = GateConfig.from_dict(config)
    metric = config.metric_for(candidate)
    decision: dict[str, Any] = {
        "promote": False,
        "outcome": "reject",
        "reason": "",
        "metric": metric,
        "candidate": _value(candidate, metric),
        "active": _value(active, metric) if active else None,
        "delta": None,
        "regressions": [],
        "test_set_hash": candidate.get("test_set_hash"),
        "candidate_model_version": candidate.get("model_version"),
        "active_model_version": active.get("model_version") if active else None,
        "config": config.to_dict(),
    }
    candidate_name = f"candidate {candidate.get('model_version') or '(unnamed)'}"

    def refuse(why: str) -> dict[str, Any]:
        decision.update(outcome="refuse", reason=f"Refused to compare: {why}.")
        return decision

    if not candidate.get("test_set_hash"):
        return refuse(f"the {candidate_name} has no test_set_hash")
    if decision["candidate"] is None:
        return refuse(f"the {candidate_name} has no {metric}")
    if active is None:
        value = decision["candidate"]
        if value >= config.min_absolute:
            decision.update(
                promote=True,
                outcome="promote",
                reason=(
                    f"Promote {candidate_name}: no active model yet and {metric} "
                    f"{_fmt(value)} reaches the minimum {_fmt(config.min_absolute)}."
                ),
            )
        else:
            decision["reason"] = (
                f"Reject {candidate_name}: no active model yet, but {metric} {_fmt(value)} "
                f"is below the minimum {_fmt(config.min_absolute)}."
            )
        return decision
    if active.get("test_set_hash") != candidate["test_set_hash"]:
        return refuse(
            f"the {candidate_name} was evaluated on test set "
            f"{str(candidate['test_set_hash'])[:12]}, the active model on "
            f"{str(active.get('test_set_hash'))[:12]}"
        )
    if decision["active"] is None:
        return refuse(f"the active model's evaluation has no {metric}")
    if (candidate.get("model_type"), candidate.get("mode")) != (
        active.get("model_type"),
        active.get("mode"),
    ):
        return refuse("the two models are of different model types or modes")

    delta = decision["candidate"] - decision["active"]
    decision["delta"] = delta
    regressions = _regressions(candidate, active, config.per_label_tolerance)
    decision["regressions"] = regressions
    # A tiny epsilon so that "better by exactly the margin" is not lost to float rounding.
    better = delta > 1e-12 and delta >= config.min_improvement - 1e-12
    comparison = (
        f"{metric} {_fmt(decision['candidate'])} vs active {_fmt(decision['active'])} "
        f"({delta:+.4f}, required margin {config.min_improvement:.4f})"
    )
    if better and not regressions:
        decision.update(
            promote=True,
            outcome="promote",
            reason=(
                f"Promote {candidate_name}: {comparison}; no label's F1 dropped by more than "
                f"{config.per_label_tolerance:.4f}."
            ),
        )
        return decision
    why = []
    if not better:
        why.append(comparison + " is not enough")
    else:
        why.append(comparison)
    if regressions:
        listed = ", ".join(
            f"{r['label']} {_fmt(r['active'])}→{_fmt(r['candidate'])}" for r in regressions[:5]
        )
        more = f" and {len(regressions) - 5} more" if len(regressions) > 5 else ""
        why.append(
            f"{len(regressions)} label(s) regressed beyond {config.per_label_tolerance:.4f}: "
            f"{listed}{more}"
        )
    decision["reason"] = f"Reject {candidate_name}: " + "; ".join(why) + "."
    return decision


def _value(evaluation: Mapping[str, Any] | None, metric: str) -> float | None:
    if not evaluation:
        return None
    value = evaluation.get(metric)
    return None if value is None else float(value)


def _regressions(
    candidate: Mapping[str, Any], active: Mapping[str, Any], tolerance: float
) -> list[dict[str, Any]]:
    found = []
    candidate_labels = candidate.get("per_label") or {}
    for label, before in sorted((active.get("per_label") or {}).items()):
        support = before.get("Support", 0)
        if not support:
            continue
        after = candidate_labels.get(label, {})
        old, new = float(before.get("F1Score", 0.0)), float(after.get("F1Score", 0.0))
        if new < old - tolerance - 1e-12:
            found.append(
                {
                    "label": label,
                    "active": old,
                    "candidate": new,
                    "delta": new - old,
                    "support": support,
                }
            )
    found.sort(key=lambda r: (r["delta"], r["label"]))
    return found


# --------------------------------------------------------------------------- rollback


class RollbackError(ValueError):
    """The requested rollback target is not a model the registry can point to."""


def plan_rollback(
    history: Sequence[Mapping[str, Any]],
    target_model_version: str | None,
    current_model_version: str | None,
    *,
    reason: str | None = None,
) -> dict[str, Any]:
    """The active-model pointer change that rolls back to ``target_model_version``.

    ``history``: the model registry's entries ``{model_version, promoted_at, metrics, status?}``.
    ``target_model_version=None`` picks the version promoted last before the current one. The
    target must exist, must have been trained (``status`` TRAINED / TRAINED_WITH_WARNINGS when
    given, and evaluation metrics recorded). Rolling back to the model that is already active
    returns ``changed: False`` (a retried step must not fail).
    """
    entries = {str(e.get("model_version")): e for e in history if e.get("model_version")}
    if target_model_version is None:
        target_model_version = previous_model_version(history, current_model_version)
        if target_model_version is None:
            raise RollbackError(
                f"no model was promoted before {current_model_version!r}: nothing to roll back to"
            )
    target = entries.get(target_model_version)
    if target is None:
        known = ", ".join(sorted(entries)) or "none"
        raise RollbackError(
            f"model version {target_model_version!r} is not in the registry (known: {known})"
        )
    status = target.get("status")
    if status is not None and status not in TRAINED_STATUSES:
        raise RollbackError(
            f"model version {target_model_version!r} has status {status}; only "
            f"{' or '.join(TRAINED_STATUSES)} models can serve"
        )
    if not target.get("metrics"):
        raise RollbackError(
            f"model version {target_model_version!r} has no evaluation metrics: it was never "
            "trained and evaluated"
        )
    changed = target_model_version != current_model_version
    why = reason or "operator rollback"
    return {
        "changed": changed,
        "kind": "rollback",
        "model_version": target_model_version,
        "previous_model_version": current_model_version,
        "metrics": target.get("metrics"),
        "thresholds": target.get("thresholds"),
        "reason": (
            f"Roll back from {current_model_version} to {target_model_version}: {why}."
            if changed
            else f"{target_model_version} is already the active model; nothing to change."
        ),
    }


def previous_model_version(
    history: Sequence[Mapping[str, Any]], current_model_version: str | None
) -> str | None:
    """The version promoted most recently before ``current_model_version`` (by promoted_at)."""
    promoted = sorted(
        (e for e in history if e.get("model_version") and e.get("promoted_at")),
        key=lambda e: parse_timestamp(e["promoted_at"]),
    )
    versions = [str(e["model_version"]) for e in promoted]
    if current_model_version in versions:
        versions = versions[: versions.index(current_model_version)]
    else:
        versions = [v for v in versions if v != current_model_version]
    return versions[-1] if versions else None


__all__ = [
    "TRAINED_STATUSES",
    "GateConfig",
    "RollbackError",
    "decide",
    "plan_rollback",
    "previous_model_version",
]
