"""Side-by-side benchmark of mlkube's inference server and the servers it replaces.

Serves the same LightGBM iris model with azureml-inference-server-http, `mlflow models
serve`, MLServer (batching off and on), BentoML, LitServe (pyfunc and booster), Ray Serve,
PyTriton and mlkube (entry-script, no-code, no-code with batching, and through a local
endpoint with key auth at default and tuned settings), one worker or replica each,
server pinned to core 0 and wrk to core 1; checks every answer against in-process
predictions before loading; writes BENCHMARKS.md at the repo root.

    .venv/bin/python bench/run.py            # full run (about 30 minutes; more with --repeat 2)
    .venv/bin/python bench/run.py --quick    # smoke run: 3 s at 8 connections, own report
    .venv/bin/python bench/run.py --only mlkube-nocode,mlflow   # rerun some, keep the rest

Traffic goes only to 127.0.0.1. Every server is killed at the end, even on Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import signal
import socket
import subprocess
import sys
from pathlib import Path

import inprocess
import orjson
import peers
import proctree
import profile_stacks
import report
import venvs
import wrk_load
from payloads import answers_match

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
RESULTS = WORK / "results.json"
# A --quick run is a smoke test: its results never replace the full run's BENCHMARKS.md.
QUICK_RESULTS = WORK / "quick" / "results.json"
QUICK_REPORT = WORK / "quick" / "BENCHMARKS.md"
SERVER_CORE, LOAD_CORE = 0, 1
STARTUP_DEADLINE_S = 300.0
PROFILE_TARGET = "mlkube-nocode"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def machine_facts() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"cpu": cpu, "cores": os.cpu_count(),
            "python": f"{platform.python_version()} (mlkube's .venv)"}


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def write_bodies(bodies: inprocess.Bodies) -> dict[tuple[str, str], Path]:
    """One file per (format, body size), read by wrk's Lua script."""
    folder = WORK / "bodies"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for body_format in {p.body.name: p.body for p in peers.PEERS}.values():
        for size, rows in bodies.rows.items():
            path = folder / f"{body_format.name}-{size.replace(' ', '')}.json"
            path.write_bytes(body_format.encode(rows, columns=bodies.columns))
            files[(body_format.name, size)] = path
    return files


def time_inprocess(model_dir: Path, *, budget_s: float) -> dict[str, dict[str, float]]:
    """In-process predict times, measured in a process started on the server core.

    Tried twice, and on failure the run goes on without them: the servers matter more.
    """
    error = ""
    for _ in range(2):
        completed = subprocess.run(
            ["taskset", "-c", str(SERVER_CORE), sys.executable, str(BENCH / "inprocess.py"),
             str(model_dir), str(budget_s)],
            capture_output=True, text=True, timeout=600, check=False)
        if completed.returncode == 0:
            return orjson.loads(completed.stdout.strip().splitlines()[-1])
        error = completed.stderr.strip().splitlines()[-1] if completed.stderr else "?"
    print(f"  in-process timing failed, going on without it: {error}", flush=True)
    return {}


def check_answer(peer: peers.Peer, bodies: inprocess.Bodies, size: str):
    def is_right(status: int, answer: bytes) -> bool:
        try:
            got = peer.body.decode(answer)
        except (ValueError, KeyError, TypeError, IndexError):
            return False
        return answers_match(got, bodies.expected[size])

    return is_right


