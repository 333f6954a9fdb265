"""BENCHMARKS.md from the results of a run: pure rendering, plus keeping the hand-written
analysis that sits between the markers, so a rerun never loses it."""

from __future__ import annotations

from collections.abc import Iterable

import report_peers

ANALYSIS_START = "<!-- analysis:start (hand-written; kept across reruns) -->"
ANALYSIS_END = "<!-- analysis:end -->"
NOOP_KEY = "mlkube-nocode-noop"


def keep_analysis(previous: str | None) -> str:
    """The hand-written analysis of the previous BENCHMARKS.md, or a placeholder."""
    if previous and ANALYSIS_START in previous and ANALYSIS_END in previous:
        return previous.split(ANALYSIS_START, 1)[1].split(ANALYSIS_END, 1)[0].strip("\n")
    return "## Analysis\n\n_Not written yet._"


def replace_section(document: str, text: str, *, start: str, end: str, heading: str) -> str:
    """``document`` with ``text`` (which carries its own ``start`` and ``end`` markers)
    in place of the section between those markers, or, the first time, added with its
    ``heading`` at the end of the hand-written analysis, which a rerun of run.py keeps.
    How the other scripts (flavors.py, big_bodies.py) write their sections."""
    if start in document and end in document:
        before, rest = document.split(start, 1)
        return before + text + rest.split(end, 1)[1]
    return document.replace(ANALYSIS_END, f"## {heading}\n\n{text}\n\n{ANALYSIS_END}", 1)


def as_wall_cpu(micros: float | dict) -> dict:
    """In-process times: older results hold only the wall-clock figure."""
    if isinstance(micros, dict):
        return micros
    return {"wall_us": micros, "cpu_us": None}


