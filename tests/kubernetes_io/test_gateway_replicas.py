"""When a traffic or key change counts as applied on a gateway with several replicas.

The Service sends each poll to a random replica, so answers in a row from one updated
pod prove nothing about the other; the tally waits for each serving pod by name.
"""

from __future__ import annotations

from typing import Any

from mlkube.targets.kubernetes.gateway_replicas import (
    ReplicaTally,
    replica_host_name,
    serving_replicas,
)


def _pod(name: str, *, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-01T10:00:00Z"
    return {"metadata": metadata, "status": {"conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def test_many_answers_from_the_one_updated_replica_do_not_count_for_the_other() -> None:
    serving = serving_replicas([_pod("gw-a"), _pod("gw-b")])
    tally = ReplicaTally(in_a_row=6)
    for _ in range(20):
        tally.record("gw-a", True)
    tally.record("gw-b", False)

    assert not tally.applied(serving)
    assert tally.pending(serving) == ["gw-b"]

    tally.record("gw-b", True)
    assert tally.applied(serving)


def test_pods_the_service_does_not_reach_are_not_waited_for() -> None:
    serving = serving_replicas([_pod("gw-a"), _pod("gw-b", ready=False),
                                _pod("gw-c", deleting=True)])
    tally = ReplicaTally(in_a_row=6)
    tally.record("gw-a", True)

    assert serving == {"gw-a"}
    assert tally.applied(serving)


def test_a_gateway_that_cannot_name_its_replica_needs_answers_in_a_row() -> None:
    tally = ReplicaTally(in_a_row=3)
    tally.record(None, True)
    tally.record(None, True)
    tally.missed()  # a refused connection breaks the run
    tally.record(None, True)
    tally.record(None, True)
    assert not tally.applied(frozenset({"gw-a"}))

    tally.record(None, True)
    assert tally.applied(frozenset({"gw-a"}))


def test_without_the_right_to_list_pods_answers_in_a_row_decide() -> None:
    tally = ReplicaTally(in_a_row=2)
    tally.record("gw-a", True)
    assert not tally.applied(None)
    tally.record("gw-a", True)
    assert tally.applied(None)


def test_the_host_name_is_the_pod_name_cut_to_a_dns_label() -> None:
    long_name = "mlkube-" + "a" * 55 + "-x7k2p"  # 69 characters; the cut ends on a dash
    assert replica_host_name("mlkube-iris-gw-5d8f7-x7k2p") == "mlkube-iris-gw-5d8f7-x7k2p"
    assert replica_host_name(long_name) == ("mlkube-" + "a" * 55)[:63].rstrip("-")
    assert len(replica_host_name(long_name)) <= 63