def measure(url: str, *, server_pid: int, connections: list[int], seconds: float,
            warmup: float, repeat: int, body_file: Path | None,
            method: str = "POST", authorization: str | None = None) -> list[dict]:
    """Warm up, then measure each connection count ``repeat`` times and keep the run with
    the most req/s: contention from other work only ever makes a run slower."""
    loads = []
    for conns in connections:
        wrk_load.run_wrk(url, connections=conns, seconds=warmup, core=LOAD_CORE,
                         body_file=body_file, method=method, authorization=authorization)
        runs = []
        for _ in range(repeat):
            cpu_before = proctree.tree_cpu_seconds(server_pid)
            run = wrk_load.run_wrk(url, connections=conns, seconds=seconds, core=LOAD_CORE,
                                   body_file=body_file, method=method,
                                   authorization=authorization)
            cpu_used = proctree.tree_cpu_seconds(server_pid) - cpu_before
            runs.append(dataclasses.replace(
                run, server_cpu=cpu_used / run.seconds if run.seconds else None,
                requests_per_cpu_s=run.requests / cpu_used if cpu_used > 0 else None))
        result = max(runs, key=lambda r: r.rps)
        loads.append(result.to_dict())
        print(f"    {conns:>3} conn: {result.rps:9,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
              f"p99 {result.p99_ms:6.2f} ms  server CPU {result.server_cpu or 0:4.0%}"
              + (f"  !! {result.non_2xx} non-2xx, {result.errors} errors"
                 if result.non_2xx or result.errors else ""), flush=True)
    return loads


def profile_under_load(server: proctree.Server, url: str, body_file: Path, *,
                       seconds: float, tools_venv: Path) -> dict:
    """py-spy on the server while wrk drives it at 8 connections with single rows: once
    over all busy threads, once over the GIL holder only."""
    import threading

    profiles = {}
    for mode, gil_only in (("all busy threads", False), ("GIL holder only", True)):
        output = WORK / f"profile-mlkube-nocode-{'gil' if gil_only else 'threads'}.txt"
        output.unlink(missing_ok=True)
        load = threading.Thread(target=wrk_load.run_wrk, args=(url,), kwargs={
            "connections": 8, "seconds": seconds + 2, "core": LOAD_CORE,
            "body_file": body_file})
        load.start()
        try:
            profile_stacks.record(tools_venv / "bin" / "py-spy", pid=server.pid,
                                  seconds=seconds, core=LOAD_CORE, output=output,
                                  gil_only=gil_only)
        finally:
            load.join(timeout=seconds + 70)
        samples, frames = profile_stacks.summarize(output.read_text())
        profiles[mode] = {"samples": samples, "frames": frames,
                          "raw": str(output.relative_to(REPO))}
    return {"target": "mlkube no-code", "load": "wrk, 8 connections, single-row bodies",
            "modes": profiles}


