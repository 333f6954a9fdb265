"""More flavors, no-code: mlkube beside `mlflow models serve` and MLServer.

Serves each flavor's fixture model (trained by `tests/models.py`, as the tests do): a
scikit-learn Pipeline over mixed column types (strings one-hot encoded, string labels),
an XGBoost Booster and an ONNX model converted from scikit-learn with skl2onnx. Each
server runs one worker pinned to core 0, wrk runs on core 1 (run.py's harness and
pinning); every answer is checked against in-process `pyfunc.predict` before loading,
then single-row bodies are measured at 1 and 8 connections. Writes the "More flavors"
section of BENCHMARKS.md (between its markers) and bench/.work/flavors-results.json.

    .venv/bin/python bench/flavors.py                # about 8 minutes (make bench runs it)
    .venv/bin/python bench/flavors.py --quick        # 3 s at 8 connections, no report
    .venv/bin/python bench/flavors.py --only onnx    # some flavors, keep the others

Traffic goes only to 127.0.0.1. Every server is killed at the end, even on Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import proctree
import venvs
import wrk_load
from inprocess import _median_seconds, _tests_models
from peers import Launch, _env
from run import LOAD_CORE, REPO, SERVER_CORE, WORK, free_port, loadavg, measure

RESULTS = WORK / "flavors-results.json"
BENCHMARKS = REPO / "BENCHMARKS.md"
SECTION_START = "<!-- flavors:start (written by bench/flavors.py) -->"
SECTION_END = "<!-- flavors:end -->"
STARTUP_DEADLINE_S = 180.0


# -- the flavors -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Flavor:
    key: str
    label: str
    builder: str  # the training function in tests/models.py
    columns: list[str] | None  # a column signature's names; None for a tensor signature

    def model_root(self) -> Path:
        return WORK / "flavor-models" / self.key

    def model_dir(self) -> Path:
        return self.model_root() / "model"


FLAVORS = [
    Flavor("sklearn-mixed", "scikit-learn Pipeline, mixed types (string labels)",
           "train_sklearn_mixed_classifier",
           ["monthly_fee", "tenure_months", "plan", "region", "autopay"]),
    Flavor("xgboost", "XGBoost Booster (3-class probabilities)", "train_iris_xgboost",
           ["sepal_length", "sepal_width", "petal_length", "petal_width"]),
    Flavor("onnx", "ONNX (skl2onnx; label + probabilities)", "train_iris_onnx", None),
]


def one_row(flavor: Flavor) -> list[Any]:
    """The single row every server is sent, as plain JSON values."""
    models = _tests_models()
    if flavor.key == "sklearn-mixed":
        features, _ = models.mixed_frame(n=1, seed=11)
        r = next(features.itertuples(index=False))
        return [float(r[0]), int(r[1]), str(r[2]), str(r[3]), bool(r[4])]
    features, _ = models.iris_frame()
    return features.iloc[57].tolist()


def expected_answer(flavor: Flavor, row: list[Any]) -> Any:
    """In-process ``pyfunc.predict`` on the row, in the canonical form answers take."""
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(str(flavor.model_dir()))
    if flavor.columns is None:
        return canonical(model.predict(np.asarray([row], dtype=np.float32)))
    return canonical(model.predict(pd.DataFrame([row], columns=flavor.columns)))


def canonical(output: Any) -> Any:
    """Predictions as plain lists (a dict of them for named outputs)."""
    if isinstance(output, dict):
        return {k: np.asarray(v).tolist() for k, v in output.items()}
    return np.asarray(output).tolist()


def answers_equal(got: Any, want: Any) -> bool:
    """Labels exactly; floats to 1e-6 relative (a float32 printed by another server's
    JSON encoder reads back within that)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and set(got) == set(want) and all(
            answers_equal(got[k], want[k]) for k in want)
    got_array, want_array = np.asarray(got), np.asarray(want)
    if got_array.shape == (*want_array.shape, 1):
        got_array = got_array[..., 0]  # MLServer answers one value per row as [rows, 1]
    if got_array.shape != want_array.shape:
        return False
    if want_array.dtype.kind in "fc":
        return bool(np.allclose(got_array.astype(np.float64), want_array, rtol=1e-6, atol=0))
    return got_array.tolist() == want_array.tolist()


# -- the servers -------------------------------------------------------------------------


def _v2_input(name: str, values: list[Any], shape: list[int]) -> dict[str, Any]:
    first = values[0]
    datatype = ("BYTES" if isinstance(first, str) else "BOOL" if isinstance(first, bool)
                else "INT64" if isinstance(first, int) else "FP64")
    return {"name": name, "datatype": datatype, "shape": shape, "data": values}


