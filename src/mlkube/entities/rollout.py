"""What rollouts need to say: how traffic moves to a new deployment step by step
(``ProgressiveRollout``), and what the registry watcher last did for a deployment that
follows its model's label (``LabelRollout``).

``ProgressiveRollout`` is passed to ``online_deployments.begin_create_or_update(...,
rollout=...)`` (CLI: ``online-deployment create|update --traffic-steps 10,50,100
--step-pause 30s --max-error-rate 0.01 --max-p99-ms 500``). Its thresholds are checked
here, when the settings are made, so a typo fails before any traffic moves.

``LabelRollout`` is kept with the deployment's spec on every target (as ``served_model``
is), so ``show`` says, on any machine, which version the label resolved to last, whether
it rolled out, and why not.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from mlkube.entities.sdk_resource import SdkResource, rule_error
from mlkube.errors import ValidationError

#: The default steps: a tenth of the traffic, then half, then all of it.
DEFAULT_TRAFFIC_STEPS = (10, 50, 100)
_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m)?\s*$")


class ProgressiveRollout(SdkResource):
    """Shift traffic to a deployment in steps and roll back on its own past a threshold.

    At each step the deployment gets ``traffic_steps[i]`` percent of the endpoint's traffic
    (the other deployments keep their shares of the rest, in proportion); during the pause
    that follows, the gateway's own metrics for that deployment are read. A step whose
    error rate is above ``max_error_rate`` or whose p99 latency is above ``max_p99_ms``
    restores the traffic as it was before the rollout, and the rollout fails naming the
    threshold, the value seen and the step. The last step must be 100.
    """

    traffic_steps: list[int] = Field(default_factory=lambda: list(DEFAULT_TRAFFIC_STEPS))
    #: Seconds to watch after each step before the next one (and after the last one).
    step_pause_s: float = Field(30.0, gt=0, le=86400)
    #: Highest share (0..1) of the deployment's answers that may be errors: 5xx, 424
    #: (model container failed) and 429 (over capacity), what a client sees as failure.
    max_error_rate: float | None = Field(0.01, ge=0, le=1)
    #: Highest 99th-percentile latency in ms the gateway may measure for the deployment
    #: (read from its latency histogram: the upper bound of the bucket holding the p99).
    max_p99_ms: float | None = Field(None, gt=0)
    #: A step with fewer answers than this cannot be judged: the pause is extended (up to
    #: three times) to collect them, then the step passes with a warning.
    min_requests: int = Field(1, ge=0)
    #: How often the gateway's metrics are read during a pause.
    scrape_interval_s: float = Field(0.5, gt=0, le=60)

    @field_validator("traffic_steps")
    @classmethod
    def _steps_rule(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise rule_error("traffic_steps is empty; give percentages such as [10, 50, 100]")
        for step in steps:
            if not 1 <= step <= 100:
                raise rule_error(f"traffic step {step} is not a percentage from 1 to 100")
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise rule_error(f"traffic_steps {steps} must rise step by step (e.g. 10, 50, 100)")
        if steps[-1] != 100:
            raise rule_error(f"traffic_steps {steps} must end at 100: a rollout that succeeds "
                             "sends the deployment all the traffic")
        return steps


class LabelRollout(SdkResource):
    """What the registry watcher last did for a deployment with ``follow_model_label``."""

    #: The version the label resolved to (``iris:3``).
    model: str
    outcome: Literal["rolled_out", "failed"]
    #: When the watcher acted, ISO 8601 UTC.
    at: str
    #: Why a failed version did not roll out (the deployment's own failure message).
    reason: str | None = None


def parse_traffic_steps(text: str) -> list[int]:
    """``"10,50,100"`` as ``[10, 50, 100]`` (the CLI's ``--traffic-steps``)."""
    try:
        return [int(part.strip().rstrip("%")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValidationError(
            f"--traffic-steps {text!r} is not a list of percentages.",
            hint="Write --traffic-steps 10,50,100.") from None


def parse_duration_seconds(text: str, *, option: str) -> float:
    """``"30s"``, ``"500ms"``, ``"2m"`` or ``"30"`` (seconds) as seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValidationError(f"{option} {text!r} is not a duration.",
                              hint=f"Write {option} 30s (or 500ms, 2m, or plain seconds).")
    value = float(match["value"])
    return {"ms": value / 1000, "m": value * 60}.get(match["unit"] or "s", value)
