"""Progressive delivery: move an endpoint's traffic to one deployment in steps, watch how
the gateway sees it answer, and put the traffic back on its own when it fares badly.

Only two things every target has are used, so it works the same locally, in Docker and
on Kubernetes: the endpoint's traffic (``target.apply_endpoint``, which returns once the
gateway routes by it) and the gateway's ``GET /metrics`` beside the scoring URI
(``deployment_health``). Per step: set the deployment's share, then watch for
``step_pause_s``, scraping every ``scrape_interval_s``; the first scrape at which the
window's error rate or p99 latency is past its threshold (with at least
``min_requests`` answers seen) restores the traffic as it was before the rollout and
raises ``RolloutRolledBackError`` with the threshold, the value and the step. A step
that saw too few answers to judge is watched up to three pauses, then passes with a
warning. The rollout succeeds after the pause of the last step (100 %). Steps at or
below the share the deployment already has are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import httpx

from mlkube.entities.rollout import ProgressiveRollout
from mlkube.errors import RolloutRolledBackError, ValidationError
from mlkube.operations.deployment_health import DeploymentCounts, HealthWatch
from mlkube.targets.base import Progress, Target

#: A step with too few answers is watched at most this many pauses.
MAX_PAUSES_PER_STEP = 3
_SCRAPE_TIMEOUT_S = 5.0


def step_traffic(previous: Mapping[str, int], deployment: str, percent: int) -> dict[str, int]:
    """The traffic with ``deployment`` at ``percent`` and the others sharing the rest in
    proportion to their previous shares (largest remainders, so it adds up to 100)."""
    others = {name: pct for name, pct in previous.items() if name != deployment and pct > 0}
    rest = 100 - percent
    total = sum(others.values())
    if rest == 0 or total == 0:
        return {deployment: 100}
    exact = {name: pct * rest / total for name, pct in others.items()}
    shares = {name: int(value) for name, value in exact.items()}
    left = rest - sum(shares.values())
    for name in sorted(exact, key=lambda n: (shares[n] - exact[n], n))[:left]:
        shares[name] += 1
    return {deployment: percent, **{n: s for n, s in shares.items() if s > 0}}


def breach(window: DeploymentCounts, rollout: ProgressiveRollout) -> str | None:
    """Which threshold ``window`` crosses, said with the value seen; None when none."""
    if window.answers < max(rollout.min_requests, 1):
        return None
    if rollout.max_error_rate is not None and window.error_rate > rollout.max_error_rate:
        return (f"error rate {window.error_rate:.3f} ({window.failures} of {window.answers} "
                f"answers failed) is above max_error_rate {rollout.max_error_rate}")
    p99 = window.quantile_ms(0.99)
    if rollout.max_p99_ms is not None and p99 is not None and p99 > rollout.max_p99_ms:
        seen = "above 10 s" if p99 == float("inf") else f"{p99:.0f} ms"
        return f"p99 latency {seen} is above max_p99_ms {rollout.max_p99_ms:g}"
    return None


def shift_traffic_progressively(target: Target, endpoint_name: str, deployment: str,
                                rollout: ProgressiveRollout, *, progress: Progress,
                                clock: Callable[[], float] = time.monotonic) -> None:
    """Give ``deployment`` the endpoint's traffic step by step; roll back past a
    threshold (``RolloutRolledBackError``)."""
    endpoint = target.get_endpoint(endpoint_name)
    previous = {name: pct for name, pct in endpoint.traffic.items() if pct > 0}
    if previous.get(deployment) == 100:
        progress(f"deployment {deployment} already has all the traffic; nothing to shift")
        return
    if not previous:
        raise ValidationError(
            f"Endpoint {endpoint_name} sends no traffic to any deployment, so a progressive "
            f"rollout of {deployment} has nothing to compare with and nothing to roll back to.",
            hint=f"Give {deployment} its traffic at once (`--all-traffic`), or first give "
            "another deployment the endpoint's traffic.")
    metrics_url = target.scoring_uri(endpoint_name).removesuffix("/score") + "/metrics"
    watch = HealthWatch(deployment)
    with httpx.Client(timeout=_SCRAPE_TIMEOUT_S, trust_env=False) as http:
        scrape = _scraper(http, metrics_url, watch)
        scrape()  # the baselines before any traffic moves
        # A deployment that already has a share starts from there: no step takes it back.
        steps = [step for step in rollout.traffic_steps if step > previous.get(deployment, 0)]
        for number, percent in enumerate(steps, start=1):
            traffic = step_traffic(previous, deployment, percent)
            progress(f"step {number} of {len(steps)}: {_spelled(traffic)}")
            _set_traffic(target, endpoint_name, traffic)
            scrape()
            watch.restart_window()
            reason = _watch_step(scrape, watch, rollout, clock=clock, progress=progress)
            if reason is not None:
                progress(f"rolling back: {reason}; restoring {_spelled(previous)}")
                _set_traffic(target, endpoint_name, previous)
                raise RolloutRolledBackError(
                    f"Rolled back deployment {deployment} of endpoint {endpoint_name} at step "
                    f"{number} of {len(steps)} ({percent} % of the traffic): {reason}. The "
                    f"traffic is back to {_spelled(previous)}.",
                    hint=f"See why it failed: `mlkube online-deployment get-logs -n "
                    f"{deployment} -e {endpoint_name}`; fix it and update it again.")
    progress(f"deployment {deployment} has all the traffic")


def _watch_step(scrape: Callable[[], None], watch: HealthWatch, rollout: ProgressiveRollout,
                *, clock: Callable[[], float], progress: Progress) -> str | None:
    started = clock()
    deadline = started + rollout.step_pause_s
    last = started + rollout.step_pause_s * MAX_PAUSES_PER_STEP
    while True:
        time.sleep(min(rollout.scrape_interval_s, max(0.0, deadline - clock())))
        scrape()
        reason = breach(watch.window, rollout)
        if reason is not None:
            return reason
        now = clock()
        if now >= deadline:
            enough = watch.window.answers >= rollout.min_requests
            if enough or now >= last:
                window = watch.window
                if not enough:
                    progress(f"warning: only {window.answers} answer(s) seen in "
                             f"{now - started:.0f} s, fewer than min_requests "
                             f"{rollout.min_requests}; the step passes unjudged")
                else:
                    progress(f"  {window.answers} answers, error rate {window.error_rate:.3f}"
                             + _p99_text(window))
                return None
            deadline = min(now + rollout.step_pause_s, last)


def _scraper(http: httpx.Client, url: str, watch: HealthWatch) -> Callable[[], None]:
    def scrape() -> None:
        try:
            # A new connection each time: behind a Service, a kept-alive one would stay
            # on one gateway replica, and the clients' answers may all be on another.
            response = http.get(url, headers={"Connection": "close"})
        except httpx.TransportError:
            return  # a gateway replica restarting: the next scrape counts its answers
        if response.status_code == 200:
            watch.observe(response.headers.get("x-mlkube-replica", ""), response.text)
    return scrape


def _set_traffic(target: Target, endpoint_name: str, traffic: dict[str, int]) -> None:
    endpoint = target.get_endpoint(endpoint_name)
    endpoint.traffic = traffic
    target.apply_endpoint(endpoint, progress=lambda line: None)


def _spelled(traffic: Mapping[str, int]) -> str:
    return ", ".join(f"{name}={pct}%" for name, pct in sorted(traffic.items()))


def _p99_text(window: DeploymentCounts) -> str:
    p99 = window.quantile_ms(0.99)
    return "" if p99 is None else f", p99 {p99:.0f} ms"
