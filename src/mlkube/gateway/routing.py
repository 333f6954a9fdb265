"""Which deployment answers a request, and which one gets a mirrored copy.

Pure functions over a ``RoutingTable`` built once per config load (not per request):

- ``azureml-model-deployment: NAME`` pins the request to NAME whatever the weights, and a
  pinned request is never mirrored (as in Azure ML);
- otherwise the deployment is drawn by ``traffic`` weight; with no weight anywhere the
  endpoint answers 404 saying so;
- each ``mirror_traffic`` deployment gets its percentage of unpinned requests as a copy,
  unless it is the deployment already answering.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from mlkube.errors import ResourceNotFoundError
from mlkube.gateway.config import GatewayConfig

#: Returns a float uniformly drawn from [0, 1) (``random.random``), injected for tests.
Draw = Callable[[], float]


@dataclass(frozen=True)
class RoutingTable:
    """Precomputed routing data: cumulative weights and mirror shares."""

    endpoint: str
    deployments: frozenset[str]
    cumulative: tuple[int, ...]
    weighted: tuple[str, ...]
    mirrors: tuple[tuple[str, float], ...]


def build_routing_table(config: GatewayConfig) -> RoutingTable:
    """The table for ``config``; deployments with weight 0 never win the draw."""
    weighted = [(name, pct) for name, pct in config.traffic.items() if pct > 0]
    cumulative: list[int] = []
    running = 0
    for _, pct in weighted:
        running += pct
        cumulative.append(running)
    return RoutingTable(
        endpoint=config.endpoint,
        deployments=frozenset(config.deployments),
        cumulative=tuple(cumulative),
        weighted=tuple(name for name, _ in weighted),
        mirrors=tuple((name, pct / 100) for name, pct in config.mirror_traffic.items()),
    )


def choose_deployment(table: RoutingTable, pinned: str | None, *, draw: Draw) -> str:
    """The deployment that answers: ``pinned`` if given, else one drawn by weight."""
    if pinned is not None:
        if pinned not in table.deployments:
            known = ", ".join(sorted(table.deployments)) or "none"
            raise ResourceNotFoundError(
                f"Endpoint '{table.endpoint}' has no deployment '{pinned}' "
                f"(azureml-model-deployment header). Known deployments: {known}.",
                hint="Name one of the known deployments in the azureml-model-deployment header, "
                     "or drop the header to route by traffic weights.",
            )
        return pinned
    if not table.weighted:
        raise ResourceNotFoundError(
            f"Endpoint '{table.endpoint}' has no deployment with traffic.",
            hint="Give a deployment traffic (e.g. `mlkube online-endpoint update "
                 f"-n {table.endpoint} --traffic blue=100`), or pick one with the "
                 "azureml-model-deployment header.",
        )
    # The draw falls in [0, 100); bisect finds the first cumulative weight above it.
    index = bisect.bisect_right(table.cumulative, draw() * table.cumulative[-1])
    return table.weighted[min(index, len(table.weighted) - 1)]


def choose_mirrors(table: RoutingTable, primary: str, *, draw: Draw) -> list[str]:
    """Deployments that get a copy of this (unpinned) request."""
    if not table.mirrors:
        return []
    return [name for name, share in table.mirrors if name != primary and draw() < share]
