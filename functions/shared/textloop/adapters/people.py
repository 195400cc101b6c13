"""Verifying people's bearer tokens, and minting local ones with the stack's KMS key.

Two issuers, one verification path (``TokenVerifier``: an RS256 signature checked with joserfc,
then ``domain.identity.principal_from_claims``):

* **Cognito** (AWS): the user pool's signing keys are its JWKS at
  ``https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json``, fetched once per
  Lambda instance (``fetch_jwks`` is a parameter so tests hand in moto's keys), and again when a
  token names a key id the set lacks (Cognito rotated its keys), at most every
  ``KEY_REFRESH_SECONDS`` so tokens with made-up key ids cannot make every request fetch.
* **Local** (LocalStack): an asymmetric KMS key (RSA_2048, SIGN_VERIFY) the stack creates. The
  Lambda reads its public key once per instance (kms:GetPublicKey); only holders of kms:Sign on
  that key (the operator, through ``mint_local_token``) can issue tokens.

Which one a Lambda uses is its environment (``verifier_from_env``): ``COGNITO_USER_POOL_ID`` and
``COGNITO_CLIENT_ID``, or ``PEOPLE_TOKEN_KEY_ID`` with ``PEOPLE_TOKEN_ISSUER`` and
``PEOPLE_TOKEN_AUDIENCE``. Tokens are never logged: errors name the reason only.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from textloop.domain.identity import Principal, TokenIssuer, Unauthenticated, principal_from_claims

ALGORITHM = "RS256"
# KMS's name for RS256: RSASSA-PKCS1-v1_5 with SHA-256 over the JWS signing input.
KMS_SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
# A JWT far longer than any Cognito token is refused before it is parsed.
MAX_TOKEN_CHARS = 16_384
JWKS_TIMEOUT_SECONDS = 5
KEY_REFRESH_SECONDS = 300

Key = KeySet | RSAKey


def cognito_jwks_url(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}/.well-known/jwks.json"


def fetch_jwks(url: str) -> dict[str, Any]:
    """The JSON Web Key Set at ``url`` (https only)."""
    if not url.startswith("https://"):
        raise ValueError(f"refusing to fetch keys over a non-https URL: {url}")
    with urllib.request.urlopen(url, timeout=JWKS_TIMEOUT_SECONDS) as response:  # noqa: S310
        return json.loads(response.read())


class TokenVerifier:
    """Checks a bearer token's signature with keys loaded on first use (then kept), and its
    claims against ``issuer``."""

    def __init__(
        self,
        issuer: TokenIssuer,
        load_key: Callable[[], Key],
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.issuer = issuer
        self._load_key = load_key
        self._key: Key | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        self._clock = clock

    def key(self, kid: str | None = None) -> Key:
        """The verification key(s); a key set is reloaded when it lacks ``kid`` and was loaded
        at least ``KEY_REFRESH_SECONDS`` ago."""
        with self._lock:
            now = self._clock()
            rotated = (
                isinstance(self._key, KeySet)
                and kid is not None
                and kid not in {k.kid for k in self._key.keys}
                and now - self._loaded_at >= KEY_REFRESH_SECONDS
            )
            if self._key is None or rotated:
                self._key = self._load_key()
                self._loaded_at = now
            return self._key

    def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("token too long")
        try:
            decoded = jwt.decode(token, self.key(_key_id(token)), algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError, KeyError, UnicodeError):
            # The library's message may quote parts of the token: only the kind of failure is
            # kept.
            raise Unauthenticated("token signature or format is not valid") from None
        return principal_from_claims(decoded.claims, self.issuer, now=self._clock())


def _key_id(token: str) -> str | None:
    """The ``kid`` of a JWT's header, or None when the header names none or is not readable (the
    signature check then refuses the token)."""
    try:
        kid = jws.extract_compact(token.encode()).headers().get("kid")
    except (JoseError, ValueError, TypeError, UnicodeError):
        return None
    return kid if isinstance(kid, str) else None


def cognito_verifier(
    region: str,
    user_pool_id: str,
    client_id: str,
    *,
    fetch: Callable[[str], Mapping[str, Any]] = fetch_jwks,
    clock: Callable[[], float] = time.time,
) -> TokenVerifier:
    url = cognito_jwks_url(region, user_pool_id)
    return TokenVerifier(
        TokenIssuer.cognito(region, user_pool_id, client_id),
        lambda: KeySet.import_key_set(dict(fetch(url))),
        clock=clock,
    )


def kms_verifier(
    kms: Any,
    key_id: str,
    issuer: TokenIssuer,
    *,
    clock: Callable[[], float] = time.time,
) -> TokenVerifier:
    def load() -> RSAKey:
        # DER SubjectPublicKeyInfo, which joserfc imports as is.
        return RSAKey.import_key(kms.get_public_key(KeyId=key_id)["PublicKey"])

    return TokenVerifier(issuer, load, clock=clock)


def verifier_from_env(env: Mapping[str, str], clients: Any) -> TokenVerifier:
    """The verifier this Lambda's environment configures (see the module docstring)."""
    pool, client_id = env.get("COGNITO_USER_POOL_ID"), env.get("COGNITO_CLIENT_ID")
    if pool and client_id:
        region = pool.split("_", 1)[0]  # a pool id is <region>_<id>
        return cognito_verifier(region, pool, client_id)
    key_id = env.get("PEOPLE_TOKEN_KEY_ID")
    issuer, audience = env.get("PEOPLE_TOKEN_ISSUER"), env.get("PEOPLE_TOKEN_AUDIENCE")
    if key_id and issuer and audience:
        return kms_verifier(clients.get("kms"), key_id, TokenIssuer(issuer, audience))
    raise RuntimeError(
        "no people token issuer configured: set COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID, "
        "or PEOPLE_TOKEN_KEY_ID, PEOPLE_TOKEN_ISSUER and PEOPLE_TOKEN_AUDIENCE"
    )


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def mint_local_token(kms: Any, key_id: str, claims: Mapping[str, Any]) -> str:
    """A compact RS256 JWT of ``claims`` signed by KMS (``kms:Sign`` with the caller's own
    credentials). Written by hand: a JWT is two base64url JSON parts and a signature, and
    joserfc signs only with private keys it holds, which KMS never hands out."""
    header = {"alg": ALGORITHM, "typ": "JWT", "kid": key_id.rsplit("/", 1)[-1]}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + b"."
        + _b64url(json.dumps(dict(claims), separators=(",", ":"), sort_keys=True).encode())
    )
    signature = kms.sign(
        KeyId=key_id,
        Message=signing_input,
        MessageType="RAW",
        SigningAlgorithm=KMS_SIGNING_ALGORITHM,
    )["Signature"]
    return (signing_input + b"." + _b64url(signature)).decode("ascii")


__all__ = [
    "TokenVerifier",
    "cognito_jwks_url",
    "cognito_verifier",
    "fetch_jwks",
    "kms_verifier",
    "mint_local_token",
    "verifier_from_env",
]
