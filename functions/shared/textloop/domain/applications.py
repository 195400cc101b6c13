"""Client applications: who calls ``POST /classify`` and ``POST /feedback`` and drops batch files.

An application is identified by its API Gateway API key (one key and one usage plan each, made by
Terraform from the variable ``client_applications``). API Gateway puts the id of the key a
request used in ``requestContext.identity.apiKeyId``; the Lambdas get the map from key id to
application in ``CLIENT_APPLICATIONS``::

    {"<api key id>": {"application_id": "<name>", "trusted": <bool>}}

``application_id`` is the name the records carry (``submitter.application_id``) and the segment
of the application's upload prefix (``layout.feedback_upload_key``), so it follows
``layout.APPLICATION_ID``. ``trusted`` decides where the application's explicit corrections go:
trusted ones straight into the annotation pool, untrusted ones (the default) to human review
first, with the correction shown as the suggestion.

The map is parsed strictly: a deployment with a malformed map fails every request loudly rather
than treating callers as someone they are not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from textloop.domain.layout import APPLICATION_ID

ENVIRONMENT_VARIABLE = "CLIENT_APPLICATIONS"


class InvalidApplications(ValueError):
    """``CLIENT_APPLICATIONS`` is not the map described in the module docstring."""


@dataclass(frozen=True, slots=True)
class Application:
    application_id: str
    trusted: bool = False

    def __post_init__(self) -> None:
        if not is_application_id(self.application_id):
            raise ValueError(
                f"application_id must match {APPLICATION_ID.pattern}, got {self.application_id!r}"
            )
        if not isinstance(self.trusted, bool):
            raise ValueError(f"trusted must be true or false, got {self.trusted!r}")


def is_application_id(value: Any) -> bool:
    return isinstance(value, str) and APPLICATION_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class Applications:
    """The deployment's client applications, by API key id and by application id."""

    by_key_id: Mapping[str, Application]

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for key_id, app in self.by_key_id.items():
            if app.application_id in seen:
                raise InvalidApplications(
                    f"application {app.application_id!r} has two API keys "
                    f"({seen[app.application_id]}, {key_id}): one key per application"
                )
            seen[app.application_id] = key_id

    @classmethod
    def of(cls, entries: Iterable[tuple[str, Application]]) -> Applications:
        return cls(dict(entries))

    def for_key(self, api_key_id: str | None) -> Application | None:
        """The application whose API key has this id; None for no key or an unknown one."""
        if not api_key_id:
            return None
        return self.by_key_id.get(api_key_id)

    def by_id(self, application_id: str | None) -> Application | None:
        """The application named ``application_id``; None when there is none."""
        for app in self.by_key_id.values():
            if app.application_id == application_id:
                return app
        return None

    def __len__(self) -> int:
        return len(self.by_key_id)


def parse_applications(raw: str | None) -> Applications:
    """``CLIENT_APPLICATIONS`` as ``Applications``; ``InvalidApplications`` naming the entry at
    fault. Unset or empty: no application (every client request is refused)."""
    if raw is None or not raw.strip():
        return Applications({})
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidApplications(f"{ENVIRONMENT_VARIABLE} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidApplications(f"{ENVIRONMENT_VARIABLE} must be a JSON object by API key id")
    entries = []
    for key_id, entry in data.items():
        where = f"{ENVIRONMENT_VARIABLE}[{key_id!r}]"
        if not key_id:
            raise InvalidApplications(f"{ENVIRONMENT_VARIABLE} has an empty API key id")
        if not isinstance(entry, dict):
            raise InvalidApplications(f"{where} must be an object")
        unknown = set(entry) - {"application_id", "trusted"}
        if unknown:
            raise InvalidApplications(f"{where} has unknown fields {sorted(unknown)}")
        if "application_id" not in entry:
            raise InvalidApplications(f"{where}.application_id is required")
        try:
            app = Application(entry["application_id"], entry.get("trusted", False))
        except ValueError as exc:
            raise InvalidApplications(f"{where}: {exc}") from None
        entries.append((key_id, app))
    return Applications.of(entries)


__all__ = [
    "ENVIRONMENT_VARIABLE",
    "Application",
    "Applications",
    "InvalidApplications",
    "is_application_id",
    "parse_applications",
]