def bench_peer(peer: peers.Peer, *, paths: peers.Paths, bodies: inprocess.Bodies,
               body_files: dict, args: argparse.Namespace, results: dict) -> None:
    entry = {"label": peer.label, "body_format": peer.body.label, "path": peer.path,
             "notes": list(peer.notes), "status": "failed", "reason": "",
             "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    results["servers"][peer.key] = entry
    print(f"== {peer.label}", flush=True)
    if peer.venv:
        try:
            venvs.ensure_venv(peer.venv, repo=REPO, venvs=paths.venvs)
        except venvs.VenvInstallFailed as error:
            entry["reason"] = f"install failed: {error}"
            print(f"  {entry['reason']}", flush=True)
            return
    workdir = WORK / "servers" / peer.key
    workdir.mkdir(parents=True, exist_ok=True)
    ports = peers.Ports(http=free_port(), spare=(free_port(), free_port()))
    launch = peer.launch(paths, ports, workdir)
    server = proctree.start_pinned(launch.argv, core=SERVER_CORE, env=launch.env,
                                   cwd=launch.cwd, log_path=workdir / "server.log")
    port, path, headers = ports.http, peer.path, {}
    try:
        if launch.ready_file:
            ready = orjson.loads(proctree.wait_for_file(server, launch.ready_file,
                                                        deadline_s=STARTUP_DEADLINE_S))
            port, path, headers = ready["port"], ready["path"], ready["headers"]
        url = f"http://127.0.0.1:{port}{path}"
        first = "1 row"
        entry["startup_s"] = proctree.wait_for_answer(
            server, port=port, path=path,
            body=body_files[(peer.body.name, first)].read_bytes(),
            is_right=check_answer(peer, bodies, first), deadline_s=STARTUP_DEADLINE_S,
            headers=headers)
        print(f"  first right answer after {entry['startup_s']:.2f} s", flush=True)
        entry["loads"] = {}
        for size in bodies.rows:
            body_file = body_files[(peer.body.name, size)]
            status, answer = proctree.post(port, path, body_file.read_bytes(),
                                           headers=headers)
            if status != 200 or not check_answer(peer, bodies, size)(status, answer):
                entry.setdefault("notes", []).append(
                    f"{size}: wrong answer (HTTP {status}), not measured: {answer[:200]!r}")
                print(f"  {size}: wrong answer (HTTP {status}): {answer[:200]!r}", flush=True)
                continue
            print(f"  {size} ({peer.body.label}): answer right; loading", flush=True)
            entry["loads"][size] = measure(url, server_pid=server.pid,
                                           connections=args.connections,
                                           seconds=args.seconds, warmup=args.warmup,
                                           repeat=args.repeat,
                                           body_file=body_file,
                                           authorization=headers.get("Authorization"))
        entry["memory"] = proctree.tree_memory_mib(server.pid)
        entry["status"] = "ok"
        print(f"  idle memory: {entry['memory']}", flush=True)
        if peer.noop_path:
            noop_url = f"http://127.0.0.1:{port}{peer.noop_path}"
            print(f"  no-op route GET {peer.noop_path}", flush=True)
            results["servers"][peer.key + peers.NOOP_SUFFIX] = {
                "label": "mlkube no-op route (HTTP floor)", "body_format": "none",
                "path": peer.noop_path, "status": "ok", "notes": [],
                "measured_at": entry["measured_at"],
                "loads": {"no body": measure(noop_url, server_pid=server.pid,
                                             connections=args.connections,
                                             seconds=args.seconds, warmup=args.warmup,
                                             repeat=args.repeat,
                                             body_file=None, method="GET")},
            }
        if peer.key == PROFILE_TARGET and not args.no_profile:
            try:
                tools = venvs.ensure_venv("tools", repo=REPO, venvs=paths.venvs)
                results["profile"] = profile_under_load(
                    server, url, body_files[(peer.body.name, first)],
                    seconds=min(10.0, max(3.0, args.seconds)), tools_venv=tools)
                results.pop("profile_error", None)
            except (RuntimeError, OSError, venvs.VenvInstallFailed) as error:
                results["profile_error"] = str(error)
                print(f"  profile failed: {error}", flush=True)
    except proctree.AnswerCheckFailed as error:
        entry["reason"] = str(error).replace(str(REPO) + "/", "")
        print(f"  not measured: {entry['reason']}", flush=True)
        print("  last log lines:\n    " + "\n    ".join(
            server.log_path.read_text(errors="replace").strip().splitlines()[-8:]), flush=True)
    finally:
        proctree.stop(server, root_first=launch.root_first)


def peer_versions(paths: peers.Paths) -> str:
    wanted = [("azmlinfsrv", "azureml-inference-server-http"), ("mlflow", "mlflow"),
              ("mlserver", "mlserver"), ("mlserver", "mlserver-mlflow"),
              ("bentoml", "bentoml"), ("litserve", "litserve"), ("ray", "ray"),
              ("pytriton", "nvidia-pytriton")]
    parts = []
    python_of = "import platform; print(platform.python_version())"
    for venv in ("azmlinfsrv", "mlflow", "mlserver", "bentoml", "litserve", "ray", "pytriton"):
        python = paths.venvs / venv / "bin" / "python"
        if python.exists():
            version = subprocess.run([str(python), "-c", python_of], capture_output=True,
                                     text=True, timeout=60).stdout.strip()
            parts.append(f"{venv} venv Python {version}")
    for venv, dist in wanted:
        python = paths.venvs / venv / "bin" / "python"
        if python.exists():
            parts.append(f"{dist} {venvs.installed_version(python, dist)}")
    main_python = paths.main_bin / "python"
    for dist in ("mlkube", "mlflow", "lightgbm", "numpy", "pandas", "uvicorn"):
        parts.append(f"{dist} {venvs.installed_version(main_python, dist)}"
                     + (" (mlkube's .venv)" if dist == "mlflow" else ""))
    return ", ".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 s runs at 8 connections only (a smoke run; writes "
                             f"{QUICK_REPORT.relative_to(REPO)}, not BENCHMARKS.md)")
    parser.add_argument("--only", default="",
                        help="comma-separated server keys to (re)measure; the others are kept "
                             f"from {RESULTS.relative_to(REPO)}: "
                             + ", ".join(p.key for p in peers.PEERS))
    parser.add_argument("--seconds", type=float, help="seconds per measurement")
    parser.add_argument("--connections", help="comma-separated connection counts")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each point this many times and keep the fastest run "
                             "(helps on a machine shared with other work)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--report-only", action="store_true",
                        help=f"rewrite BENCHMARKS.md from {RESULTS.relative_to(REPO)}")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.warmup = 1.0 if args.quick else 2.0
    args.connections = ([int(c) for c in args.connections.split(",")] if args.connections
                        else [8] if args.quick else [1, 8, 64])
    return args


