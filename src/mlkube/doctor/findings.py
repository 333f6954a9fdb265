"""What the doctor reports: findings, each with a stable code, a severity, the cause and
the fix.

Checks are functions returning lists of findings; nothing here prints or exits, so the
same findings feed the CLI's readable list, ``--output json`` and tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One observation about a model, script, environment or deployment."""

    #: Stable, greppable identifier, e.g. ``mlmodel-missing``; tests and docs use it.
    code: str
    severity: Severity
    #: What was found, naming the file and the thing in it.
    message: str
    #: What to change; empty for a passing check.
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def error(code: str, message: str, fix: str) -> Finding:
    return Finding(code, "error", message, fix)


def warning(code: str, message: str, fix: str) -> Finding:
    return Finding(code, "warning", message, fix)


def info(code: str, message: str, fix: str = "") -> Finding:
    return Finding(code, "info", message, fix)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then information; otherwise in the order found."""
    return sorted(findings, key=lambda f: _ORDER[f.severity])


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for finding in findings:
        counts[finding.severity] += 1
    return counts
