"""The progressive-rollout flags of ``online-deployment create`` and ``update``.

``--traffic-steps 10,50,100 --step-pause 30s --max-error-rate 0.01 --max-p99-ms 500``
become one ``ProgressiveRollout`` (``entities.rollout``); without ``--traffic-steps`` the
other flags are refused rather than silently ignored.
"""

from __future__ import annotations

from typing import Any

import typer

TRAFFIC_STEPS_OPTION = typer.Option(
    None, "--traffic-steps",
    help="Shift the endpoint's traffic to this deployment in steps, e.g. 10,50,100, "
    "rolling back on its own past --max-error-rate or --max-p99-ms.")
STEP_PAUSE_OPTION = typer.Option(
    None, "--step-pause", help="How long each step is watched (30s, 500ms, 2m; default 30s).")
MAX_ERROR_RATE_OPTION = typer.Option(
    None, "--max-error-rate",
    help="Highest share (0-1) of failed answers (5xx, 424, 429) per step (default 0.01).")
MAX_P99_OPTION = typer.Option(
    None, "--max-p99-ms", help="Highest p99 latency per step, in ms (default: not checked).")


def progressive_rollout(traffic_steps: str | None, step_pause: str | None,
                        max_error_rate: float | None, max_p99_ms: float | None) -> Any:
    """The ``ProgressiveRollout`` the flags ask for, or None without ``--traffic-steps``."""
    from mlkube.entities.rollout import (
        ProgressiveRollout,
        parse_duration_seconds,
        parse_traffic_steps,
    )
    from mlkube.errors import ValidationError

    if traffic_steps is None:
        given = [flag for flag, value in (("--step-pause", step_pause),
                                          ("--max-error-rate", max_error_rate),
                                          ("--max-p99-ms", max_p99_ms)) if value is not None]
        if given:
            raise ValidationError(
                f"{', '.join(given)} only apply to a progressive rollout.",
                hint="Add --traffic-steps 10,50,100 (or drop those flags).")
        return None
    settings: dict[str, Any] = {"traffic_steps": parse_traffic_steps(traffic_steps)}
    if step_pause is not None:
        settings["step_pause_s"] = parse_duration_seconds(step_pause, option="--step-pause")
    if max_error_rate is not None:
        settings["max_error_rate"] = max_error_rate
    if max_p99_ms is not None:
        settings["max_p99_ms"] = max_p99_ms
    return ProgressiveRollout(**settings)