def _body_mlkube(flavor: Flavor, row: list[Any]) -> bytes:
    return orjson.dumps({"data": [row]} if flavor.columns else {"input_data": [row]})


def _body_mlflow(flavor: Flavor, row: list[Any]) -> bytes:
    if flavor.columns is None:
        return orjson.dumps({"inputs": [row]})
    return orjson.dumps({"dataframe_split": {"columns": flavor.columns, "data": [row]}})


def _body_mlserver(flavor: Flavor, row: list[Any]) -> bytes:
    if flavor.columns is None:
        return orjson.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                                         "data": row}]})
    inputs = [_v2_input(name, [value], [1, 1]) for name, value in zip(flavor.columns, row,
                                                                        strict=True)]
    return orjson.dumps({"inputs": inputs, "parameters": {"content_type": "pd"}})


def _decode_bare_or_predictions(answer: bytes) -> Any:
    value = orjson.loads(answer)
    if isinstance(value, dict) and "predictions" in value:
        value = value["predictions"]
    return value


def _decode_v2(answer: bytes) -> Any:
    outputs = orjson.loads(answer)["outputs"]

    def tensor(output: dict[str, Any]) -> Any:
        return np.asarray(output["data"]).reshape(output["shape"]).tolist()

    if len(outputs) == 1 and outputs[0]["name"] in ("predict", "output-1", "predictions"):
        return tensor(outputs[0])
    return {o["name"]: tensor(o) for o in outputs}


@dataclasses.dataclass(frozen=True)
class FlavorServer:
    key: str
    label: str
    body_label: str
    venv: str | None
    path: Callable[[Flavor], str]
    body: Callable[[Flavor, list[Any]], bytes]
    decode: Callable[[bytes], Any]
    launch: Callable[[Flavor, int, tuple[int, int], Path], Launch]


def _launch_mlkube(flavor: Flavor, port: int, _spare: tuple[int, int], workdir: Path) -> Launch:
    bin_dir = REPO / ".venv" / "bin"
    return Launch([str(bin_dir / "mlkube"), "serve", "--model-dir", str(flavor.model_root()),
                   "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                  _env(bin_dir), workdir)


def _launch_mlflow(flavor: Flavor, port: int, _spare: tuple[int, int], workdir: Path) -> Launch:
    bin_dir = WORK / "venvs" / "mlflow-flavors" / "bin"
    return Launch([str(bin_dir / "mlflow"), "models", "serve", "-m", str(flavor.model_dir()),
                   "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
                  _env(bin_dir), workdir)


def _launch_mlserver(flavor: Flavor, port: int, spare: tuple[int, int],
                     workdir: Path) -> Launch:
    bin_dir = WORK / "venvs" / "mlserver-flavors" / "bin"
    repo = workdir / "models"
    (repo / flavor.key).mkdir(parents=True, exist_ok=True)
    (repo / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": spare[0],
        "metrics_port": spare[1], "parallel_workers": 0}, indent=2))
    (repo / flavor.key / "model-settings.json").write_text(json.dumps({
        "name": flavor.key, "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": str(flavor.model_dir())}}, indent=2))
    return Launch([str(bin_dir / "mlserver"), "start", str(repo)],
                  _env(bin_dir, MLSERVER_PARALLEL_WORKERS="0"), workdir)


SERVERS = [
    FlavorServer("mlkube", "mlkube no-code", '`{"data": [[...]]}` / `{"input_data": [[...]]}`',
                 None, lambda f: "/score", _body_mlkube, _decode_bare_or_predictions,
                 _launch_mlkube),
    FlavorServer("mlflow", "mlflow models serve 3.17.2", "`dataframe_split` / `inputs`",
                 "mlflow-flavors", lambda f: "/invocations", _body_mlflow,
                 _decode_bare_or_predictions, _launch_mlflow),
    FlavorServer("mlserver", "MLServer 1.7.1 + mlserver-mlflow", "v2 `inputs`",
                 "mlserver-flavors", lambda f: f"/v2/models/{f.key}/infer", _body_mlserver,
                 _decode_v2, _launch_mlserver),
]


# -- in-process: what pyfunc and the direct call cost -------------------------------------


