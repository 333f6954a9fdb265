"""An ``aml_token`` endpoint: expiring tokens instead of keys, and no keys to regenerate."""

from __future__ import annotations

import time

import httpx
import pytest

from mlkube.entities.endpoint_auth import EndpointAuthToken
from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.errors import LocalEndpointNotFoundError, ValidationError
from mlkube.operations.client import MLClient
from tests.endpoints.scoring import score


def test_token_endpoint_accepts_its_fresh_token_and_refuses_regeneration(
    ml_client: MLClient, http: httpx.Client,
) -> None:
    endpoints = ml_client.online_endpoints
    endpoint = endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="token-e2e", auth_mode="aml_token")).result()
    try:
        token = endpoints.get_keys("token-e2e")
        assert isinstance(token, EndpointAuthToken)
        now = time.time()
        assert now < token.refresh_after_time_utc < token.expiry_time_utc
        assert token.access_token not in repr(token)
        # The token passes the gateway's check; with no deployment yet, routing says so.
        routed = score(http, endpoint.scoring_uri or "", token.access_token)
        assert routed.status_code == 404, routed.text
        assert score(http, endpoint.scoring_uri or "", None).status_code == 401
        with pytest.raises(ValidationError, match="aml_token"):
            endpoints.begin_regenerate_keys("token-e2e", key_type="primary").result()
        assert [e.name for e in endpoints.list()].count("token-e2e") == 1
    finally:
        endpoints.begin_delete("token-e2e").result()
    with pytest.raises(LocalEndpointNotFoundError):
        endpoints.get("token-e2e")


def test_token_lifetime_is_set_on_the_endpoint(ml_client: MLClient, http: httpx.Client) -> None:
    endpoints = ml_client.online_endpoints
    endpoint = endpoints.begin_create_or_update(ManagedOnlineEndpoint(
        name="token-short", auth_mode="aml_token", token_lifetime_minutes=5)).result()
    try:
        now = time.time()
        token = endpoints.get_keys("token-short")
        assert token.expiry_time_utc == pytest.approx(now + 300, abs=5)
        assert token.refresh_after_time_utc == pytest.approx(now + 150, abs=5)
        assert score(http, endpoint.scoring_uri or "", token.access_token).status_code == 404
        endpoint.token_lifetime_minutes = 24 * 60
        endpoints.begin_create_or_update(endpoint).result()
        assert endpoints.get_keys("token-short").expiry_time_utc == pytest.approx(
            time.time() + 86400, abs=5)
        with pytest.raises(ValidationError, match="token_lifetime_minutes"):
            ManagedOnlineEndpoint(name="token-long", token_lifetime_minutes=60 * 24 * 8)
    finally:
        endpoints.begin_delete("token-short").result()
