"""Endpoint credentials: keys, signed tokens, and the check the gateway runs per request.

Everything here is pure (stdlib only), so the control plane imports it to generate keys
and issue tokens, and the gateway uses the same code to verify them.

- ``key`` mode: a primary and a secondary key that never expire; regenerating one (writing
  a new keys file) invalidates the old value as soon as the gateway re-reads the file.
- ``aml_token`` mode: tokens are compact JWTs signed with HMAC-SHA256 by the endpoint's
  ``token_signing_key``, bound to the endpoint name, and expiring; ``issue_token`` returns
  them with Azure ML's field names (``access_token``, ``expiry_time_utc``,
  ``refresh_after_time_utc``, ``token_type``).

The keys file (mode 0600 locally, a mounted Secret on Kubernetes) is JSON::

    {"primary_key": "...", "secondary_key": "...", "token_signing_key": "..."}

Credentials are compared in constant time and never appear in an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from mlkube.entities.endpoint_auth import EndpointAuthToken
from mlkube.errors import UnauthorizedError, ValidationError

#: How long an issued token is valid unless the caller says otherwise.
DEFAULT_TOKEN_TTL = timedelta(hours=1)
_KEY_FIELDS = ("primary_key", "secondary_key", "token_signing_key")
_JWT_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


@dataclass(frozen=True)
class EndpointKeys:
    """The secrets of one endpoint. ``repr`` hides them so a log line cannot leak them."""

    primary_key: str
    secondary_key: str
    token_signing_key: str

    def __repr__(self) -> str:
        return "EndpointKeys(primary_key=***, secondary_key=***, token_signing_key=***)"

    @property
    def fingerprint(self) -> str:
        """Names which keys these are without revealing them: the gateway reports it
        unauthenticated, so a client can tell when a regenerated key is in use. A
        truncated hash of 256-bit random keys gives nothing to guess from."""
        material = "\0".join(getattr(self, field) for field in _KEY_FIELDS)
        return hashlib.sha256(b"mlkube-endpoint-keys\0" + material.encode()).hexdigest()[:16]


def generate_key() -> str:
    """One fresh random key (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def generate_keys() -> EndpointKeys:
    """A fresh primary key, secondary key and token signing key for a new endpoint."""
    return EndpointKeys(generate_key(), generate_key(), generate_key())


def regenerate_key(keys: EndpointKeys, key_type: str) -> EndpointKeys:
    """``keys`` with the ``primary`` or ``secondary`` key replaced (Azure ML's key_type)."""
    if key_type not in ("primary", "secondary"):
        raise ValidationError(f"key_type is {key_type!r}, not 'primary' or 'secondary'",
                              hint="Pass key_type='primary' or key_type='secondary'.")
    if key_type == "primary":
        return EndpointKeys(generate_key(), keys.secondary_key, keys.token_signing_key)
    return EndpointKeys(keys.primary_key, generate_key(), keys.token_signing_key)


def dump_endpoint_keys(keys: EndpointKeys) -> str:
    """The text of a keys file; write it with mode 0600 (or into a Secret)."""
    return json.dumps({name: getattr(keys, name) for name in _KEY_FIELDS}, indent=2) + "\n"


def load_endpoint_keys(text: str, *, source: str = "keys file") -> EndpointKeys:
    """Parse a keys file; the error names the missing field, never a value."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValidationError(
            f"{source} is not JSON",
            hint='Write {"primary_key": ..., "secondary_key": ..., "token_signing_key": ...}; '
                 "`mlkube online-endpoint regenerate-keys` rewrites it.",
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(f"{source} must hold one JSON object",
                              hint="Write the three keys as a JSON object.")
    for name in _KEY_FIELDS:
        value = data.get(name)
        if not isinstance(value, str) or len(value) < 16:
            raise ValidationError(
                f"{source}: {name} is missing or shorter than 16 characters",
                hint="Regenerate the endpoint's keys so the file holds all three.",
            )
    return EndpointKeys(*(data[name] for name in _KEY_FIELDS))


def issue_token(
    signing_key: str, endpoint: str, ttl: timedelta = DEFAULT_TOKEN_TTL, *,
    now: float | None = None,
) -> EndpointAuthToken:
    """Sign a token for ``endpoint`` valid for ``ttl``; refresh is advised at half-life."""
    issued = int(time.time() if now is None else now)
    expiry = issued + max(1, int(ttl.total_seconds()))
    claims = {"aud": endpoint, "iat": issued, "exp": expiry, "iss": "mlkube"}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = _JWT_HEADER + b"." + payload
    token = signing_input + b"." + _b64(_sign(signing_key, signing_input))
    return EndpointAuthToken(
        access_token=token.decode(),
        expiry_time_utc=expiry,
        refresh_after_time_utc=issued + (expiry - issued) // 2,
    )


def verify_token(signing_key: str, token: str, *, endpoint: str,
                 now: float | None = None) -> dict[str, object]:
    """The token's claims when it is signed by ``signing_key`` for ``endpoint`` and not
    expired; otherwise ``UnauthorizedError`` saying which of these failed."""
    # Nothing of a token is parsed before its signature is checked: the claims are
    # attacker-chosen bytes until then (a deeply nested claim made json.loads raise
    # RecursionError, a 500 and a traceback per request, unauthenticated).
    parts = token.encode("utf-8", "replace").split(b".")
    if len(parts) != 3:
        raise UnauthorizedError("The bearer token is malformed.", hint=_TOKEN_HINT)
    signing_input = parts[0] + b"." + parts[1]
    try:
        signature = base64.urlsafe_b64decode(parts[2] + b"=" * (-len(parts[2]) % 4))
    except (binascii.Error, ValueError):
        raise UnauthorizedError("The bearer token is malformed.", hint=_TOKEN_HINT) from None
    if not hmac.compare_digest(signature, _sign(signing_key, signing_input)):
        raise UnauthorizedError("The bearer token's signature is not valid for this endpoint.",
                                hint=_TOKEN_HINT)
    try:  # signed by this endpoint's key, so written by issue_token; still, never a 500
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + b"=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise UnauthorizedError("The bearer token is malformed.", hint=_TOKEN_HINT) from None
    if not isinstance(claims, dict) or claims.get("aud") != endpoint:
        raise UnauthorizedError("The bearer token was issued for another endpoint.",
                                hint=_TOKEN_HINT)
    expiry = claims.get("exp")
    if not isinstance(expiry, int) or expiry <= (time.time() if now is None else now):
        raise UnauthorizedError("The bearer token has expired.", hint=_TOKEN_HINT)
    return claims


class Authenticator:
    """Checks the ``Authorization`` header of a request against one endpoint's credentials.

    Built once per keys/config load, so the per-request check only compares bytes.
    """

    def __init__(self, *, auth_mode: str, endpoint: str, keys: EndpointKeys) -> None:
        self.auth_mode = auth_mode
        self.endpoint = endpoint
        self._keys = (keys.primary_key.encode(), keys.secondary_key.encode())
        self._signing_key = keys.token_signing_key

    def check(self, authorization: bytes | None, *, now: float | None = None) -> None:
        """Return if the header carries a valid credential, else raise UnauthorizedError."""
        if not authorization:
            raise UnauthorizedError(
                "The request has no Authorization header.",
                hint=f"Send 'Authorization: Bearer <{self._credential_name}>'; "
                     f"`mlkube online-endpoint get-credentials -n {self.endpoint}` prints it.",
            )
        scheme, _, credential = authorization.strip().partition(b" ")
        credential = credential.strip()
        if scheme.lower() != b"bearer" or not credential:
            raise UnauthorizedError(
                "The Authorization header is not of the form 'Bearer <credential>'.",
                hint=f"Send 'Authorization: Bearer <{self._credential_name}>'.",
            )
        if self.auth_mode == "aml_token":
            verify_token(self._signing_key, credential.decode("latin-1"),
                         endpoint=self.endpoint, now=now)
            return
        # Both comparisons always run, so timing says nothing about which key matched.
        primary = hmac.compare_digest(credential, self._keys[0])
        secondary = hmac.compare_digest(credential, self._keys[1])
        if not (primary or secondary):
            raise UnauthorizedError(
                "The key in the Authorization header is not valid for this endpoint.",
                hint=f"Use the current primary or secondary key: `mlkube online-endpoint "
                     f"get-credentials -n {self.endpoint}` (keys change when regenerated).",
            )

    @property
    def _credential_name(self) -> str:
        return "token" if self.auth_mode == "aml_token" else "key"


_TOKEN_HINT = ("Get a fresh token with `mlkube online-endpoint get-credentials` "
               "(ml_client.online_endpoints.get_keys) and send it as 'Bearer <token>'.")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _sign(signing_key: str, data: bytes) -> bytes:
    return hmac.new(signing_key.encode(), data, hashlib.sha256).digest()