def _fmt_us(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _fmt_rps(value: float) -> str:
    return f"{value:,.0f}"


def _fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _cell(load: dict | None) -> list[str]:
    if load is None:
        return ["—", "—", "—"]
    flag = ""
    if load["errors"] or load["non_2xx"]:
        flag = f" ⚠ {load['non_2xx']} non-2xx, {load['errors']} socket errors"
    return [_fmt_rps(load["rps"]) + flag, _fmt_ms(load["p50_ms"]), _fmt_ms(load["p99_ms"])]


def _load_table(results: dict, body: str, connections: list[int],
                keys: Iterable[str]) -> list[str]:
    header = ["server", "request body"]
    for c in connections:
        header += [f"{c} conn req/s", "p50 ms", "p99 ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in keys:
        server = results["servers"].get(key)
        if server is None:
            continue
        label = server["label"]
        if server["status"] != "ok":
            lines.append(f"| {label} | {server['body_format']} | not measured: "
                         f"{server['reason']} |" + " |" * (len(header) - 3))
            continue
        loads = {load["connections"]: load for load in server["loads"].get(body, [])}
        if not loads:
            continue
        row = [label, server["body_format"]]
        for c in connections:
            row += _cell(loads.get(c))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _efficiency_table(results: dict, body: str, connections: list[int],
                      keys: Iterable[str]) -> list[str]:
    header = ["server", *[f"{c} conn" for c in connections]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in keys:
        server = results["servers"].get(key)
        if server is None or server["status"] != "ok":
            continue
        loads = {load["connections"]: load for load in server["loads"].get(body, [])}
        if not loads:
            continue
        row = [server["label"]]
        for c in connections:
            load = loads.get(c)
            if load is None or not load.get("requests_per_cpu_s"):
                row.append("—")
            else:
                row.append(f"{load['requests_per_cpu_s']:,.0f} ({load['server_cpu']:.0%})")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _load_at(results: dict, key: str, *, body: str, connections: int) -> dict | None:
    server = results["servers"].get(key)
    if not server or server["status"] != "ok":
        return None
    for load in server["loads"].get(body, []):
        if load["connections"] == connections and not load["non_2xx"]:
            return load
    return None


def p99_at(results: dict, key: str, *, body: str, connections: int) -> float | None:
    server = results["servers"].get(key)
    if not server or server["status"] != "ok":
        return None
    for load in server["loads"].get(body, []):
        if load["connections"] == connections:
            return load["p99_ms"]
    return None


def targets(results: dict) -> list[tuple[str, str, str, str]]:
    """The issue's targets: (target, measured, met / not met / not measured, the same
    ratio per server CPU-second)."""
    one = "1 row"
    rows: list[tuple[str, str, str, str]] = []

    def ratio(name: str, top: str, bottom: str, conns: int, goal: float) -> None:
        a = _load_at(results, top, body=one, connections=conns)
        b = _load_at(results, bottom, body=one, connections=conns)
        if a is None or b is None:
            rows.append((name, "—", "not measured", "—"))
            return
        value = a["rps"] / b["rps"]
        per_cpu = "—"
        if a.get("requests_per_cpu_s") and b.get("requests_per_cpu_s"):
            per_cpu = f"{a['requests_per_cpu_s'] / b['requests_per_cpu_s']:.1f}×"
        rows.append((name, f"{value:.1f}× ({_fmt_rps(a['rps'])} / {_fmt_rps(b['rps'])} req/s)",
                     "met" if value >= goal else "not met", per_cpu))

    ratio("entry-script ≥ 3× azureml-inference-server-http (8 conn, 1 row)",
          "mlkube-entry", "azmlinfsrv", 8, 3)
    ratio("no-code ≥ 5× mlflow models serve (8 conn, 1 row)", "mlkube-nocode", "mlflow", 8, 5)
    ratio("no-code ≥ 5× MLServer (8 conn, 1 row)", "mlkube-nocode", "mlserver", 8, 5)
    for key, name in (("mlkube-entry", "entry-script"), ("mlkube-nocode", "no-code")):
        p99 = p99_at(results, key, body=one, connections=8)
        rows.append((f"{name} p99 < 5 ms (8 conn, 1 row)",
                     "—" if p99 is None else f"{p99:.2f} ms",
                     "not measured" if p99 is None else ("met" if p99 < 5 else "not met"),
                     "—"))
    ratio("batching: no-code ≥ 10× mlflow models serve (64 conn, 1 row)",
          "mlkube-nocode-batch", "mlflow", 64, 10)
    ratio("batching: no-code ≥ 3× MLServer with batching (64 conn, 1 row)",
          "mlkube-nocode-batch", "mlserver-batch", 64, 3)
    leads = report_peers.endpoint_leads(results)
    name = (f"issue 14: endpoint with auth ≥ {report_peers.ENDPOINT_LEAD:g}× every peer "
            "(8 conn, 1 row)")
    if leads:
        key, lead, per_cpu = min(leads, key=lambda item: item[1])
        rows.append((name, f"lowest {lead:.1f}× ({results['servers'][key]['label']})",
                     "met" if lead >= report_peers.ENDPOINT_LEAD else "not met",
                     f"{per_cpu:.1f}×" if per_cpu else "—"))
    else:
        rows.append((name, "—", "not measured", "—"))
    return rows


def _time_goes(results: dict) -> list[str]:
    lines = ["## Where the time goes", ""]
    inproc = results.get("inprocess", {})
    floor_rows = []
    for key, what in ((NOOP_KEY, "mlkube no-op route `GET /` (HTTP stack only)"),
                      ("mlkube-nocode", "mlkube no-code `/score`"),
                      ("mlkube-nocode-batch", "mlkube no-code with batching `/score`"),
                      ("mlkube-entry", "mlkube entry-script `/score`"),
                      ("azmlinfsrv", "azureml-inference-server-http `/score`"),
                      ("mlflow", "mlflow models serve `/invocations`"),
                      ("mlserver", "MLServer v2 infer"),
                      ("mlserver-batch", "MLServer with batching, v2 infer")):
        body = "no body" if key == NOOP_KEY else "1 row"
        server = results["servers"].get(key)
        if not server or server["status"] != "ok":
            continue
        loads = {load["connections"]: load for load in server["loads"].get(body, [])}
        cells = [f"{loads[1]['p50_ms'] * 1000:,.0f}" if 1 in loads else "—"]
        for c in (1, 8, 64):
            per_cpu = loads.get(c, {}).get("requests_per_cpu_s")
            cells.append(f"{1e6 / per_cpu:,.0f}" if per_cpu else "—")
        floor_rows.append(f"| {what} | " + " | ".join(cells) + " |")
    inproc_rows = []
    for name, micros in inproc.items():
        if "1 row" in name:
            micros = as_wall_cpu(micros)
            inproc_rows.append(f"| in-process `{name}` | {_fmt_us(micros['wall_us'])} | "
                               f"{_fmt_us(micros['cpu_us'])} | | |")
    if floor_rows or inproc_rows:
        lines += ["Single-row bodies. p50 at one connection is the latency a lone client sees; "
                  "server CPU µs per request (CPU the server's process tree used during the "
                  "run, divided by the requests it served) is what each request costs, "
                  "whatever else runs on the machine. In-process rows: wall and CPU µs "
                  "per call.", "",
                  "| what | p50 µs, 1 conn | server CPU µs / request, 1 conn | 8 conn | 64 conn |",
                  "|---|---|---|---|---|", *floor_rows, *inproc_rows]
    lines.append("")
    profile = results.get("profile")
    if profile:
        lines += [f"`py-spy record` of {profile['target']} under load ({profile['load']}), "
                  "sampled on the load core. Self: where the sample was taken; inclusive: "
                  "share of samples whose stack holds the frame. Frames are the largest self "
                  "shares plus mlkube's own server code.", ""]
        for mode, data in profile["modes"].items():
            title = mode[0].upper() + mode[1:]
            lines += [f"{title} ({data['samples']} samples, collapsed stacks in "
                      f"`{data['raw']}`):", "",
                      "| frame (function, file) | self % | inclusive % |", "|---|---|---|"]
            for frame in data["frames"]:
                lines.append(f"| `{frame['frame']}` | {frame['self']:.1f} | "
                             f"{frame['inclusive']:.1f} |")
            lines.append("")
    elif results.get("profile_error"):
        lines += [f"Profile not taken: {results['profile_error']}", ""]
    return lines


def render(results: dict, *, analysis: str) -> str:
    meta = results["meta"]
    connections = meta["connections"]
    order = [k for k in (*report_peers.PEER_KEYS, *report_peers.MLKUBE_KEYS)
             if k in results["servers"]]
    out = [
        "# Benchmarks",
        "",
        "Written by `bench/run.py` (see `bench/README.md`); rerun with `make bench`. "
        "The analysis between the markers is hand-written and kept across reruns.",
        "",
        ANALYSIS_START,
        analysis,
        ANALYSIS_END,
        "",
        "## Machine and run",
        "",
        f"- Date: {meta['date']} ({meta['mode']} run: {meta['seconds']:g} s per measurement "
        f"after {meta['warmup_seconds']:g} s warm-up, connections {connections}, "
        f"best of {meta.get('repeat', 1)})",
        f"- CPU: {meta['cpu']}, {meta['cores']} cores; servers pinned to core "
        f"{meta['server_core']}, wrk (1 thread) to core {meta['load_core']}",
        f"- Python {meta['python']}; {meta['versions']}",
        f"- Load average at start / end: {meta['loadavg_start']} / {meta['loadavg_end']}. "
        "Other engineers share these 2 cores, so numbers are noisy; compare servers within "
        "one run, not across runs.",
        "- Every server answers one worker process; each answer is checked against "
        "in-process `booster.predict` before the server is loaded, and a server that answers "
        "wrongly gets no number.",
        "",
    ]
    for server in results["servers"].values():
        for note in server.get("notes", []):
            out.append(f"- {server['label']}: {note}")
    out.append("")
    for body, title in (("1 row", "Single-row bodies"), ("100 rows", "100-row bodies")):
        out += [f"## {title}", "", "req/s, p50 and p99 latency in ms.", ""]
        out += _load_table(results, body, connections, order)
        if body == "1 row" and NOOP_KEY in results["servers"]:
            noop = results["servers"][NOOP_KEY]
            loads = {load["connections"]: load for load in noop["loads"].get("no body", [])}
            row = [noop["label"], "none (`GET /`)"]
            for c in connections:
                row += _cell(loads.get(c))
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    out += ["## Requests per server CPU-second", "",
            "Requests served per CPU-second the server's process tree used during the "
            "measured run, and in brackets the share of its core it got (100 % = all of "
            "core 0). On a machine shared with other work this is the fairer comparison.", ""]
    for body, title in (("1 row", "Single-row bodies"), ("100 rows", "100-row bodies")):
        out += [f"{title}:", "", *_efficiency_table(results, body, connections, order), ""]
    out += ["## Idle memory and time to first answer", "",
            "Memory of the server's whole process tree after warm-up and load (RSS summed "
            "over processes counts shared pages more than once; PSS shares them out). Time "
            "to first answer: from process start to the first right prediction.", "",
            "| server | processes | RSS MiB | PSS MiB | seconds to first answer |",
            "|---|---|---|---|---|"]
    for key in order:
        server = results["servers"][key]
        if server["status"] != "ok":
            out.append(f"| {server['label']} | — | — | — | not measured: {server['reason']} |")
            continue
        mem = server["memory"]
        out.append(f"| {server['label']} | {mem['processes']} | {mem['rss_mib']:.0f} | "
                   f"{mem['pss_mib']:.0f} | {server['startup_s']:.2f} |")
    out += ["", "## In-process predict (median, timeit, pinned to the server core)", "",
            "Wall clock, and the thread's CPU time (leaves out time spent waiting for the "
            "core while other work runs on it).", "",
            "| call | wall µs | CPU µs |", "|---|---|---|"]
    for name, micros in results.get("inprocess", {}).items():
        micros = as_wall_cpu(micros)
        out.append(f"| `{name}` | {_fmt_us(micros['wall_us'])} | {_fmt_us(micros['cpu_us'])} |")
    out += ["", "## Targets (issue 2)", "",
            "Verdicts use req/s as the issue states them; the last column is the same ratio "
            "of requests per server CPU-second, which contention from other work on the "
            "machine distorts least.", "",
            "| target | measured | | per server CPU-second |", "|---|---|---|---|"]
    for name, measured, verdict, per_cpu in targets(results):
        out.append(f"| {name} | {measured} | **{verdict}** | {per_cpu} |")
    out.append("")
    out += report_peers.section(results)
    out += _time_goes(results)
    return "\n".join(out).rstrip() + "\n"
