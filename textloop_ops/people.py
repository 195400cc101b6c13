"""People on a stack: who may sign in, in which groups, and their bearer tokens.

* **Local** (``people_sign_in = "local"``, LocalStack by default): the user directory is SSM
  parameters under the stack's ``people_directory_prefix`` (one per user, its groups as JSON);
  a token is a JWT signed by the stack's KMS key (``people_token_key_arn``) with ``kms:Sign``
  under the operator's own credentials. Nothing in the stack reads the directory: it is the
  operator's record of whom they mint tokens for. Whoever may call ``kms:Sign`` on the key can
  mint any identity, so that permission is the operator's alone.
* **Cognito** (AWS): users live in the stack's user pool; ``add`` creates one (Cognito e-mails
  a temporary password) and puts it in its groups, ``token`` signs in with the user's password
  (USER_PASSWORD_AUTH, over TLS to Cognito) and returns the ID token.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from textloop.domain.identity import GROUPS, MAX_LOCAL_TOKEN_MINUTES, TokenIssuer, local_claims

from textloop_ops.client import Target, TargetError, UsageError

# A local user name: a safe SSM parameter name segment (no "@": SSM refuses it).
LOCAL_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_TOKEN_MINUTES = 60


class UnknownUser(LookupError):
    pass


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "groups": list(self.groups)}


def check_groups(groups: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown or not groups:
        raise UsageError(f"--group must name one or more of {', '.join(GROUPS)} (got {unknown})")
    return tuple(sorted(set(groups)))


class LocalPeople:
    """The local directory (SSM) and tokens (KMS) of a stack deployed with people_sign_in=local."""

    def __init__(self, target: Target):
        outputs = target.outputs
        self.key_arn = outputs.get("people_token_key_arn")
        issuer = outputs.get("people_token_issuer") or {}
        self.prefix = outputs.get("people_directory_prefix")
        if not (self.key_arn and issuer and self.prefix):
            raise TargetError(
                "this stack has no local people issuer (outputs people_token_key_arn, "
                "people_token_issuer, people_directory_prefix); on AWS sign in with Cognito"
            )
        self.issuer = TokenIssuer(issuer["issuer"], issuer["audience"])
        self.ssm = target.client("ssm")
        self.kms = target.client("kms")

    def _parameter(self, name: str) -> str:
        if not LOCAL_USER_NAME.fullmatch(name):
            raise UsageError(
                f"user name {name!r}: letters, digits, '.', '_' and '-' only (at most 64)"
            )
        return self.prefix + name

    def add(self, name: str, groups: Sequence[str]) -> User:
        user = User(name, check_groups(groups))
        self.ssm.put_parameter(
            Name=self._parameter(name),
            Value=json.dumps({"groups": list(user.groups)}),
            Type="String",
            Overwrite=True,
            Description="textloop person (textloop users add)",
        )
        return user

    def remove(self, name: str) -> bool:
        try:
            self.ssm.delete_parameter(Name=self._parameter(name))
        except self.ssm.exceptions.ParameterNotFound:
            return False
        return True

    def get(self, name: str) -> User:
        try:
            value = self.ssm.get_parameter(Name=self._parameter(name))["Parameter"]["Value"]
        except self.ssm.exceptions.ParameterNotFound:
            raise UnknownUser(name) from None
        return User(name, tuple(json.loads(value)["groups"]))

    def list(self) -> list[User]:
        users = []
        paginator = self.ssm.get_paginator("get_parameters_by_path")
        for page in paginator.paginate(Path=self.prefix.rstrip("/"), Recursive=False):
            for parameter in page["Parameters"]:
                name = parameter["Name"].removeprefix(self.prefix)
                users.append(User(name, tuple(json.loads(parameter["Value"])["groups"])))
        return sorted(users, key=lambda u: u.name)

    def token(self, name: str, minutes: int = DEFAULT_TOKEN_MINUTES) -> str:
        # Imported here: minting is the only CLI path that needs the shared adapter.
        from textloop.adapters.people import mint_local_token

        user = self.get(name)
        if not 1 <= minutes <= MAX_LOCAL_TOKEN_MINUTES:
            raise UsageError(f"--minutes must be between 1 and {MAX_LOCAL_TOKEN_MINUTES}")
        claims = local_claims(
            user=user.name,
            groups=user.groups,
            issuer=self.issuer,
            now=int(time.time()),
            minutes=minutes,
            token_id=secrets.token_hex(12),
        )
        return mint_local_token(self.kms, self.key_arn, claims)


class CognitoPeople:
    """The stack's Cognito user pool (people_sign_in=cognito), with the operator's credentials."""

    def __init__(self, idp: Any, user_pool_id: str | None, client_id: str | None):
        # Only managing users needs the pool; signing in (``token``) needs the app client
        # alone, so a reviewer gets a token without knowing the pool.
        self._pool = user_pool_id
        self.client_id = client_id
        self.idp = idp

    @property
    def pool(self) -> str:
        if not self._pool:
            raise UsageError(
                "on AWS give --user-pool-id (env TEXTLOOP_COGNITO_USER_POOL_ID; terraform "
                "output cognito_user_pool_id)"
            )
        return self._pool

    def add(self, name: str, groups: Sequence[str], email: str | None = None) -> User:
        user = User(name, check_groups(groups))
        invite: dict[str, Any] = {}
        if email:
            invite = {
                "UserAttributes": [
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                ],
                "DesiredDeliveryMediums": ["EMAIL"],
            }
        # Adding a user again sets their groups to exactly these.
        with contextlib.suppress(self.idp.exceptions.UsernameExistsException):
            self.idp.admin_create_user(UserPoolId=self.pool, Username=name, **invite)
        for group in GROUPS:
            change = (
                self.idp.admin_add_user_to_group
                if group in user.groups
                else self.idp.admin_remove_user_from_group
            )
            change(UserPoolId=self.pool, Username=name, GroupName=group)
        return user

    def remove(self, name: str) -> bool:
        try:
            self.idp.admin_delete_user(UserPoolId=self.pool, Username=name)
        except self.idp.exceptions.UserNotFoundException:
            return False
        return True

    def list(self) -> list[User]:
        members: dict[str, set[str]] = {}
        for group in GROUPS:
            paginator = self.idp.get_paginator("list_users_in_group")
            for page in paginator.paginate(UserPoolId=self.pool, GroupName=group):
                for user in page["Users"]:
                    members.setdefault(user["Username"], set()).add(group)
        return [User(n, tuple(sorted(g))) for n, g in sorted(members.items())]

    def token(
        self,
        name: str,
        password: Callable[[str], str],
    ) -> str:
        """Sign in as ``name`` (``password(prompt)`` asks for it; a first sign-in also asks for
        a new password, as Cognito requires) and return the ID token."""
        if not self.client_id:
            raise UsageError(
                "on AWS give --client-id (env TEXTLOOP_COGNITO_CLIENT_ID; terraform output "
                "cognito_client_id)"
            )
        answer = self.idp.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": name, "PASSWORD": password(f"password for {name}: ")},
        )
        if answer.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            answer = self.idp.respond_to_auth_challenge(
                ClientId=self.client_id,
                ChallengeName="NEW_PASSWORD_REQUIRED",
                Session=answer["Session"],
                ChallengeResponses={
                    "USERNAME": name,
                    "NEW_PASSWORD": password(f"new password for {name} (first sign-in): "),
                },
            )
        if "AuthenticationResult" not in answer:
            raise TargetError(
                f"Cognito asks for {answer.get('ChallengeName')}: sign in once through the "
                "user pool's hosted UI or the AWS console, then try again"
            )
        return answer["AuthenticationResult"]["IdToken"]
