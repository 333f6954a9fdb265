"""Keys and tokens, as the control plane issues them and the gateway checks them."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest

from mlkube.errors import UnauthorizedError, ValidationError
from mlkube.gateway import (
    dump_endpoint_keys,
    generate_keys,
    issue_token,
    load_endpoint_keys,
    regenerate_key,
    verify_token,
)
from mlkube.gateway.auth import Authenticator
from tests.gateway.native import python_only

pytestmark = python_only("unit tests of mlkube.gateway.auth (the Go engine has its own "
                         "`go test` in gateway-native/)")


def test_generated_keys_are_distinct_and_never_shown_by_repr():
    keys = generate_keys()

    assert len({keys.primary_key, keys.secondary_key, keys.token_signing_key}) == 3
    assert len(keys.primary_key) >= 32
    assert keys.primary_key not in repr(keys)


def test_keys_file_round_trips_and_its_errors_name_the_field_not_the_value():
    keys = generate_keys()
    assert load_endpoint_keys(dump_endpoint_keys(keys)) == keys

    with pytest.raises(ValidationError) as caught:
        load_endpoint_keys('{"primary_key": "s3cr3tVal", "secondary_key": "x"}')
    assert "primary_key" in caught.value.message
    assert "s3cr3tVal" not in str(caught.value)


def test_regenerating_one_key_keeps_the_other():
    keys = generate_keys()

    primary = regenerate_key(keys, "primary")
    secondary = regenerate_key(keys, "secondary")

    assert primary.primary_key != keys.primary_key
    assert primary.secondary_key == keys.secondary_key
    assert secondary.secondary_key != keys.secondary_key
    assert secondary.primary_key == keys.primary_key
    with pytest.raises(ValidationError):
        regenerate_key(keys, "tertiary")


def test_token_has_azure_ml_fields_and_verifies_until_it_expires():
    signing_key = generate_keys().token_signing_key
    now = 1_700_000_000

    token = issue_token(signing_key, "iris", timedelta(minutes=10), now=now)

    assert token.expiry_time_utc == now + 600
    assert token.refresh_after_time_utc == now + 300
    assert token.token_type == "Bearer"
    assert set(token.to_dict()) == {"access_token", "expiry_time_utc",
                                    "refresh_after_time_utc", "token_type"}
    assert verify_token(signing_key, token.access_token, endpoint="iris", now=now + 599)["aud"] \
        == "iris"
    with pytest.raises(UnauthorizedError, match="expired"):
        verify_token(signing_key, token.access_token, endpoint="iris", now=now + 600)


@pytest.mark.parametrize(("mangle", "reason"), [
    (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "signature"),
    (lambda t: t.replace(".", "", 1), "malformed"),
    (lambda t: "a.b!.c", "malformed"),
])
def test_tampered_token_is_rejected(mangle, reason):
    signing_key = generate_keys().token_signing_key
    token = issue_token(signing_key, "iris").access_token

    with pytest.raises(UnauthorizedError, match=reason):
        verify_token(signing_key, mangle(token), endpoint="iris")


def test_token_of_another_endpoint_or_signing_key_is_rejected():
    keys, other = generate_keys(), generate_keys()
    token = issue_token(keys.token_signing_key, "iris").access_token

    with pytest.raises(UnauthorizedError, match="another endpoint"):
        verify_token(keys.token_signing_key, token, endpoint="wine")
    with pytest.raises(UnauthorizedError, match="signature"):
        verify_token(other.token_signing_key, token, endpoint="iris")


def test_authenticator_accepts_either_key_and_rejects_anything_else():
    keys = generate_keys()
    check = Authenticator(auth_mode="key", endpoint="iris", keys=keys).check

    check(f"Bearer {keys.primary_key}".encode())
    check(f"bearer  {keys.secondary_key}".encode())
    for header in (None, b"", keys.primary_key.encode(), b"Bearer ", b"Basic abc",
                   f"Bearer {keys.primary_key}x".encode(),
                   f"Bearer {keys.token_signing_key}".encode()):
        with pytest.raises(UnauthorizedError):
            check(header)


def test_authenticator_in_token_mode_accepts_tokens_only():
    keys = generate_keys()
    check = Authenticator(auth_mode="aml_token", endpoint="iris", keys=keys).check
    token = issue_token(keys.token_signing_key, "iris", now=time.time())

    check(f"Bearer {token.access_token}".encode())
    with pytest.raises(UnauthorizedError) as caught:
        check(f"Bearer {keys.primary_key}".encode())
    assert keys.primary_key not in str(caught.value)


def test_token_claims_are_not_parsed_before_the_signature_is_checked():
    signing_key = generate_keys().token_signing_key
    header = issue_token(signing_key, "iris").access_token.split(".")[0]
    nested = base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).rstrip(b"=").decode()

    # json.loads of these claims raises RecursionError: parsed first, it was a 500.
    with pytest.raises(UnauthorizedError, match="signature"):
        verify_token(signing_key, f"{header}.{nested}.c2lnbmF0dXJl", endpoint="iris")
    with pytest.raises(UnauthorizedError, match="malformed"):
        verify_token(signing_key, f"{header}.{nested}.not*base64", endpoint="iris")
