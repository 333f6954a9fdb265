"""Through the gateway at overload: the deployment's queue serves in arrival order.

At the default ``max_concurrent_requests_per_instance`` (8), 64 clients means 56 wait in
the gateway's queue for a slot and the 8 admitted ones in the server's, both first in,
first out. A real gateway in front of a real ``mlkube serve``
(no-code, the iris model) is driven by a real HTTP client (``tests/overload.py``), which
counts per request the answers others got while it waited: about 63 in arrival order.
Statuses are 200, or 429 when a request waited past ``max_queue_wait_ms`` (possible on a
loaded machine; never anything else). No wall-clock time is asserted.
"""

from __future__ import annotations

import pytest

from tests.gateway.conftest import deployment
from tests.models import SAMPLE_REQUEST
from tests.overload import overload

# The server tests' fixture, used here by name (pytest finds it in this module).
from tests.server.conftest import serve_process  # noqa: F401

CONNECTIONS = 64


@pytest.fixture(scope="module")
def instance(serve_process, iris_lgbm_model_root):  # noqa: F811
    return serve_process(["serve", "--model-dir", str(iris_lgbm_model_root)]).wait_ready()


def test_queued_requests_are_answered_in_arrival_order_at_default_settings(instance,
                                                                           gateway):
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(instance.url)}})
    key = gw.keys.primary_key

    result = overload(gw.url + "/score", body=SAMPLE_REQUEST.read_bytes(),
                      connections=CONNECTIONS, seconds=3.0,
                      headers={"Authorization": f"Bearer {key}"})

    assert set(result.statuses) <= {200, 429}, result.summary()
    assert result.statuses.get(200, 0) >= 5 * CONNECTIONS, result.summary()
    others = CONNECTIONS - 1
    assert result.passed_over(0.5) <= 1.5 * others, result.summary()
    assert result.passed_over(0.99) <= 2 * others, result.summary()
    assert result.passed_over(1.0) <= 4 * others, result.summary()


def test_overload_past_the_queue_wait_is_refused_with_429_not_starved(instance, gateway):
    # A queue wait shorter than 63 requests take: some are refused, none waits on and on.
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(instance.url, max_queue_wait_ms=5)}})
    key = gw.keys.primary_key

    result = overload(gw.url + "/score", body=SAMPLE_REQUEST.read_bytes(),
                      connections=CONNECTIONS, seconds=2.0,
                      headers={"Authorization": f"Bearer {key}"})

    assert set(result.statuses) == {200, 429}, result.summary()
    assert result.passed_over(1.0) <= 4 * (CONNECTIONS - 1), result.summary()
