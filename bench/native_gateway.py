"""CPU per proxied request of the Python gateway and the native (Go) one, same run,
beside HAProxy and nginx doing plain proxying (no auth, no routing) as the floor.

    .venv/bin/python bench/native_gateway.py [--seconds 10] [--rounds 3] [--references]

A real `mlkube serve` on the iris LightGBM model is the upstream; in front of it each
gateway engine in turn serves the same keyed config (``--in-flight`` requests admitted
per instance, 8 unless given), and `wrk -c 8` (``--connections``) POSTs one row through
it. Server and gateway share core 0, wrk has core 1 (as `make bench` pins them). The
figure is the gateway process's CPU (utime + stime from /proc/PID/stat) per request;
rounds alternate the engines so all meet the same background load, and the load average
is printed beside each round.

With ``--references`` HAProxy and nginx (Debian's packages: ``apt-get install haproxy
nginx-light``) proxy the same requests to the same server with keep-alive upstream
connections, one thread or worker each, logging off, pinned like the gateway. They check
no key and split no traffic, so their CPU per request is what forwarding one HTTP request
over loopback costs on this machine with a mature C proxy: the floor under any gateway's
figure here, and the yardstick for the issue's 35 µs bar.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import inprocess
import proctree
import wrk_load
from run import LOAD_CORE, REPO, SERVER_CORE, WORK, free_port, loadavg

from mlkube.gateway import (
    DeploymentRoute,
    GatewayConfig,
    dump_endpoint_keys,
    dump_gateway_config,
    generate_keys,
)

sys.path.insert(0, str(REPO))
from tests.gateway.native import native_binary  # noqa: E402  (the repo root is on the path now)

MLKUBE = [sys.executable, "-c", "from mlkube.cli.main import main; main()"]


def wait_ready(url: str, *, headers: dict[str, str], path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + path, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url}{path} did not answer 200 within {timeout} s")


def start(argv: list[str], log: Path) -> proctree.Server:
    return proctree.start_pinned(argv, core=SERVER_CORE, env=os.environ, cwd=REPO, log_path=log)


def haproxy_command(work: Path, upstream_port: int) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        config = work / "haproxy.cfg"
        config.write_text(f"""global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend gateway
    bind 127.0.0.1:{port}
    default_backend server
backend server
    server upstream 127.0.0.1:{upstream_port} maxconn 64
""")
        return [_require("haproxy"), "-db", "-f", str(config)]
    return argv


def nginx_command(work: Path, upstream_port: int) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        root = work / "nginx"
        (root / "temp").mkdir(parents=True, exist_ok=True)
        config = root / "nginx.conf"
        config.write_text(f"""worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;
    upstream server {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://server;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""")
        return [_require("nginx"), "-p", str(root), "-c", str(config)]
    return argv


def _require(program: str) -> str:
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if not found:
        raise SystemExit(f"--references needs {program}: apt-get install -y haproxy nginx-light")
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--references", action="store_true",
                        help="also HAProxy and nginx proxying the same requests (the floor)")
    parser.add_argument("--engines", default="python,native",
                        help="gateway engines to run, comma-separated")
    parser.add_argument("--in-flight", type=int, default=8,
                        help="max_concurrent_requests_per_instance in the gateway's config")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    work = WORK / "native-gateway"
    work.mkdir(parents=True, exist_ok=True)
    model_dir = inprocess.train_once(WORK / "model")
    bodies = inprocess.make_bodies(model_dir)
    body_file = work / "one-row.json"
    body_file.write_text(json.dumps({"input_data": {
        "columns": bodies.columns, "index": [0], "data": bodies.rows["1 row"]}}))

    serve_port = free_port()
    keys = generate_keys()
    keys_path = work / "keys.json"
    keys_path.write_text(dump_endpoint_keys(keys))
    os.chmod(keys_path, 0o600)
    config_path = work / "gateway.json"
    config_path.write_text(dump_gateway_config(GatewayConfig(
        endpoint="bench", traffic={"blue": 100}, deployments={"blue": DeploymentRoute(
            "blue", (f"http://127.0.0.1:{serve_port}",),
            max_concurrent_requests_per_instance=args.in_flight)})))
    authorization = f"Bearer {keys.primary_key}"
    binary = native_binary()
    engines = {
        "python": lambda port: [*MLKUBE, "gateway", "run", "--config", str(config_path),
                                "--keys", str(keys_path), "--port", str(port),
                                "--log-level", "info"],
        "native": lambda port: [str(binary), "--config", str(config_path), "--keys",
                                str(keys_path), "--port", str(port), "--log-level", "info"],
    }
    engines = {name: engines[name] for name in args.engines.split(",") if name}
    if args.references:
        engines["haproxy"] = haproxy_command(work, serve_port)
        engines["nginx"] = nginx_command(work, serve_port)
    server = start([*MLKUBE, "serve", "--model-dir", str(model_dir.parent), "--port",
                    str(serve_port)], work / "serve.log")
    results: dict[str, list[float]] = {name: [] for name in engines}
    try:
        wait_ready(f"http://127.0.0.1:{serve_port}", headers={}, path="/ready")
        for round_number in range(args.rounds):
            for name, argv in engines.items():
                port = free_port()
                gateway = start(argv(port), work / f"gateway-{name}.log")
                url = f"http://127.0.0.1:{port}"
                try:
                    # The references pass /ready through to the server; the gateways
                    # answer it themselves once their config has loaded.
                    wait_ready(url, headers={"Authorization": authorization}, path="/ready")
                    wrk_load.run_wrk(url + "/score", connections=args.connections, seconds=2,
                                     core=LOAD_CORE, body_file=body_file,
                                     authorization=authorization)
                    before = proctree.tree_cpu_seconds(gateway.pid)
                    upstream_before = proctree.tree_cpu_seconds(server.pid)
                    run = wrk_load.run_wrk(url + "/score", connections=args.connections,
                                           seconds=args.seconds, core=LOAD_CORE,
                                           body_file=body_file, authorization=authorization)
                    used = proctree.tree_cpu_seconds(gateway.pid) - before
                    upstream_used = proctree.tree_cpu_seconds(server.pid) - upstream_before
                finally:
                    proctree.stop(gateway)
                per_request = used / run.requests * 1e6 if run.requests else float("nan")
                results[name].append(per_request)
                print(f"round {round_number + 1} {name:7}: {run.rps:7,.0f} req/s  "
                      f"p50 {run.p50_ms:5.2f} ms  p99 {run.p99_ms:5.2f} ms  gateway CPU "
                      f"{per_request:6.1f} us/request  upstream CPU "
                      f"{upstream_used / max(run.requests, 1) * 1e6:6.1f} us/request  "
                      f"non-2xx {run.non_2xx} errors {run.errors}  load {loadavg()}",
                      flush=True)
    finally:
        proctree.stop(server)
    for name, figures in results.items():
        print(f"{name:7}: best {min(figures):6.1f} us/request, median "
              f"{sorted(figures)[len(figures) // 2]:6.1f} us/request over {len(figures)} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
