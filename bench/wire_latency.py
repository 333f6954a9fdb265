"""Latency as the loopback wire sees it: when a request reached the server's port and
when its answer left, by the kernel's packet timestamps (needs root: a packet socket).

    sudo .venv/bin/python bench/wire_latency.py PORT SECONDS

Run it beside a load generator (``bench/fairness.py``, wrk) to tell the server's share of
a latency tail from the client's: wrk's clock runs in wrk, so a wrk that is descheduled on
a busy core reports latency the server never caused. It also prints, per connection, how
many answers other connections got between two answers to it: about connections - 1 when
the server answers in arrival order. Only packets on ``lo`` to or from PORT are read;
nothing is sent. A request is a packet starting with ``POST``; its answer ends with the
last packet back before the connection's next request (one request in flight per
connection, as wrk and ``tests/overload.py`` send them).
"""

from __future__ import annotations

import socket
import statistics
import struct
import sys
import time

SO_TIMESTAMPNS = 35
ETH_P_IP = 0x0800


def capture(port: int, seconds: float) -> tuple[list[float], list[int]]:
    """Wire latencies (s) and, in answer order, the client port each answer went to."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_IP))
    sock.bind(("lo", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 26)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.settimeout(0.5)
    sent: dict[int, float] = {}  # client port -> when its request in flight arrived
    answered: dict[int, float] = {}  # client port -> the last answer packet to it since
    done: list[tuple[float, float, int]] = []  # (answer end, latency, client port)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            packet, ancillary, _, address = sock.recvmsg(65535, 1024)
        except TimeoutError:
            continue
        if address[2] == socket.PACKET_OUTGOING:
            continue  # loopback shows each packet leaving and arriving: count it once
        stamp = next((struct.unpack("qq", data[:16]) for _, kind, data in ancillary
                      if kind == SO_TIMESTAMPNS), None)
        if stamp is None:
            continue
        at = stamp[0] + stamp[1] / 1e9
        ip = packet[14:]
        if ip[9] != socket.IPPROTO_TCP:
            continue
        tcp = ip[(ip[0] & 15) * 4:]
        source, destination = struct.unpack("!HH", tcp[:4])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if not payload:
            continue
        if destination == port and payload.startswith(b"POST"):
            # One request in flight per connection: the next one ends the previous answer.
            _finish(source, sent, answered, done)
            sent[source] = at
        elif source == port and destination in sent:
            answered[destination] = at
    for client in list(sent):
        _finish(client, sent, answered, done)
    done.sort()
    return [latency for _, latency, _ in done], [client for _, _, client in done]


def _finish(client: int, sent: dict[int, float], answered: dict[int, float],
            done: list[tuple[float, float, int]]) -> None:
    if client in sent and client in answered:
        end = answered.pop(client)
        done.append((end, end - sent.pop(client), client))


def rounds_between(order: list[int]) -> list[int]:
    """Per answer after a connection's first: answers to others since its previous one."""
    last: dict[int, int] = {}
    between = []
    for index, client in enumerate(order):
        if client in last:
            between.append(index - last[client] - 1)
        last[client] = index
    return between


def summary(latencies: list[float], order: list[int]) -> str:
    if len(latencies) < 100:
        return f"wire: only {len(latencies)} answers seen; was the load running?"
    cuts = statistics.quantiles([s * 1000 for s in latencies], n=100)
    between = rounds_between(order)
    rounds = statistics.quantiles(between, n=100)
    return (f"wire: {len(latencies)} answers, p50 {cuts[49]:.2f} ms p99 {cuts[98]:.2f} ms "
            f"p99/p50 {cuts[98] / cuts[49]:.2f}, max {max(latencies) * 1000:.1f} ms; answers "
            f"to other connections between two to one: p50 {rounds[49]:.0f} p99 "
            f"{rounds[98]:.0f} max {max(between)}")


def main(argv: list[str]) -> int:
    print(summary(*capture(int(argv[0]), float(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
