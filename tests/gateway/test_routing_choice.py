"""The pure routing choice: pinned deployment, weights, mirrors."""

from __future__ import annotations

import itertools
import random

import pytest

from mlkube.errors import ResourceNotFoundError
from mlkube.gateway import DeploymentRoute, GatewayConfig
from mlkube.gateway.routing import build_routing_table, choose_deployment, choose_mirrors
from tests.gateway.native import python_only

pytestmark = python_only("unit tests of mlkube.gateway.routing, the Python choice functions")


def _table(traffic, mirror=None):
    names = set(traffic) | set(mirror or {})
    return build_routing_table(GatewayConfig(
        endpoint="iris", traffic=traffic, mirror_traffic=mirror or {},
        deployments={n: DeploymentRoute(n, ("http://h:1",)) for n in names}))


def test_weights_map_draws_to_deployments_in_proportion():
    table = _table({"blue": 90, "green": 10, "idle": 0})
    draws = (i / 1000 for i in range(1000))

    chosen = [choose_deployment(table, None, draw=lambda: next(draws)) for _ in range(1000)]

    assert chosen.count("blue") == 900
    assert chosen.count("green") == 100
    assert "idle" not in chosen


def test_draw_at_the_top_of_the_range_stays_in_range():
    table = _table({"blue": 50, "green": 50})
    assert choose_deployment(table, None, draw=lambda: 0.9999999999) == "green"


def test_pinned_deployment_wins_even_with_zero_weight():
    table = _table({"blue": 100, "green": 0})
    assert choose_deployment(table, "green", draw=lambda: 0.0) == "green"


def test_no_weight_and_unknown_pin_raise_not_found():
    with pytest.raises(ResourceNotFoundError, match="no deployment with traffic"):
        choose_deployment(_table({"blue": 0}), None, draw=random.random)
    with pytest.raises(ResourceNotFoundError, match="Known deployments: blue"):
        choose_deployment(_table({"blue": 100}), "red", draw=random.random)


def test_mirror_copies_its_share_and_never_to_the_answering_deployment():
    table = _table({"blue": 100, "green": 0}, mirror={"green": 25})
    draws = itertools.cycle(i / 100 for i in range(100))

    copies = sum(bool(choose_mirrors(table, "blue", draw=lambda: next(draws)))
                 for _ in range(1000))

    assert copies == 250
    assert choose_mirrors(table, "green", draw=lambda: 0.0) == []
