"""People's tokens in tests: the local issuer (a KMS signing key, tokens minted with kms:Sign)
exactly as the stack and the CLI use it."""

from __future__ import annotations

import secrets
import time

import boto3
from textloop.adapters.people import mint_local_token
from textloop.domain.identity import TokenIssuer, local_claims

ISSUER = TokenIssuer("textloop:test", "textloop-test-people")


def create_signing_key(kms=None) -> str:
    """An RSA_2048 SIGN_VERIFY key, as terraform/modules/textloop creates (its ARN)."""
    kms = kms or boto3.client("kms")
    return kms.create_key(
        KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048", Description="textloop test people tokens"
    )["KeyMetadata"]["Arn"]


def people_env(key_arn: str, issuer: TokenIssuer = ISSUER) -> dict[str, str]:
    return {
        "PEOPLE_TOKEN_KEY_ID": key_arn,
        "PEOPLE_TOKEN_ISSUER": issuer.issuer,
        "PEOPLE_TOKEN_AUDIENCE": issuer.audience,
    }


def token(
    key_arn: str,
    user: str,
    *groups: str,
    minutes: int = 60,
    issuer: TokenIssuer = ISSUER,
    kms=None,
    now: int | None = None,
) -> str:
    claims = local_claims(
        user=user,
        groups=list(groups),
        issuer=issuer,
        now=int(time.time()) if now is None else now,
        minutes=minutes,
        token_id=secrets.token_hex(8),
    )
    return mint_local_token(kms or boto3.client("kms"), key_arn, claims)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}