def write_report(results: dict, *, quick: bool) -> Path:
    target = QUICK_REPORT if quick else REPO / "BENCHMARKS.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = target.read_text() if target.exists() else None
    target.write_text(report.render(results, analysis=report.keep_analysis(previous)))
    return target


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results_path = QUICK_RESULTS if args.quick else RESULTS
    results_path.parent.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        print(f"wrote {write_report(orjson.loads(results_path.read_bytes()), quick=args.quick)}")
        return 0
    wrk_load.require_wrk()
    # SIGTERM (e.g. a CI time limit) should clean up like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    selected = [p for p in peers.PEERS
                if not args.only or p.key in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {p.key for p in peers.PEERS}
    if unknown:
        print(f"Error: unknown server keys {sorted(unknown)}; known: "
              + ", ".join(p.key for p in peers.PEERS), file=sys.stderr)
        return 1

    WORK.mkdir(parents=True, exist_ok=True)
    paths = peers.Paths(repo=REPO, model_root=WORK / "model", venvs=WORK / "venvs", work=WORK)
    print("training the iris LightGBM model (once) ...", flush=True)
    model_dir = inprocess.train_once(paths.model_root)
    bodies = inprocess.make_bodies(model_dir)
    body_files = write_bodies(bodies)

    results = (orjson.loads(results_path.read_bytes()) if args.only and results_path.exists()
               else {"servers": {}})
    start_load = loadavg()
    print("timing in-process predict on the server core ...", flush=True)
    results["inprocess"] = time_inprocess(model_dir, budget_s=0.5 if args.quick else 2.0)
    for name, micros in results["inprocess"].items():
        micros = report.as_wall_cpu(micros)
        print(f"  {name}: {micros['wall_us']:,.1f} µs wall, {micros['cpu_us']:,.1f} µs CPU",
              flush=True)

    try:
        for peer in selected:
            bench_peer(peer, paths=paths, bodies=bodies, body_files=body_files, args=args,
                       results=results)
            results_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    finally:
        proctree.stop_all_started()
    results["meta"] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "repeat": args.repeat,
        "mode": "quick" if args.quick else "full",
        "seconds": args.seconds, "warmup_seconds": args.warmup,
        "connections": args.connections, "server_core": SERVER_CORE, "load_core": LOAD_CORE,
        "loadavg_start": start_load, "loadavg_end": loadavg(),
        "versions": peer_versions(paths), **machine_facts(),
    }
    results_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"wrote {write_report(results, quick=args.quick)} and {results_path}", flush=True)
    for name, measured, verdict, per_cpu in report.targets(results):
        print(f"  {verdict:>12}: {name}: {measured} (per server CPU-second: {per_cpu})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
