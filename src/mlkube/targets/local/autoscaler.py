"""The autoscaler of an endpoint on this machine (``compute: local`` and ``docker``).

One runs per endpoint that has an elastic deployment (``entities/elastic_scale.py``), as
a program of the endpoint's supervisor beside the gateway, so it lives as long as the
endpoint and restarts if it dies. It is the one that decides and acts:

- Every ``TICK_S`` it reads the gateway's ``GET /`` on 127.0.0.1 (requests in flight and
  held per deployment, seconds since the last request, in flight per instance). A
  request held for a deployment at zero instances starts one at once; otherwise every
  ``polling_interval`` the ``ScaleDecider`` says how many instances the load wants,
  after the scale-up and scale-down delays.
- Adding an instance: one of the deployment's ``standby`` instances (made, with its
  port, when the deployment was applied) becomes ``starting``: the supervisor starts it;
  once its ``GET /ready`` answers 200 it joins ``instances`` and the gateway's config,
  and any held request goes to it.
- Draining an instance: it leaves ``instances`` for ``stopping``, so the gateway's config
  no longer names it; once the gateway serves that config and reports no request in
  flight on it, it goes back to ``standby`` and the supervisor stops it. No request is
  dropped: the gateway sends it none from the new config on, and the old ones finish.

Every change is made under the endpoint's lock on a fresh read of the records, so a
``create``/``update`` at the same time wins cleanly (a new version replaces the
instances and the standby wholesale). The channel from the gateway is its ``GET /``
only: the gateway needs no secret, no port of ours, and works the same on every target.

Run as ``python -m mlkube.targets.local.autoscaler STATE_DIR``; it logs each decision.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mlkube.entities.elastic_scale import LoadSignal, ScaleDecider, elastic_scale
from mlkube.targets.local.gateway_sync import file_digest
from mlkube.targets.local.processes import read_status
from mlkube.targets.local.readiness import MAX_EARLY_EXITS, classify_readiness
from mlkube.targets.local.state import DeploymentRecord, EndpointFolder, Instance, publish

TICK_S = 0.1


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} autoscaler: {message}", flush=True)


@dataclass
class _Tracked:
    """What the autoscaler remembers of one deployment between ticks."""

    policy_key: str
    decider: ScaleDecider
    last_decision: float = 0.0
    #: The gateway's busy_s at the last decision: the next one averages from there.
    last_busy_s: float | None = None


class Autoscaler:
    """Scales the elastic deployments of one endpoint folder, tick by tick."""

    def __init__(self, folder: EndpointFolder) -> None:
        self.folder = folder
        self._tracked: dict[str, _Tracked] = {}
        self._client = httpx.Client(timeout=1.0, trust_env=False)

    def run(self) -> None:
        _log(f"watching endpoint {self.folder.name}")
        while self.folder.exists():
            try:
                self.tick(time.monotonic())
            except Exception as error:  # keep scaling through a surprise; say it
                _log(f"tick failed: {type(error).__name__}: {error}")
            time.sleep(TICK_S)

    def tick(self, now: float) -> None:
        health = self._gateway_health()
        if health is None:
            return
        for name, record in self.folder.read_deployments().items():
            scale = elastic_scale(record.spec)
            if scale is None or record.state != "Succeeded":
                continue
            tracked = self._tracked.get(name)
            key = repr(scale)
            if tracked is None or tracked.policy_key != key:
                tracked = self._tracked[name] = _Tracked(key, ScaleDecider(scale))
            self._promote_ready(name, record)
            self._finish_drained(name, record, health)
            held = int(health.get("held", {}).get(name, 0))
            running = len(record.instances) + len(record.starting)
            urgent = running == 0 and held > 0
            if not urgent and now - tracked.last_decision < scale.polling_interval_s:
                continue
            busy_s = float(health.get("busy_s", {}).get(name, 0.0))
            mean = (0.0 if tracked.last_busy_s is None or busy_s < tracked.last_busy_s
                    else (busy_s - tracked.last_busy_s) / max(now - tracked.last_decision,
                                                              TICK_S))
            # The mean in flight (queued included) over the interval, not one sample.
            signal = LoadSignal(busy=mean, held=held,
                                idle_s=float(health.get("idle_s", {}).get(name, 0.0)))
            tracked.last_decision, tracked.last_busy_s = now, busy_s
            wanted = tracked.decider.decide(now, running, signal)
            if wanted > running:
                self._start(name, wanted - running, signal)
            elif wanted < len(record.instances) and not record.starting:
                self._drain(name, len(record.instances) - wanted, signal)

    # --- acting on the records (each under the lock, on a fresh read) ---------------------

    def _change(self, name: str, change: Any) -> bool:
        with self.folder.lock():
            record = self.folder.read_deployment(name)
            if record is None or record.state != "Succeeded":
                return False
            changed = change(record)
            if changed is None:
                return False
            self.folder.write_deployment(changed)
            publish(self.folder)
            return True

    def _start(self, name: str, count: int, signal: LoadSignal) -> None:
        # A standby instance whose old process the supervisor still runs (it is being
        # stopped after a drain) is not started again yet: its port would answer ready from
        # the process that is going away, and a request sent there would fail. The next
        # tick looks again; a held request waits meanwhile.
        still_running = set(read_status(self.folder.path))

        def change(record: DeploymentRecord) -> DeploymentRecord | None:
            free = [i for i in record.standby if i.program not in still_running]
            chosen = free[:count]
            if not chosen:
                return None
            return record.with_changes(
                standby=tuple(i for i in record.standby if i not in chosen),
                starting=(*record.starting, *chosen))
        if self._change(name, change):
            _log(f"{name}: starting {count} instance(s) (in flight {signal.busy:.2f}, held "
                 f"{signal.held})")

    def _drain(self, name: str, count: int, signal: LoadSignal) -> None:
        def change(record: DeploymentRecord) -> DeploymentRecord | None:
            if count <= 0 or not record.instances:
                return None
            keep, leave = record.instances[:-count], record.instances[-count:]
            return record.with_changes(instances=keep, stopping=(*record.stopping, *leave))
        if self._change(name, change):
            _log(f"{name}: draining {count} instance(s) (in flight {signal.busy:.2f}, idle "
                 f"{signal.idle_s:.1f}s)")

    def _promote_ready(self, name: str, record: DeploymentRecord) -> None:
        """Starting instances that answer ready join the gateway's config; ones that
        crash-loop go back to standby (the log says why)."""
        ready: list[str] = []
        failed: list[str] = []
        status = read_status(self.folder.path)
        for instance in record.starting:
            if self._is_ready(instance):
                ready.append(instance.program)
            elif (reported := status.get(instance.program)) and (
                    reported.restarts >= MAX_EARLY_EXITS):
                failed.append(instance.program)
        if not ready and not failed:
            return

        def change(current: DeploymentRecord) -> DeploymentRecord | None:
            joining = tuple(i for i in current.starting if i.program in ready)
            dropped = tuple(i for i in current.starting if i.program in failed)
            if not joining and not dropped:
                return None
            return current.with_changes(
                instances=(*current.instances, *joining),
                starting=tuple(i for i in current.starting
                               if i.program not in ready and i.program not in failed),
                standby=(*current.standby, *dropped))
        if self._change(name, change):
            for program in ready:
                _log(f"{name}: instance {program} is ready and serving")
            for program in failed:
                _log(f"{name}: instance {program} keeps exiting; back to standby (see "
                     f"its log)")

    def _finish_drained(self, name: str, record: DeploymentRecord,
                        health: dict[str, Any]) -> None:
        """Stopping instances the gateway no longer routes to and has no request on go
        back to standby, so the supervisor stops them."""
        if not record.stopping or health.get("config_digest") != file_digest(self.folder):
            return
        in_flight = health.get("instance_in_flight", {})
        done = [i.program for i in record.stopping if not in_flight.get(i.url)]
        if not done:
            return

        def change(current: DeploymentRecord) -> DeploymentRecord | None:
            leaving = tuple(i for i in current.stopping if i.program in done)
            if not leaving:
                return None
            return current.with_changes(
                stopping=tuple(i for i in current.stopping if i.program not in done),
                standby=(*current.standby, *leaving))  # ones long stopped start first
        if self._change(name, change):
            _log(f"{name}: stopped {len(done)} drained instance(s)")

    # --- reading ---------------------------------------------------------------------------

    def _gateway_health(self) -> dict[str, Any] | None:
        endpoint = self.folder.read_endpoint() or {}
        if "port" not in endpoint:
            return None
        try:
            answer = self._client.get(f"http://127.0.0.1:{endpoint['port']}/").json()
        except (httpx.HTTPError, ValueError):
            return None  # the gateway is starting or restarting: nothing to read yet
        return answer if isinstance(answer, dict) else None

    def _is_ready(self, instance: Instance) -> bool:
        try:
            answer = self._client.get(f"{instance.url}/ready", timeout=0.5)
        except httpx.HTTPError:
            return False
        return classify_readiness(answer.status_code, answer.content).kind == "ready"


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        sys.exit("usage: python -m mlkube.targets.local.autoscaler STATE_DIR")
    Autoscaler(EndpointFolder(Path(args[0]))).run()


if __name__ == "__main__":
    main()
