"""Importing an entry script in a separate process, to learn whether it imports and
what its ``init`` and ``run`` look like.

A scoring script runs arbitrary code at import time: it may fail, hang, or exit. It is
imported in a child process (its own session, killed with its children at the timeout),
so a broken script cannot take the doctor down. ``init`` is never called: it loads the
model, which is the server's job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mlkube.doctor.findings import Finding, error, info

DEFAULT_TIMEOUT_S = 30.0
_MARKER = "@@mlkube-doctor-probe@@"

# Runs in the child: imports the script as the inference server does (its folder on
# sys.path, AZUREML_* set) and prints one JSON line after the marker.
_PROBE = r"""
import importlib.util, inspect, json, os, sys, traceback
script = sys.argv[1]
marker = sys.argv[2]
sys.path.insert(0, os.path.dirname(script))
report = {"imported": False}
try:
    spec = importlib.util.spec_from_file_location("score", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules["score"] = module
    spec.loader.exec_module(module)
    report["imported"] = True
    for name in ("init", "run"):
        report["has_" + name] = callable(getattr(module, name, None))
    run = getattr(module, "run", None)
    if callable(run):
        report["run_decorated"] = hasattr(run, "__wrapped__")
        try:
            report["run_params"] = [
                [p.name, p.kind.name, p.default is not inspect.Parameter.empty]
                for p in inspect.signature(run).parameters.values()
            ]
        except (TypeError, ValueError):
            report["run_params"] = None
except BaseException as exc:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == script]
    report["error"] = f"{type(exc).__name__}: {exc}"
    report["error_line"] = frames[-1].lineno if frames else None
sys.stdout.flush()
print("\n" + marker + json.dumps(report), flush=True)
os._exit(0)
"""


@dataclass(frozen=True)
class RunParameter:
    name: str
    kind: str  # inspect.Parameter kind name, e.g. POSITIONAL_OR_KEYWORD
    has_default: bool


@dataclass(frozen=True)
class ProbeResult:
    """What importing the script showed."""

    imported: bool
    error: str | None = None
    error_line: int | None = None
    timed_out: bool = False
    has_init: bool = False
    has_run: bool = False
    run_decorated: bool = False
    run_params: tuple[RunParameter, ...] | None = None
    output_tail: tuple[str, ...] = field(default=())


def probe_script(
    script: Path,
    *,
    model_dir: Path | None = None,
    python: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> ProbeResult:
    """Import ``script`` in a child process of ``python`` (default: this one)."""
    env = dict(os.environ)
    env["AML_APP_ROOT"] = str(script.parent)
    env["AZUREML_ENTRY_SCRIPT"] = script.name
    if model_dir is not None:
        env["AZUREML_MODEL_DIR"] = str(model_dir)
    process = subprocess.Popen(
        [python or sys.executable, "-c", _PROBE, str(script.resolve()), _MARKER],
        cwd=script.parent, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        output, _ = process.communicate()
        return ProbeResult(imported=False, timed_out=True, output_tail=_tail(output))
    return parse_probe_output(output)


def parse_probe_output(output: str) -> ProbeResult:
    """The child's report; a child that died before reporting (``sys.exit`` or
    ``os._exit`` at import, a crash) is a failed import with its last output lines."""
    before, marker, report_text = output.rpartition(_MARKER)
    if not marker:
        return ProbeResult(imported=False, error="the script ended the process while importing",
                           output_tail=_tail(output))
    report = json.loads(report_text.strip().splitlines()[0])
    params = report.get("run_params")
    return ProbeResult(
        imported=report["imported"],
        error=report.get("error"),
        error_line=report.get("error_line"),
        has_init=report.get("has_init", False),
        has_run=report.get("has_run", False),
        run_decorated=report.get("run_decorated", False),
        run_params=None if params is None else tuple(RunParameter(*p) for p in params),
        output_tail=_tail(before),
    )


def check_probe(result: ProbeResult, *, script: str, timeout: float = DEFAULT_TIMEOUT_S
                ) -> list[Finding]:
    """Findings from a probe: import failures, missing init/run, run's parameters."""
    if result.timed_out:
        return [error(
            "script-import-timeout",
            f"Importing {script} did not finish within {timeout:.0f}s: it does slow or "
            f"blocking work at import time.",
            "Move model loading and other work into init(); keep module level to imports "
            "and definitions.",
        )]
    if not result.imported:
        where = f" (line {result.error_line})" if result.error_line else ""
        tail = f" Last output: {' | '.join(result.output_tail)}" if result.output_tail else ""
        return [error(
            "script-import-failed",
            f"{script} fails to import{where}: {result.error}.{tail}",
            "Fix the error; a missing module means a package missing from the environment's "
            "files (add it to conda.yaml's pip list or requirements.txt).",
        )]
    findings = [info("script-imports", f"{script} imports.")]
    for name in ("init", "run"):
        if not getattr(result, f"has_{name}"):
            findings.append(error(
                f"script-missing-{name}",
                f"{script} defines no {name}() function.",
                f"Define {name}() at module level: the server calls init() once at start and "
                f"run(raw_data) for each request.",
            ))
    if result.has_run:
        findings.extend(check_run_parameters(result, script=script))
    return findings


def check_run_parameters(result: ProbeResult, *, script: str) -> list[Finding]:
    """The server calls ``run(body)``, adding ``request_headers=...`` when ``run`` names
    it; with inference_schema decorators the body's keys become keyword arguments."""
    params = result.run_params
    if params is None:
        return []
    names = ", ".join(p.name for p in params)
    variadic = any(p.kind in ("VAR_POSITIONAL", "VAR_KEYWORD") for p in params)
    positional = [p for p in params if p.kind in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")]
    if not positional and not variadic:
        return [error(
            "run-signature",
            f"{script}: run({names}) takes no positional parameter, but the server passes "
            f"the request body to it.",
            "Declare run(raw_data) (or run(raw_data, request_headers)).",
        )]
    required = [p for p in positional[1:] if not p.has_default and p.name != "request_headers"]
    if required and not result.run_decorated:
        return [error(
            "run-signature",
            f"{script}: run({names}) requires {', '.join(p.name for p in required)} besides "
            f"the request body; the server passes only the body (and request_headers when "
            f"run names it).",
            "Give those parameters defaults, or take them from the request body; use "
            "inference_schema's @input_schema to get the body's keys as arguments.",
        )]
    return [info("run-signature", f"{script}: run({names}).")]


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tail(output: str | None, lines: int = 5) -> tuple[str, ...]:
    return tuple(line for line in (output or "").strip().splitlines()[-lines:] if line.strip())