def time_inprocess(flavor: Flavor, row: list[Any]) -> dict[str, float]:
    """Median µs of ``pyfunc.predict`` and of the call mlkube makes instead, one row,
    in this process (run.py pins it to the server core)."""
    import mlflow.pyfunc
    import pandas as pd

    from mlkube.server.scorers.mlflow import MlflowScorer
    from mlkube.server.settings import ServerSettings

    model = mlflow.pyfunc.load_model(str(flavor.model_dir()))
    data: Any = (np.asarray([row], dtype=np.float32) if flavor.columns is None
                 else pd.DataFrame([row], columns=flavor.columns))
    scorer = MlflowScorer(ServerSettings(model_dir=str(flavor.model_root())))
    scorer.load()
    decoded = scorer.decode(_request(_body_mlkube(flavor, row)))
    return {"pyfunc.predict": 1e6 * _median_seconds(lambda: model.predict(data), budget_s=1.0),
            f"mlkube predictor ({scorer.predictor_name})":
                1e6 * _median_seconds(lambda: scorer.predict(decoded), budget_s=1.0),
            "mlkube decode + predict":
                1e6 * _median_seconds(lambda: scorer.predict(scorer.decode(
                    _request(_body_mlkube(flavor, row)))), budget_s=1.0)}


def _request(body: bytes) -> Any:
    from mlkube.server.scorers.base import HttpRequest

    return HttpRequest(scope={}, body=body, content_type="application/json")


# -- the run -------------------------------------------------------------------------------


def bench_one(server: FlavorServer, flavor: Flavor, *, row: list[Any], expected: Any,
              args: argparse.Namespace) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": "failed", "reason": "",
                             "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(
                                 timespec="seconds")}
    print(f"== {flavor.key} on {server.label}", flush=True)
    if server.venv:
        try:
            venvs.ensure_venv(server.venv, repo=REPO, venvs=WORK / "venvs")
        except venvs.VenvInstallFailed as error:
            entry["reason"] = f"install failed: {error}"
            return entry
    workdir = WORK / "flavor-servers" / f"{flavor.key}-{server.key}"
    workdir.mkdir(parents=True, exist_ok=True)
    port, spare = free_port(), (free_port(), free_port())
    launch = server.launch(flavor, port, spare, workdir)
    process = proctree.start_pinned(launch.argv, core=SERVER_CORE, env=launch.env,
                                    cwd=launch.cwd, log_path=workdir / "server.log")
    body = server.body(flavor, row)
    body_file = workdir / "body.json"
    body_file.write_bytes(body)

    def is_right(_status: int, answer: bytes) -> bool:
        try:
            return answers_equal(server.decode(answer), expected)
        except (ValueError, KeyError, TypeError, IndexError):
            return False

    try:
        entry["startup_s"] = proctree.wait_for_answer(
            process, port=port, path=server.path(flavor), body=body, is_right=is_right,
            deadline_s=STARTUP_DEADLINE_S)
        print(f"  first right answer after {entry['startup_s']:.2f} s; loading", flush=True)
        entry["loads"] = measure(f"http://127.0.0.1:{port}{server.path(flavor)}",
                                 server_pid=process.pid, connections=args.connections,
                                 seconds=args.seconds, warmup=args.warmup,
                                 repeat=args.repeat, body_file=body_file)
        entry["memory"] = proctree.tree_memory_mib(process.pid)
        entry["status"] = "ok"
    except proctree.AnswerCheckFailed as error:
        entry["reason"] = _short_reason(str(error), process.log_path)
        print(f"  not measured: {entry['reason']}", flush=True)
    finally:
        proctree.stop(process)
    return entry


def _short_reason(error: str, log_path: Path) -> str:
    """The check's failure, with the server log's last error line when it has one."""
    error = error.replace(str(REPO) + "/", "")
    lines = log_path.read_text(errors="replace").strip().splitlines()
    cause = next((line.strip() for line in reversed(lines)
                  if "Error" in line or "Exception" in line), "")
    return f"{error[:300]}" + (f" — log: {cause[:200]}" if cause else "")


