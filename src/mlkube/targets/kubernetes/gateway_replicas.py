"""Which gateway replicas serve a change yet: the tally behind "traffic and keys changes
return once they apply".

A changed ConfigMap or Secret reaches each gateway pod on its own kubelet sync, seconds
to a minute apart, and a client reaches the gateway through a Service that spreads
requests over its pods at random. "Several answers in a row show the change" is then a
coin toss with two replicas: six answers from the one pod already updated happen about
one time in sixty-four, and a user told "done" is refused by the other one. So every
answer names the pod that gave it (``GET /`` reports ``replica``, its host name), and a
change counts as applied once each pod the Service can send a client to has answered
with it. A pod that has answered with it keeps it: mounted files never go back.

``ReplicaTally`` and ``serving_replicas`` are pure; ``wait_until_applied`` polls the
gateway's ``GET /`` and asks the caller for the serving pods on each poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mlkube.targets.base import Progress

#: Answers in a row that must show the change when the gateway cannot say which replica
#: answered; asked this often: a cheap GET, so the wait ends soon after the file changes.
IN_A_ROW = 12
POLL_SECONDS = 0.25
#: How long a gateway that never answered is tried before it counts as out of reach.
UNREACHABLE_GRACE_SECONDS = 15

#: The kubelet gives a pod this host name: its name cut to a DNS label (63 characters),
#: trailing dashes and dots dropped.
_HOST_NAME_LIMIT = 63


def replica_host_name(pod_name: str) -> str:
    """The host name the kubelet gives pod ``pod_name`` (what its gateway reports)."""
    return pod_name[:_HOST_NAME_LIMIT].rstrip("-.")


def serving_replicas(pods: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Host names of the pods a Service sends clients to: Ready and not terminating."""
    return frozenset(
        replica_host_name(pod["metadata"]["name"]) for pod in pods
        if not pod["metadata"].get("deletionTimestamp") and _ready(pod))


def _ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class ReplicaTally:
    """Answers seen per replica; ``applied`` once every serving replica showed the change.

    A gateway too old to name its replica (an endpoint created by an earlier mlkube)
    falls back to ``in_a_row`` answers showing it, the best a Service allows.
    """

    def __init__(self, *, in_a_row: int) -> None:
        self._needed_in_a_row = in_a_row
        self._in_a_row = 0
        self._shown: set[str] = set()
        self._unnamed = False

    def record(self, replica: str | None, shows_change: bool) -> None:
        self._in_a_row = self._in_a_row + 1 if shows_change else 0
        if replica is None:
            self._unnamed = True
        elif shows_change:
            self._shown.add(replica)

    def missed(self) -> None:
        """An answer that did not come (refused, timed out): it breaks a run."""
        self._in_a_row = 0

    def applied(self, serving: frozenset[str] | None) -> bool:
        """``serving``: the replicas the Service reaches now, or None if unknown (no right
        to list pods)."""
        if self._unnamed or not serving:
            return self._in_a_row >= self._needed_in_a_row
        return serving <= self._shown

    def pending(self, serving: frozenset[str] | None) -> list[str]:
        """Serving replicas not seen with the change, for the error when time runs out."""
        return sorted((serving or frozenset()) - self._shown)


def wait_until_applied(base: str, shows: Callable[[Mapping[str, Any]], bool],
                       serving: Callable[[], frozenset[str] | None], *, what: str,
                       within_s: float, progress: Progress) -> list[str] | None:
    """Poll ``base + "/"`` until every replica ``serving()`` names answered that it
    ``shows`` the change: None once it does (or once the gateway proves out of reach
    from here, which is said), else the replicas still without it when time ran out."""
    import httpx

    progress(f"waiting for the gateway to apply {what}")
    started = time.monotonic()
    tally, reached = ReplicaTally(in_a_row=IN_A_ROW), False
    now_serving: frozenset[str] | None = None
    # A Service picks a pod per connection, not per request: a kept-alive connection
    # would ask the same replica every time.
    with httpx.Client(timeout=3.0, trust_env=False,
                      limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while time.monotonic() < started + within_s:
            try:
                health = client.get(base + "/").json()
                reached = True
            except (httpx.HTTPError, ValueError):
                tally.missed()
                if not reached and time.monotonic() - started > UNREACHABLE_GRACE_SECONDS:
                    progress(f"the gateway at {base} does not answer from here; it applies "
                             f"{what} within about {int(within_s) // 60} minutes")
                    return None
            else:
                named = isinstance(health, dict)
                replica = health.get("replica") if named else None
                tally.record(replica if isinstance(replica, str) else None,
                             named and bool(shows(health)))
            now_serving = serving()
            if tally.applied(now_serving):
                progress(f"the gateway applies {what}")
                return None
            time.sleep(POLL_SECONDS)
    return tally.pending(now_serving)
