"""The "every serving peer" section of BENCHMARKS.md (issue 14, item 1): each peer at 8
connections beside mlkube's endpoint path with auth, and every server's 64-connection
tail. Pure rendering of run.py's results."""

from __future__ import annotations

ENDPOINT_KEY = "mlkube-endpoint"
#: The peers a user would pick instead of mlkube, in the order the tables show them.
PEER_KEYS = ("azmlinfsrv", "mlflow", "mlserver", "mlserver-batch", "bentoml",
             "litserve-pyfunc", "litserve-booster", "ray-serve", "pytriton")
MLKUBE_KEYS = ("mlkube-entry", "mlkube-nocode", "mlkube-nocode-batch", ENDPOINT_KEY,
               "mlkube-endpoint-tuned", "mlkube-endpoint-one")
#: The issue's bar: the endpoint path, with auth, this many times every peer at 8 conn.
ENDPOINT_LEAD = 3.0
ONE_ROW = "1 row"


def _load(results: dict, key: str, connections: int, *,
          clean: bool = True) -> dict | None:
    """The single-row load at ``connections``; with ``clean``, only one without failures
    (a ratio from a run with failed requests would flatter or blame the server)."""
    server = results["servers"].get(key)
    if not server or server["status"] != "ok":
        return None
    for load in server["loads"].get(ONE_ROW, []):
        if load["connections"] == connections and not (
                clean and (load["non_2xx"] or load["errors"])):
            return load
    return None


def _cpu_us(load: dict | None) -> str:
    per_cpu = load and load.get("requests_per_cpu_s")
    return f"{1e6 / per_cpu:,.0f}" if per_cpu else "—"


def endpoint_leads(results: dict) -> list[tuple[str, float, float | None]]:
    """(peer key, endpoint req/s ÷ peer req/s, the same per server CPU-second) at 8
    connections, single rows, for every peer measured beside the endpoint."""
    endpoint = _load(results, ENDPOINT_KEY, 8)
    if endpoint is None:
        return []
    leads = []
    for key in PEER_KEYS:
        peer = _load(results, key, 8)
        if peer is None:
            continue
        per_cpu = None
        if endpoint.get("requests_per_cpu_s") and peer.get("requests_per_cpu_s"):
            per_cpu = endpoint["requests_per_cpu_s"] / peer["requests_per_cpu_s"]
        leads.append((key, endpoint["rps"] / peer["rps"], per_cpu))
    return leads


def section(results: dict) -> list[str]:
    servers = results["servers"]
    keys = [k for k in (*PEER_KEYS, *MLKUBE_KEYS) if k in servers]
    if not any(k in servers for k in ("bentoml", "litserve-pyfunc", "ray-serve", "pytriton",
                                      ENDPOINT_KEY)):
        return []
    leads = {key: (lead, per_cpu) for key, lead, per_cpu in endpoint_leads(results)}
    lines = [
        "## Every serving peer (issue 14, item 1)", "",
        "Single-row bodies, one worker or replica each, every process of a server on core 0 "
        "(for mlkube's endpoint: supervisor, gateway and instance together). \"Endpoint ÷\" "
        f"is mlkube's endpoint path with key auth (`{ENDPOINT_KEY}`, default deployment "
        "settings) over the server at 8 connections, in req/s and in requests per server "
        "CPU-second; the issue's bar is "
        f"{ENDPOINT_LEAD:g}×. Server CPU µs per request is the CPU the server's process "
        "tree used over the requests it served: the figure other work on the machine "
        "distorts least.", "",
        "| server | 8 conn req/s | CPU µs / request, 8 conn | endpoint ÷ (req/s) "
        "| endpoint ÷ (per CPU-s) | 64 conn req/s | p50 ms | p99 ms | p99 ÷ p50 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        server = servers[key]
        if server["status"] != "ok":
            lines.append(f"| {server['label']} | not measured: {server['reason']} |"
                         + " |" * 7)
            continue
        at8, at64 = _load(results, key, 8), _load(results, key, 64, clean=False)
        lead, per_cpu = leads.get(key, (None, None))
        cells = [server["label"],
                 f"{at8['rps']:,.0f}" if at8 else "—", _cpu_us(at8),
                 f"{lead:.1f}×" if lead else "", f"{per_cpu:.1f}×" if per_cpu else ""]
        if at64:
            failed = at64["non_2xx"] + at64["errors"]
            cells += [f"{at64['rps']:,.0f}" + (f" ⚠ {failed} failed" if failed else ""),
                      f"{at64['p50_ms']:.1f}", f"{at64['p99_ms']:.1f}",
                      f"{at64['p99_ms'] / at64['p50_ms']:.2f}" if at64["p50_ms"] else "—"]
        else:
            cells += ["—"] * 4
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if leads:
        worst = min(leads.items(), key=lambda item: item[1][0])
        verdict = "met" if worst[1][0] >= ENDPOINT_LEAD else "not met"
        lines += [f"Endpoint path with auth ≥ {ENDPOINT_LEAD:g}× every peer at 8 connections: "
                  f"**{verdict}** (lowest: {worst[1][0]:.1f}× over {servers[worst[0]]['label']}"
                  + (f"; {worst[1][1]:.1f}× per server CPU-second" if worst[1][1] else "")
                  + ").", ""]
    return lines
