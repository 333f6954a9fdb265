"""At overload every request waits its turn: 64 clients, one worker, none passed over.

``mlkube serve`` runs as users run it (a subprocess: uvicorn, httptools, uvloop, the
scoring thread) and a real HTTP client keeps 64 kept-alive connections busy. What a user
would notice is a request that waits while others are answered again and again; so the
tests count, per request, the answers other requests got meanwhile (``tests/overload.py``).
Served in arrival order that is about 63; the bounds leave room for a loaded 2-core
machine (a connection whose next request is late misses a round) and fail on starvation
(a request passed over for dozens of rounds). No wall-clock time is asserted.
"""

from __future__ import annotations

import pytest

from tests.models import SAMPLE_REQUEST
from tests.overload import overload

CONNECTIONS = 64


@pytest.fixture(scope="module")
def servers(serve_process, iris_lgbm_model_root):
    plain = serve_process(["serve", "--model-dir", str(iris_lgbm_model_root)])
    batching = serve_process(["serve", "--model-dir", str(iris_lgbm_model_root), "--batch"])
    return {"plain": plain.wait_ready(), "batching": batching.wait_ready()}


@pytest.mark.parametrize("mode", ["plain", "batching"])
def test_no_request_is_passed_over_by_64_connections(servers, mode):
    result = overload(servers[mode].url + "/score", body=SAMPLE_REQUEST.read_bytes(),
                      connections=CONNECTIONS, seconds=3.0)

    assert result.statuses == {200: len(result.answers)}, result.summary()
    # Every connection was answered many times over: the server was kept busy.
    assert len(result.answers) >= 10 * CONNECTIONS, result.summary()
    others = CONNECTIONS - 1
    assert result.passed_over(0.5) <= 1.5 * others, result.summary()
    assert result.passed_over(0.99) <= 2 * others, result.summary()
    assert result.passed_over(1.0) <= 4 * others, result.summary()
