"""The registry watcher: roll deployments that follow their model's label out again when
the label (an MLflow alias, or ``latest``) names another version.

``mlkube watch-registry`` runs ``RegistryWatcher.run``; locally the endpoint's supervisor
runs one per endpoint that has a following deployment (``targets.local.state``), so
nobody starts it by hand, and it stops with the last following deployment or the
endpoint. Each poll reads every following deployment of the endpoints watched, asks the
registry what its label names (``label_following.resolve_label``) and, when that is not
``served_model``, applies the deployment again through the ordinary update
(``online_deployments.begin_create_or_update``): new instances start beside the old ones
and take traffic only once ready, so clients see no failed request.

A version that fails to roll out is not tried again while the label names it: the
deployment is applied once more pinned to the version that served before (its spec
still names the label), and ``label_rollout`` records the failed version and why. A
deployment busy with another change (``Creating``, ``Updating``, ``Deleting``) is left
to the next poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.entities.rollout import LabelRollout
from mlkube.errors import MlkubeError
from mlkube.operations.label_following import check_follows_label, resolve_label

if TYPE_CHECKING:
    from mlkube.operations.client import MLClient

#: Seconds between polls unless told otherwise: a registry read per deployment, cheap.
DEFAULT_INTERVAL_S = 5.0
_BUSY = ("Creating", "Updating", "Deleting")
#: Failure messages are kept with the spec: long logs are cut to their end.
_REASON_CHARS = 2000


@dataclass(frozen=True)
class WatchOutcome:
    """What one poll did for one deployment."""

    endpoint: str
    deployment: str
    #: ``rolled_out``, ``failed`` (rolled back to ``previous``) or ``error`` (could not act).
    outcome: str
    model: str
    previous: str | None
    reason: str | None = None

    def line(self) -> str:
        where = f"{self.endpoint}/{self.deployment}"
        if self.outcome == "rolled_out":
            return f"{where}: rolled out {self.model} (was {self.previous})"
        kept = f"; {self.previous} keeps serving" if self.previous else ""
        return f"{where}: {self.model} did not roll out{kept}: {self.reason}"


class RegistryWatcher:
    """Polls the registry for the following deployments of some (or all) endpoints."""

    def __init__(self, ml_client: MLClient, *, endpoints: list[str] | None = None,
                 log: Callable[[str], None] = print) -> None:
        self._client = ml_client
        self._endpoints = endpoints
        self._log = log

    def following(self) -> list[OnlineDeployment]:
        """Every deployment of the watched endpoints that follows its label."""
        names = self._endpoints if self._endpoints is not None else [
            e.name for e in self._client.online_endpoints.list()]
        found: list[OnlineDeployment] = []
        for name in names:
            try:
                deployments = self._client.online_deployments.list(name)
            except MlkubeError:
                continue  # deleted meanwhile
            found.extend(d for d in deployments if d.follow_model_label)
        return found

    def poll(self) -> list[WatchOutcome]:
        """Roll out every following deployment whose label moved; what was done."""
        outcomes = []
        for deployment in self.following():
            try:
                outcome = self._follow(deployment)
            except MlkubeError as error:  # the registry or the target did not answer
                self._log(f"{deployment.endpoint_name}/{deployment.name}: {error.message}")
                continue
            if outcome is not None:
                self._log(outcome.line())
                outcomes.append(outcome)
        return outcomes

    def run(self, *, interval_s: float = DEFAULT_INTERVAL_S,
            until: Callable[[], bool] = lambda: False) -> None:
        """Poll every ``interval_s`` until ``until()`` says stop (a signal, a test)."""
        while not until():
            started = time.monotonic()
            self.poll()
            time.sleep(max(0.0, interval_s - (time.monotonic() - started)))

    def _follow(self, deployment: OnlineDeployment) -> WatchOutcome | None:
        if deployment.provisioning_state in _BUSY:
            return None
        reference = check_follows_label(deployment)
        wanted = resolve_label(self._client.models, reference)
        tried = deployment.label_rollout
        if wanted == deployment.served_model or (
                tried is not None and tried.outcome == "failed" and tried.model == wanted):
            return None
        endpoint = deployment.endpoint_name or ""
        previous = deployment.served_model
        self._log(f"{endpoint}/{deployment.name}: {reference} now names {wanted} "
                  f"(serving {previous}); rolling it out")
        operations = self._client.online_deployments
        record = LabelRollout(model=wanted, outcome="rolled_out", at=_now())
        try:
            operations.begin_create_or_update(
                deployment.model_copy(update={"label_rollout": record}),
                progress=None).result()
        except MlkubeError as error:
            reason = error.message[-_REASON_CHARS:]
            failed = LabelRollout(model=wanted, outcome="failed", at=_now(), reason=reason)
            self._roll_back(deployment, failed)
            return WatchOutcome(endpoint, deployment.name, "failed", wanted, previous, reason)
        return WatchOutcome(endpoint, deployment.name, "rolled_out", wanted, previous)

    def _roll_back(self, deployment: OnlineDeployment, failed: LabelRollout) -> None:
        """Serve the version that served before again, recording why the new one did not."""
        previous = deployment.served_model
        version = previous.rpartition(":")[2] if previous else None
        if version is None:
            return  # nothing served before; the failed deployment says why itself
        try:
            self._client.online_deployments._begin_apply(
                deployment.model_copy(update={"label_rollout": failed}), local=False,
                progress=None, pinned_version=version).result()
        except MlkubeError as error:
            self._log(f"{deployment.endpoint_name}/{deployment.name}: rolling back to "
                      f"{previous} failed too: {error.message}")


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
