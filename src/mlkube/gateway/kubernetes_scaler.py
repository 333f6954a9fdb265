"""Scale to zero on Kubernetes: the gateway scales its own deployments to 0 and back.

A HorizontalPodAutoscaler never goes below one replica, and nothing else in a cluster
sees the requests, so the gateway does it, through the API server, as the endpoint's
gateway ServiceAccount. Its Role allows only ``get``, ``patch`` and ``update`` on
``deployments/scale``, restricted by ``resourceNames`` to this endpoint's Deployments
that scale to zero (``targets/kubernetes/gateway_manifests.py``): the gateway can change
how many pods those run, nothing else, and no other Deployment.

Every ``TICK_S`` it reads each such Deployment's scale. One at 0 replicas is *asleep*:
a request for it is held (``scale_to_zero.Activity``) and wakes it, by setting the
replicas to the deployment's ``instance_count`` (or 1 under an HPA, which takes over
from there once it is above 0), then probing ``GET /ready`` through its Service until an
instance answers; the held requests then go on. One awake, with no request for
``after_s`` and none in flight, is scaled to 0.

An endpoint has several gateway replicas, each seeing only its share of the requests.
So a replica scales a deployment to zero only when, besides its own idle clock, the
deployment's pods have scored nothing new for ``after_s``: it reads their
``mlkube_predict_duration_seconds_count`` through the Service every tick and counts a
value it has not seen before as activity (behind one Service URL several pods answer in
turn, each with its own idle counter, so only new values mean new work). And a replica
waking a deployment sets its replicas again while another has just scaled it down, so a
held request is answered, never left to time out by a race. The other replicas learn of
a scale-down within a tick (1 s); until then their requests still reach the stopping
pods, which keep serving through their ``preStop`` pause (5 s) before they stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mlkube.gateway.config import DeploymentRoute
from mlkube.gateway.scale_to_zero import Activity
from mlkube.gateway.upstream import UpstreamClient, UpstreamError, UpstreamInstance

log = logging.getLogger("mlkube.gateway")

ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TICK_S = 1.0
READY_PROBE_S = 0.1


@dataclass(frozen=True)
class ApiAccess:
    """How this pod reaches its API server, from what Kubernetes mounts into it."""

    base_url: str
    namespace: str
    token: str
    ca_file: str
    #: Read again for each call (the kubelet rewrites it before the token expires); the
    #: last token read stands in while it cannot be read.
    token_file: str | None = None

    @classmethod
    def in_cluster(cls, account_dir: Path = ACCOUNT_DIR) -> ApiAccess | None:
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        try:
            token = (account_dir / "token").read_text().strip()
            namespace = (account_dir / "namespace").read_text().strip()
        except OSError:
            return None
        if not host:
            return None
        host = f"[{host}]" if ":" in host else host
        return cls(base_url=f"https://{host}:{port}", namespace=namespace, token=token,
                   ca_file=str(account_dir / "ca.crt"), token_file=str(account_dir / "token"))


class KubernetesScaler:
    """Puts this endpoint's scale-to-zero Deployments to sleep and wakes them."""

    def __init__(self, access: ApiAccess, activity: Activity) -> None:
        self._access = access
        self._activity = activity
        self._api = _ApiClient(access)
        self._probe = UpstreamClient()
        #: Replicas last read (or set) per Kubernetes Deployment.
        self._replicas: dict[str, int] = {}
        #: Per Deployment: each predict count its pods reported, and when first seen.
        self._counts: dict[str, dict[float, float]] = {}
        #: Per Deployment: the count of the first look, which says nothing about recent work.
        self._first_counts: dict[str, float] = {}
        self._waking: dict[str, asyncio.Task[None]] = {}
        #: Per Deployment idle here but kept up: the cause last logged.
        self._staying: dict[str, str] = {}

    def asleep(self, route: DeploymentRoute) -> bool:
        """Whether a request for ``route`` must be held (and wake it)."""
        target = route.scale_to_zero.kubernetes_deployment if route.scale_to_zero else None
        if target is None:
            return False
        return self._replicas.get(target, 1) == 0 or target in self._waking

    def wake(self, route: DeploymentRoute) -> None:
        """Start waking ``route``'s Deployment unless that is under way."""
        target = route.scale_to_zero.kubernetes_deployment if route.scale_to_zero else None
        if target is None or target in self._waking:
            return
        task = asyncio.create_task(self._wake(route, target))
        self._waking[target] = task
        task.add_done_callback(lambda _: self._waking.pop(target, None))

    async def _wake(self, route: DeploymentRoute, target: str) -> None:
        replicas = route.instance_count or 1
        try:
            await self._set_replicas(target, replicas)
            log.info("Deployment '%s' woke up: %s scaled to %d.", route.name, target, replicas)
            service = UpstreamInstance.from_url(route.instances[0])
            probes = 0
            while True:
                try:
                    answer = await self._probe.request(service, "GET", b"/ready", [], b"",
                                                       timeout_s=2.0, fresh=True)
                    if answer.status == 200:
                        break
                except UpstreamError:
                    pass
                probes += 1
                if probes % 10 == 0 and await self._get_replicas(target) == 0:
                    # Another gateway replica scaled it down meanwhile: wake it again.
                    await self._set_replicas(target, replicas)
                await asyncio.sleep(READY_PROBE_S)
        except Exception:  # held requests time out with 503; the next one tries again
            log.exception("Waking deployment '%s' (%s) failed.", route.name, target)
        finally:
            self._waking.pop(target, None)
            self._activity.notify()

    async def run(self, routes: Callable[[], Mapping[str, tuple[DeploymentRoute, int]]]) -> None:
        """Forever: read each Deployment's replicas; scale the idle ones to 0.

        ``routes()`` gives, per deployment name, its route and its requests in flight."""
        while True:
            for name, (route, busy) in routes().items():
                sleep = route.scale_to_zero
                if sleep is None or sleep.kubernetes_deployment is None:
                    continue
                target = sleep.kubernetes_deployment
                try:
                    if target not in self._waking:
                        self._replicas[target] = await self._get_replicas(target)
                    if self._replicas.get(target, 0) == 0:
                        self._forget_counts(target)
                    elif (target not in self._waking and busy == 0
                            and self._activity.held(name) == 0
                            and self._activity.idle_s(name) >= sleep.after_s):
                        staying = await self._pods_busy(route, target, sleep.after_s)
                        if staying is None:
                            await self._set_replicas(target, 0)
                            self._forget_counts(target)
                            self._staying.pop(target, None)
                            log.info("Deployment '%s' scaled to zero after %.0f s without a "
                                     "request.", name, sleep.after_s)
                        elif self._staying.get(target) != staying:
                            # Said once per cause: why an idle deployment is not asleep.
                            self._staying[target] = staying
                            log.info("Deployment '%s' has had no request here for %.0f s "
                                     "but stays up: %s.", name, self._activity.idle_s(name),
                                     staying)
                except Exception as error:  # the API may be briefly away: retry next tick
                    log.warning("Cannot read or scale %s: %s", target, error)
            await asyncio.sleep(TICK_S)

    async def _pods_busy(self, route: DeploymentRoute, target: str,
                         after_s: float) -> str | None:
        """Why the deployment must stay up although this replica sent it nothing: its pods
        reported a predict count this replica had not seen within ``after_s`` (work
        another gateway replica sent them), or their count cannot be read. None: asleep."""
        now = asyncio.get_running_loop().time()
        seen = self._counts.setdefault(target, {})
        count = await self._predict_count(route)
        if count is None:
            return "its pods' predict count cannot be read through its Service"
        self._first_counts.setdefault(target, count)
        seen.setdefault(count, now)
        for value, first in list(seen.items()):
            if now - first > 4 * after_s:
                del seen[value]
        recent = [value for value, first in seen.items() if now - first < after_s]
        if not recent:
            return None
        if recent == [self._first_counts[target]]:
            # Only the first look so far: no sign of work, but no proof of idleness either.
            return (f"this replica has just started watching its pods' predict count, and "
                    f"waits {after_s:.0f} s for it to stay unchanged (another gateway "
                    "replica may be sending them requests)")
        return (f"its pods scored requests within the last {after_s:.0f} s (another "
                "gateway replica sent them)")

    def _forget_counts(self, target: str) -> None:
        self._counts.pop(target, None)
        self._first_counts.pop(target, None)

    async def _predict_count(self, route: DeploymentRoute) -> float | None:
        try:
            answer = await self._probe.request(UpstreamInstance.from_url(route.instances[0]),
                                               "GET", b"/metrics", [], b"", timeout_s=2.0,
                                               fresh=True)
        except UpstreamError:
            return None
        if answer.status != 200:
            return None
        for line in answer.body.decode("utf-8", "replace").splitlines():
            if line.startswith("mlkube_predict_duration_seconds_count"):
                return float(line.rsplit(" ", 1)[-1])
        return None

    def _scale_path(self, target: str) -> str:
        return (f"/apis/apps/v1/namespaces/{self._access.namespace}/deployments/"
                f"{target}/scale")

    async def _get_replicas(self, target: str) -> int:
        scale = await self._api.call("GET", self._scale_path(target))
        return int(scale.get("spec", {}).get("replicas") or 0)

    async def _set_replicas(self, target: str, replicas: int) -> None:
        await self._api.call("PATCH", self._scale_path(target),
                             {"spec": {"replicas": replicas}})
        self._replicas[target] = replicas

    async def aclose(self) -> None:
        await self._probe.aclose()


