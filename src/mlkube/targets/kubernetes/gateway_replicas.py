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

Pure: the target lists the pods and asks the gateway; this decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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
