"""People's identity: who a verified bearer token names, and what that person may do.

Three groups, the ``cognito:groups`` claim of the token (Cognito puts a user's user-pool groups
there; the local issuer mints the same claim):

* ``reviewers``: the review API and page (read batches, post answers);
* ``operators``: iterations (start, list, read), models (active, history, rollback);
* ``approvers``: ``POST /approvals/{iteration_id}``.

A person may be in several groups. ``ROUTE_GROUPS`` is the one table of which route needs which
group; the API modules ask for exactly that group.

The signature is checked by ``textloop.adapters.people``; the claims, which need no
cryptography, are checked here (``principal_from_claims``): the issuer, the audience (``aud`` of
an ID token, ``client_id`` of an access token), ``token_use``, and ``exp``/``nbf``/``iat`` with a
small leeway for clock skew. The ``Principal``'s id is the user name (``cognito:username`` of an
ID token, ``username`` of an access token), which is what reviewers and approvers are recorded
as in answers, approvals and audit records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REVIEWERS = "reviewers"
OPERATORS = "operators"
APPROVERS = "approvers"
GROUPS = (REVIEWERS, OPERATORS, APPROVERS)

# "METHOD /path" (as in terraform/modules/textloop/api.tf) -> the group it needs.
ROUTE_GROUPS: dict[str, str] = {
    "GET /reviews": REVIEWERS,
    "GET /reviews/{batch_id}": REVIEWERS,
    "POST /reviews/{batch_id}/answers": REVIEWERS,
    "POST /approvals/{iteration_id}": APPROVERS,
    "POST /iterations": OPERATORS,
    "GET /iterations": OPERATORS,
    "GET /iterations/{iteration_id}": OPERATORS,
    "GET /models": OPERATORS,
    "GET /models/active": OPERATORS,
    "POST /models/rollback": OPERATORS,
}

# Seconds of clock skew tolerated between the issuer and this Lambda.
LEEWAY_SECONDS = 60
# A local token lives at most this long (the CLI refuses longer): no revocation list exists,
# so a leaked token must die by itself.
MAX_LOCAL_TOKEN_MINUTES = 12 * 60
TOKEN_USES = ("id", "access")


class Unauthenticated(Exception):
    """No token, or one that is not valid here (HTTP 401). The message names the reason and
    never contains the token."""


class Forbidden(Exception):
    """A valid token whose person is not in the group a route needs (HTTP 403)."""

    def __init__(self, principal: Principal, group: str):
        self.principal = principal
        self.group = group
        super().__init__(f"{principal.id} is not in the {group} group")


@dataclass(frozen=True)
class Principal:
    id: str
    groups: frozenset[str]

    def require(self, group: str) -> Principal:
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}")
        if group not in self.groups:
            raise Forbidden(self, group)
        return self


@dataclass(frozen=True)
class TokenIssuer:
    """What a token must say to be accepted: who issued it and for which client."""

    issuer: str
    audience: str

    @staticmethod
    def cognito(region: str, user_pool_id: str, client_id: str) -> TokenIssuer:
        return TokenIssuer(f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}", client_id)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    if not authorization:
        raise Unauthenticated("no Authorization header: send Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be Bearer <token>")
    return token


def principal_from_claims(
    claims: Mapping[str, Any], issuer: TokenIssuer, *, now: float, leeway: float = LEEWAY_SECONDS
) -> Principal:
    """The person a token's (signature-checked) claims name; ``Unauthenticated`` naming the
    first claim that does not hold."""
    if claims.get("iss") != issuer.issuer:
        raise Unauthenticated("token issuer is not trusted here")
    token_use = claims.get("token_use")
    if token_use not in TOKEN_USES:
        raise Unauthenticated("token_use must be id or access")
    is_id_token = token_use == TOKEN_USES[0]
    audience = claims.get("aud") if is_id_token else claims.get("client_id")
    audiences = audience if isinstance(audience, list) else [audience]
    if issuer.audience not in audiences:
        raise Unauthenticated("token was issued for another client")
    exp = _number(claims, "exp", required=True)
    if now > exp + leeway:
        raise Unauthenticated("token expired")
    for name in ("nbf", "iat"):
        at = _number(claims, name, required=False)
        if at is not None and now + leeway < at:
            raise Unauthenticated(f"token not valid yet ({name} is in the future)")
    name = claims.get("cognito:username") if is_id_token else claims.get("username")
    name = name or claims.get("sub")
    if not isinstance(name, str) or not name.strip():
        raise Unauthenticated("token names no user")
    groups = claims.get("cognito:groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise Unauthenticated("cognito:groups must be a list of group names")
    return Principal(id=name.strip(), groups=frozenset(groups))


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    # bool is an int in Python; a token saying "exp": true is malformed, not 1970.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthenticated(f"token claim {name} must be a number")
    return float(value)


def local_claims(
    *,
    user: str,
    groups: list[str] | tuple[str, ...],
    issuer: TokenIssuer,
    now: int,
    minutes: int,
    token_id: str,
) -> dict[str, Any]:
    """The claims of a locally minted token: an ID token shaped like Cognito's, so one
    verification path reads both."""
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown group(s) {unknown}; groups are {', '.join(GROUPS)}")
    if not 1 <= minutes <= MAX_LOCAL_TOKEN_MINUTES:
        raise ValueError(f"minutes must be between 1 and {MAX_LOCAL_TOKEN_MINUTES}")
    return {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": user,
        "cognito:username": user,
        "cognito:groups": sorted(set(groups)),
        "token_use": "id",
        "iat": now,
        "nbf": now,
        "exp": now + minutes * 60,
        "jti": token_id,
    }


__all__ = [
    "APPROVERS",
    "GROUPS",
    "OPERATORS",
    "REVIEWERS",
    "ROUTE_GROUPS",
    "Forbidden",
    "Principal",
    "TokenIssuer",
    "Unauthenticated",
    "bearer_token",
    "local_claims",
    "principal_from_claims",
]