class KubernetesApiError(Exception):
    """The API server refused a call (the status and its message)."""


class _ApiClient:
    """The two calls the scaler makes, over TLS with the pod's token: the gateway image
    carries no HTTP client library, and one request per second needs no pool."""

    def __init__(self, access: ApiAccess) -> None:
        self._access = access
        self._tls = ssl.create_default_context(cafile=access.ca_file)
        host_port = access.base_url.removeprefix("https://")
        host, _, port = host_port.rpartition(":")
        self._host, self._port = host.strip("[]"), int(port)
        self._token = access.token

    def _bearer(self) -> str:
        """The pod's current token: a bound token lasts an hour where the API server does
        not extend it, and the kubelet writes its successor into the mounted file."""
        if self._access.token_file:
            try:
                self._token = Path(self._access.token_file).read_text().strip() or self._token
            except OSError:
                pass
        return self._token

    async def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        payload = b"" if body is None else orjson.dumps(body)
        head = (f"{method} {path} HTTP/1.0\r\nHost: {self._host}\r\n"
                f"Authorization: Bearer {self._bearer()}\r\nAccept: application/json\r\n"
                f"Content-Type: application/merge-patch+json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n").encode()
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            self._host, self._port, ssl=self._tls, server_hostname=self._host), timeout=5.0)
        try:
            writer.write(head + payload)
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), timeout=10.0)
        finally:
            writer.close()
        status_line, _, rest = raw.partition(b"\r\n")
        _, _, text = rest.partition(b"\r\n\r\n")
        status = int(status_line.split()[1])
        data = orjson.loads(text) if text else {}
        if status >= 300:
            raise KubernetesApiError(f"{method} {path}: {status} {data.get('message', '')}")
        return data if isinstance(data, dict) else {}
