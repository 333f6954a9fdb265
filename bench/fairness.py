"""Fairness at overload: is every request of a saturated server served about as fast?

    .venv/bin/python bench/fairness.py [--target server|batch|endpoint] [--seconds 10]
                                       [--connections 64] [--repeat 1]

Serves the iris LightGBM model (trained as the tests train it) as ``run.py`` does --
``mlkube serve`` no-code (``--target batch``: with ``--batch``), or a local endpoint with
key auth at default deployment settings (``--target endpoint``: client -> gateway ->
instance) -- pinned to core 0, drives it with ``wrk -t1 -cN`` on core 1 with single-row
``/score`` bodies (each answer checked first), and prints req/s, p50, p99, p99/p50, the
server tree's CPU µs and context switches per request, the load average, and wrk's
latency distribution. Then the same load from ``tests/overload.py``'s client (also on
core 1), which counts, for every request, how many answers other requests got while it
waited: a server serving in arrival order answers each other connection once (63 at 64
connections); a request passed over sees far more. ``--wire`` (root) also captures the
loopback packets during each wrk run (``wire_latency.py``): the latency the server
caused, by kernel timestamps, beside the latency wrk reports.

At overload every request waits for the ones ahead of it, so p50 is about connections x
service time (Little's law); a p99 far above it means some requests were passed over
again and again. The ratio and the CPU per request survive a loaded machine better than
wall-clock figures do. Traffic goes only to 127.0.0.1; the server is always stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

import inprocess
import orjson
import peers
import proctree
import wire_latency
import wrk_load
from run import (
    LOAD_CORE,
    REPO,
    SERVER_CORE,
    STARTUP_DEADLINE_S,
    WORK,
    check_answer,
    free_port,
    loadavg,
)

sys.path.insert(0, str(REPO))
from tests.overload import overload  # noqa: E402  (the repo root is on the path now)

TARGETS = {"server": "mlkube-nocode", "batch": "mlkube-nocode-batch",
           "endpoint": "mlkube-endpoint"}
SIZE = "1 row"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=sorted(TARGETS), default="server",
                        help="server: mlkube serve no-code; batch: the same with --batch; "
                             "endpoint: a local endpoint at default settings")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=1, help="runs (each printed)")
    parser.add_argument("--wire", action="store_true",
                        help="also time each wrk run on the wire (root; wire_latency.py)")
    return parser.parse_args(argv)


class _WireCapture:
    """``wire_latency.capture`` in a thread, for the length of one wrk run."""

    def __init__(self, port: int, seconds: float) -> None:
        self._found: tuple[list[float], list[int]] = ([], [])
        self._thread = threading.Thread(target=self._capture, args=(port, seconds))
        self._thread.start()

    def _capture(self, port: int, seconds: float) -> None:
        self._found = wire_latency.capture(port, seconds)

    def result(self) -> str:
        self._thread.join()
        return wire_latency.summary(*self._found)


def report_run(run: wrk_load.LoadResult, cpu_seconds: float, switches: int,
               load: str) -> None:
    ratio = run.p99_ms / run.p50_ms if run.p50_ms else float("inf")
    cpu_us = cpu_seconds / run.requests * 1e6 if run.requests else float("nan")
    per_request = switches / run.requests if run.requests else float("nan")
    print(f"wrk, {run.connections} conn, {run.seconds:.1f} s, load average {load}: "
          f"{run.rps:,.0f} req/s  p50 {run.p50_ms:.2f} ms  p99 {run.p99_ms:.2f} ms  "
          f"p99/p50 {ratio:.2f}  max {run.max_ms:.1f} ms  "
          f"server CPU {cpu_us:,.0f} µs/request ({cpu_seconds / run.seconds:.0%} of a core), "
          f"{per_request:.2f} context switches/request"
          + (f"  !! {run.non_2xx} non-2xx, {run.errors} errors"
             if run.non_2xx or run.errors else ""), flush=True)
    print(run.latency_distribution, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk_load.require_wrk()
    peer = next(p for p in peers.PEERS if p.key == TARGETS[args.target])
    paths = peers.Paths(repo=REPO, model_root=WORK / "model", venvs=WORK / "venvs", work=WORK)
    bodies = inprocess.make_bodies(inprocess.train_once(paths.model_root))
    body_file = WORK / "bodies" / "fairness-1row.json"
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_bytes(peer.body.encode(bodies.rows[SIZE], columns=bodies.columns))
    workdir = WORK / "servers" / f"fairness-{args.target}"
    workdir.mkdir(parents=True, exist_ok=True)
    ports = peers.Ports(http=free_port(), spare=(free_port(), free_port()))
    launch = peer.launch(paths, ports, workdir)
    server = proctree.start_pinned(launch.argv, core=SERVER_CORE, env=launch.env,
                                   cwd=launch.cwd, log_path=workdir / "server.log")
    try:
        port, path, headers = ports.http, peer.path, {}
        if launch.ready_file:
            ready = orjson.loads(proctree.wait_for_file(server, launch.ready_file,
                                                        deadline_s=STARTUP_DEADLINE_S))
            port, path, headers = ready["port"], ready["path"], ready["headers"]
        proctree.wait_for_answer(server, port=port, path=path, body=body_file.read_bytes(),
                                 is_right=check_answer(peer, bodies, SIZE),
                                 deadline_s=STARTUP_DEADLINE_S, headers=headers)
        url = f"http://127.0.0.1:{port}{path}"
        print(f"{peer.label}: {url}, server on core {SERVER_CORE}, wrk on core {LOAD_CORE}",
              flush=True)
        load = dict(connections=args.connections, core=LOAD_CORE, body_file=body_file,
                    authorization=headers.get("Authorization"))
        wrk_load.run_wrk(url, seconds=args.warmup, **load)
        for _ in range(args.repeat):
            before = proctree.tree_cpu_seconds(server.pid)
            switches = proctree.tree_context_switches(server.pid)
            wire = _WireCapture(port, args.seconds + 1) if args.wire else None
            run = wrk_load.run_wrk(url, seconds=args.seconds, **load)
            if wire is not None:
                print(wire.result(), flush=True)
            report_run(run, proctree.tree_cpu_seconds(server.pid) - before,
                       proctree.tree_context_switches(server.pid) - switches, loadavg())
        # The client runs in this process: on the load core, as wrk does.
        os.sched_setaffinity(0, {LOAD_CORE})
        for _ in range(args.repeat):
            result = overload(url, body=body_file.read_bytes(), connections=args.connections,
                              seconds=args.seconds, headers=headers)
            print(f"tests/overload.py client, load average {loadavg()}: {result.summary()}",
                  flush=True)
    except proctree.AnswerCheckFailed as error:
        print(f"not measured: {error}; log: {server.log_path}", file=sys.stderr)
        return 1
    finally:
        proctree.stop(server, root_first=launch.root_first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
