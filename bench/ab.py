"""Is a change faster? The no-code server of two source trees, measured in alternation.

On a shared VM the same server measures 15-25 % apart from one minute to the next, more
than most single changes move it, so comparing one run before a change with one run
after says little. This starts both servers at once (each pinned to core 0, mlkube from
``--base`` and from this checkout, the same iris model (LightGBM, or ``--flavor``) and
virtualenv) and
loads them in turns of ``--slice`` seconds with wrk on core 1 (8 connections by
default), ``--rounds`` times, in the order A B B A A B ...: drift of the machine falls
on both alike. Per side it
reports the median and spread of requests/s and of the server's CPU µs per request
(its process's CPU time over the requests it answered), and the change between the
medians. Every answer is checked against in-process ``booster.predict`` first.

    git worktree add /tmp/base <commit>       # the tree to compare with
    .venv/bin/python bench/ab.py --base /tmp/base/src
    .venv/bin/python bench/ab.py --base /tmp/base/src --rows 100 --connections 1,8
    .venv/bin/python bench/ab.py --base /tmp/base/src --flavor xgboost

Traffic goes only to 127.0.0.1. Both servers are stopped at the end, even on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import orjson
import proctree
import wrk_load
from big_bodies import batch
from inprocess import _tests_models, train_once
from run import LOAD_CORE, REPO, SERVER_CORE, WORK, free_port, loadavg

# The models a comparison can serve: tests/models.py's builder for each.
MODELS = {"lightgbm": "train_iris_lightgbm", "xgboost": "train_iris_xgboost"}


def trained(flavor: str) -> Path:
    """The flavor's iris model folder (holding MLmodel), trained once into bench/.work."""
    if flavor == "lightgbm":
        return train_once(WORK / "model")  # the one every other benchmark serves
    root = WORK / f"ab-model-{flavor}"
    if not (root / "model" / "MLmodel").exists():
        root.mkdir(parents=True, exist_ok=True)
        getattr(_tests_models(), MODELS[flavor])(root)
    return root / "model"


def start(label: str, source: Path | None, model_dir: Path) -> tuple[proctree.Server, int]:
    """``mlkube serve`` of the no-code model, with ``source`` first on the import path."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    server = proctree.start_pinned(
        [str(REPO / ".venv" / "bin" / "mlkube"), "serve", "--model-dir",
         str(model_dir.parent), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        core=SERVER_CORE, env=env, cwd=REPO, log_path=WORK / f"ab-{label}.log")
    return server, port


def check(server: proctree.Server, port: int, body: bytes, expected: np.ndarray) -> None:
    def is_right(_status: int, answer: bytes) -> bool:
        got = np.asarray(orjson.loads(answer))
        return np.array_equal(got.astype(expected.dtype), expected)

    proctree.wait_for_answer(server, port=port, path="/score", body=body,
                             is_right=is_right, deadline_s=120)


def one_slice(server: proctree.Server, port: int, body_file: Path, *, connections: int,
              seconds: float) -> tuple[float, float]:
    """Requests/s and server CPU µs per request over one wrk run."""
    cpu_before = proctree.tree_cpu_seconds(server.pid)
    load = wrk_load.run_wrk(f"http://127.0.0.1:{port}/score", connections=connections,
                            seconds=seconds, core=LOAD_CORE, body_file=body_file)
    cpu = proctree.tree_cpu_seconds(server.pid) - cpu_before
    if load.errors or load.non_2xx or not load.requests:
        raise RuntimeError(f"wrk saw failures: {load}")
    return load.rps, 1e6 * cpu / load.requests


def summary(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{statistics.median(values):8,.1f} (range {low:,.1f}-{high:,.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True,
                        help="the other tree's src folder (put first on PYTHONPATH)")
    parser.add_argument("--this", type=Path, default=None,
                        help="measure this src folder instead of the checkout's (for a "
                        "control run of one tree against a copy of itself)")
    parser.add_argument("--flavor", choices=sorted(MODELS), default="lightgbm",
                        help="the iris model served (tests/models.py builds it)")
    parser.add_argument("--rows", type=int, default=1, help="rows per request body")
    parser.add_argument("--connections", default="8", help="comma-separated counts")
    parser.add_argument("--rounds", type=int, default=8, help="turns per side")
    parser.add_argument("--slice", type=float, default=2.0, help="seconds per turn")
    args = parser.parse_args()
    if not (args.base / "mlkube").is_dir():
        sys.exit(f"--base {args.base} holds no mlkube package; pass a tree's src folder")
    WORK.mkdir(parents=True, exist_ok=True)
    model_dir = trained(args.flavor)
    import mlflow.pyfunc
    import pandas as pd

    array = batch(args.rows)
    expected = mlflow.pyfunc.load_model(str(model_dir)).predict(
        pd.DataFrame(array, columns=list(_tests_models().IRIS_COLUMNS)))
    body = orjson.dumps({"data": array.tolist()})
    body_file = WORK / f"ab-{args.rows}-rows.json"
    body_file.write_bytes(body)
    sides = {"base": args.base.resolve(), "this": args.this.resolve() if args.this else None}
    servers = {}
    try:
        for label, source in sides.items():
            servers[label] = start(label, source, model_dir)
        for server, port in servers.values():
            check(server, port, body, expected)
        print(f"{args.flavor}, {args.rows}-row bodies; base = {sides['base']}, "
              f"this = {sides['this'] or REPO / 'src'}; "
              f"load average {loadavg()}", flush=True)
        for connections in (int(c) for c in args.connections.split(",")):
            figures: dict[str, dict[str, list[float]]] = {
                label: {"rps": [], "cpu_us": []} for label in sides}
            for server, port in servers.values():  # warm-up, not counted
                one_slice(server, port, body_file, connections=connections, seconds=1)
            for turn in range(args.rounds):
                # A B, then B A: whatever favours the first or second of a pair (a core
                # warmed by the previous run) falls on both sides alike.
                order = list(servers.items()) if turn % 2 == 0 else \
                    list(servers.items())[::-1]
                for label, (server, port) in order:
                    rps, cpu_us = one_slice(server, port, body_file,
                                            connections=connections, seconds=args.slice)
                    figures[label]["rps"].append(rps)
                    figures[label]["cpu_us"].append(cpu_us)
            print(f"\n{connections} connection(s), {args.rounds} turns of "
                  f"{args.slice:g} s each, alternated:")
            for label in sides:
                print(f"  {label:5s} req/s {summary(figures[label]['rps'])}   "
                      f"CPU µs/request {summary(figures[label]['cpu_us'])}")
            base_cpu = statistics.median(figures["base"]["cpu_us"])
            this_cpu = statistics.median(figures["this"]["cpu_us"])
            base_rps = statistics.median(figures["base"]["rps"])
            this_rps = statistics.median(figures["this"]["rps"])
            print(f"  change: req/s {100 * (this_rps / base_rps - 1):+.1f} %, "
                  f"CPU per request {100 * (this_cpu / base_cpu - 1):+.1f} %", flush=True)
        print(f"\nload average at the end {loadavg()}")
    finally:
        for server, _port in servers.values():
            proctree.stop(server)
        body_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
