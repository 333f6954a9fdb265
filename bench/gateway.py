"""Measure the gateway's added latency at 8 connections (not a test; run it by hand).

    .venv/bin/python -m bench.gateway [--seconds 5] [--httpx]

Starts a minimal upstream (uvicorn + httptools + uvloop, a fixed JSON answer) and a
gateway in front of it, each in its own process, then runs ``wrk -c 8`` against the
upstream directly and through the gateway and prints both latency distributions. With
``--httpx`` a third run uses a gateway whose upstream client is httpx.AsyncClient (with
keep-alive limits), the alternative the lean client was measured against.

On a shared machine latency figures swing with other load; ``cpu_us_per_request`` (CPU
time of the measured process per request: the upstream for "direct", the gateway
otherwise) is the steadier figure of what the gateway costs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mlkube.gateway import (
    DeploymentRoute,
    GatewayConfig,
    dump_endpoint_keys,
    dump_gateway_config,
    generate_keys,
)

ANSWER = b'{"predictions": [0]}'
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"data": [[1, 2, 3, 4]]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


async def upstream_app(scope, receive, send):  # minimal ASGI
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(ANSWER)).encode())]})
    await send({"type": "http.response.body", "body": ANSWER})


def run_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(upstream_app, host="127.0.0.1", port=port, http="httptools", loop="uvloop",
                access_log=False, log_level="warning", lifespan="off")


def run_httpx_gateway(config: str, keys: str, port: int) -> None:
    """The same gateway with httpx.AsyncClient as its upstream client."""
    import uvicorn

    from mlkube.gateway import app as gateway_app
    from mlkube.gateway.upstream import UpstreamConnectError, UpstreamResponse

    class HttpxUpstream:
        def __init__(self) -> None:
            self.client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=64))

        async def request(self, instance, method, target, headers, body, *, timeout_s,
                          fresh=False):  # pooling is httpx's own
            try:
                response = await self.client.request(
                    method, instance.url + target.decode(), headers=headers, content=body,
                    timeout=timeout_s)
            except httpx.ConnectError as error:
                raise UpstreamConnectError(str(error)) from None
            return UpstreamResponse(response.status_code,
                                    [(k.lower(), v) for k, v in response.headers.raw],
                                    response.content)

        async def aclose(self) -> None:
            await self.client.aclose()

    app = gateway_app.create_app(config_path=config, keys_path=keys)
    app._client = HttpxUpstream()  # benchmark-only swap
    uvicorn.run(app, host="127.0.0.1", port=port, http="httptools", loop="uvloop",
                access_log=False, log_level="warning", lifespan="on", proxy_headers=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: robust to other load on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, script: Path, seconds: int, *, pid: int) -> dict[str, str]:
    cpu_before = cpu_seconds(pid)
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", str(script),
                          url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu_before
    total = int(re.search(r"(\d+) requests in", out).group(1))
    figures = {"rps": re.search(r"Requests/sec:\s+([\d.]+)", out).group(1),
               "cpu_us_per_request": f"{cpu / total * 1e6:.0f}"}
    for pct in ("50", "90", "99"):
        figures[f"p{pct}"] = re.search(rf"\s{pct}(?:\.000)?%\s+(\S+)", out).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non_2xx"] = errors.group(1) if errors else "0"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--httpx", action="store_true")
    parser.add_argument("role", nargs="*")
    args = parser.parse_args()
    if args.role and args.role[0] == "upstream":
        run_upstream(int(args.role[1]))
        return
    if args.role and args.role[0] == "httpx-gateway":
        run_httpx_gateway(args.role[1], args.role[2], int(args.role[3]))
        return

    folder = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    up_port, gw_port, hx_port = free_port(), free_port(), free_port()
    keys = generate_keys()
    (folder / "keys.json").write_text(dump_endpoint_keys(keys))
    os.chmod(folder / "keys.json", 0o600)
    config = GatewayConfig(endpoint="bench", traffic={"blue": 100}, deployments={
        "blue": DeploymentRoute("blue", (f"http://127.0.0.1:{up_port}",),
                                max_concurrent_requests_per_instance=64)})
    (folder / "gateway.json").write_text(dump_gateway_config(config))
    script = folder / "post.lua"
    script.write_text(WRK_SCRIPT % keys.primary_key)

    me = [sys.executable, "-m", "bench.gateway"]
    procs = [subprocess.Popen([*me, "upstream", str(up_port)])]
    procs.append(subprocess.Popen(
        [sys.executable, "-c", "from mlkube.cli.main import main; main()", "gateway", "run",
         "--config", str(folder / "gateway.json"), "--keys", str(folder / "keys.json"),
         "--port", str(gw_port)],  # access log on, as targets run it
        stderr=(folder / "gateway.log").open("wb")))
    if args.httpx:
        procs.append(subprocess.Popen([*me, "httpx-gateway", str(folder / "gateway.json"),
                                       str(folder / "keys.json"), str(hx_port)]))
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/")
        wait_ready(f"http://127.0.0.1:{gw_port}/")
        # name -> (URL, the process whose CPU time is measured)
        runs = {"direct": (f"http://127.0.0.1:{up_port}/score", procs[0].pid),
                "gateway": (f"http://127.0.0.1:{gw_port}/score", procs[1].pid)}
        if args.httpx:
            wait_ready(f"http://127.0.0.1:{hx_port}/")
            runs["gateway-httpx"] = (f"http://127.0.0.1:{hx_port}/score", procs[2].pid)
        results = {}
        for name, (url, pid) in runs.items():
            wrk(url, script, 1, pid=pid)  # warm up connections and caches
            results[name] = wrk(url, script, args.seconds, pid=pid)
        print(json.dumps(results, indent=2))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
