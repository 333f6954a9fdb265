"""``get_logs(previous=True)`` on the local and docker targets: every run of an instance
is appended to one log file, each opened by the supervisor's start line; the previous
run is the one before the last start."""

from __future__ import annotations

from mlkube.targets.local.instance_logs import previous_run
from mlkube.targets.local.supervisor import START_MARKER


def _log(*runs: str) -> str:
    return "".join(f"{START_MARKER}blue-1-a at 2026-12-01T10:0{i}:00\n{body}"
                   for i, body in enumerate(runs))


def test_the_previous_run_is_the_one_before_the_last_start():
    text = _log("loading\nTraceback: boom\n--- mlkube: blue-1-a exited with 3\n",
                "loading\nReady to score\n")
    previous = previous_run(text, None)
    assert "Traceback: boom" in previous and "Ready to score" not in previous
    assert previous_run(text, 1) == "--- mlkube: blue-1-a exited with 3\n"


def test_an_instance_that_never_restarted_has_no_previous_log():
    assert previous_run(_log("loading\nReady to score\n"), None) == ""
    assert previous_run("", 10) == ""