def render(results: dict[str, Any]) -> str:
    meta = results.get("meta", {})
    conns = meta.get("connections", [1, 8])
    lines = [SECTION_START, "",
             f"Measured {meta.get('date', '?')} by `bench/flavors.py` (`make bench`), load "
             f"average {meta.get('loadavg_start', '?')} at the start and "
             f"{meta.get('loadavg_end', '?')} at the end, {meta.get('seconds', '?')} s per "
             f"point, best of {meta.get('repeat', 1)}. Single-row bodies; each server one "
             "worker on core 0, wrk on core 1; every answer checked against in-process "
             "`pyfunc.predict` first.", ""]
    header = ["flavor", "server", "body"]
    for c in conns:
        header += [f"{c} conn req/s", "p50 ms", "p99 ms"]
    header += ["req per server CPU-s (8 conn)", "first answer s"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for flavor in FLAVORS:
        for server in SERVERS:
            entry = results.get("flavors", {}).get(flavor.key, {}).get(server.key)
            if entry is None:
                continue
            row = [flavor.label, server.label, server.body_label]
            if entry["status"] != "ok":
                row += ["cannot serve it: " + entry["reason"].replace("|", "/")]
                row += [""] * (len(header) - len(row))
                lines.append("| " + " | ".join(row) + " |")
                continue
            loads = {load["connections"]: load for load in entry["loads"]}
            for c in conns:
                load = loads.get(c)
                if load is None:
                    row += ["—", "—", "—"]
                    continue
                flag = f" ⚠ {load['non_2xx']} non-2xx" if load["non_2xx"] else ""
                row += [f"{load['rps']:,.0f}{flag}", f"{load['p50_ms']:.2f}",
                        f"{load['p99_ms']:.2f}"]
            eight = loads.get(8) or {}
            per_cpu = eight.get("requests_per_cpu_s")
            row += [f"{per_cpu:,.0f}" if per_cpu else "—", f"{entry['startup_s']:.1f}"]
            lines.append("| " + " | ".join(row) + " |")
    inprocess = results.get("inprocess", {})
    if inprocess:
        lines += ["", "In-process, one row, median µs (the floor a server adds to):", "",
                  "| flavor | call | µs |", "|---|---|---|"]
        for flavor in FLAVORS:
            for call, micros in inprocess.get(flavor.key, {}).items():
                lines.append(f"| {flavor.label} | {call} | {micros:,.1f} |")
    lines += ["", SECTION_END]
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace the section between its markers, or add it at the end of the analysis."""
    from report import replace_section

    BENCHMARKS.write_text(replace_section(BENCHMARKS.read_text(), text, start=SECTION_START,
                                          end=SECTION_END, heading="More flavors"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 s at 8 connections; results not written to BENCHMARKS.md")
    parser.add_argument("--only", default="", help="comma-separated flavor keys: "
                        + ", ".join(f.key for f in FLAVORS))
    parser.add_argument("--servers", default="", help="comma-separated server keys: "
                        + ", ".join(s.key for s in SERVERS))
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--inprocess-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.warmup = 1.0 if args.quick else 2.0
    args.connections = [8] if args.quick else [1, 8]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flavors = [f for f in FLAVORS if not args.only or f.key in args.only.split(",")]
    if args.inprocess_only:
        print(orjson.dumps({f.key: time_inprocess(f, one_row(f)) for f in flavors}).decode())
        return 0
    wrk_load.require_wrk()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    servers = [s for s in SERVERS if not args.servers or s.key in args.servers.split(",")]
    results = (orjson.loads(RESULTS.read_bytes()) if RESULTS.exists() and not args.quick
               else {})
    results.setdefault("flavors", {})
    start_load = loadavg()
    for flavor in flavors:
        if not (flavor.model_dir() / "MLmodel").exists():
            flavor.model_root().mkdir(parents=True, exist_ok=True)
            getattr(_tests_models(), flavor.builder)(flavor.model_root())
    print("timing in-process predict on the server core ...", flush=True)
    completed = subprocess.run(
        ["taskset", "-c", str(SERVER_CORE), sys.executable, __file__, "--inprocess-only",
         "--only", ",".join(f.key for f in flavors)],
        capture_output=True, text=True, timeout=600, check=False)
    if completed.returncode == 0:
        results.setdefault("inprocess", {}).update(
            orjson.loads(completed.stdout.strip().splitlines()[-1]))
    else:
        print("  in-process timing failed: " + completed.stderr[-300:], flush=True)
    try:
        for flavor in flavors:
            row = one_row(flavor)
            expected = expected_answer(flavor, row)
            for server in servers:
                results["flavors"].setdefault(flavor.key, {})[server.key] = bench_one(
                    server, flavor, row=row, expected=expected, args=args)
                RESULTS.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    finally:
        proctree.stop_all_started()
    results["meta"] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": args.seconds, "repeat": args.repeat, "connections": args.connections,
        "loadavg_start": start_load, "loadavg_end": loadavg(),
        "server_core": SERVER_CORE, "load_core": LOAD_CORE,
    }
    if args.quick:
        print(render(results))
        return 0
    RESULTS.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    write_section(render(results))
    print(f"wrote the More flavors section of {BENCHMARKS} and {RESULTS}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
