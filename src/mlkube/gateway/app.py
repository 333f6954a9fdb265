"""The endpoint gateway as a raw ASGI app: authenticate, route, proxy, mirror, report.

One gateway runs per online endpoint, the same code on every target, served by uvicorn
as ``serving.py`` says. Before a request reaches this app, ``mlkube.http_protocol`` has
refused heads over ``--max-header-kb`` (431), heads not complete within
``--header-timeout`` (408), connections past ``--max-connections`` (503) and anything
that is not HTTP/1.1 (400), all in the JSON error shape below. Per request:

1. ``GET /`` (health: which replica answers, the config digest and keys fingerprint it
   serves, the requests in flight per deployment) and ``GET /metrics`` (Prometheus) are
   answered by the gateway itself, without auth.
2. Every other request needs exactly one ``Authorization: Bearer <key or token>`` (401
   otherwise; two are 400, as are two ``azureml-model-deployment`` headers). A
   ``Content-Length`` over ``--max-body-mb`` is 413 before a byte of the body is read;
   an answer given before the body was read closes the connection when the client
   waits for ``100 Continue`` or the body is over the limit.
3. The deployment is the one named by ``azureml-model-deployment``, else drawn by the
   traffic weights (``routing.py``); the request waits for a slot on one of its instances
   (``instances.py``: 429 past capacity and queue wait).
4. The request goes upstream with its path and query unchanged (``/score``,
   ``/invocations``, ``/v2/...``, ``/swagger.json``), without the credential, with request
   id headers; the answer comes back with ``azureml-model-deployment`` naming the
   deployment and the request ids. Timeouts answer 504, a failed or unready deployment 424
   (state and reason from the config), a refused or broken connection 502.
   A request that provably never reached an instance's model (connection refused, reset
   before the request was read, or 503 ``MODEL_NOT_READY``) is tried once on each other
   instance within the request timeout, and the instance is avoided for a short
   cool-down (``instances.py``); nothing else is retried, mirrored copies never.
5. Unpinned POSTs are copied to ``mirror_traffic`` deployments *after* the answer is sent,
   marked with ``x-mlkube-mirror: true``; a copy's outcome is only counted and logged.

The hot path does no parsing of config, builds no clients, and logs one access line.
Errors use the inference server's JSON shape
``{"error", "error_code", "message", "hint"}`` and never echo the credential.

Its length is one request's path (auth, choice, retry, mirror, answer) plus reloading,
kept in one file because each step's error decides the status of the next.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import orjson

from mlkube.asgi import (
    ClientDisconnectedError,
    RawHeaders,
    Receive,
    Scope,
    Send,
    new_request_id,
    read_body,
    send_response,
    serve_lifespan,
)
from mlkube.errors import (
    BadGatewayError,
    MalformedRequestError,
    MlkubeError,
    ModelContainerError,
    ModelNotReadyError,
    PayloadTooLargeError,
    RequestHeaderTooLargeError,
    ScoringTimeoutError,
    error_body,
    parse_error_body,
)
from mlkube.gateway.access_log import FLUSH_INTERVAL_S, AccessLog
from mlkube.gateway.auth import Authenticator, EndpointKeys, load_endpoint_keys
from mlkube.gateway.config import DeploymentRoute, GatewayConfig, load_gateway_config
from mlkube.gateway.instances import DEFAULT_COOL_DOWN_S, InstancePool, logs_command
from mlkube.gateway.kubernetes_scaler import ApiAccess, KubernetesScaler
from mlkube.gateway.metrics import GatewayMetrics
from mlkube.gateway.reload import WatchedFile, warn_if_readable_by_others
from mlkube.gateway.routing import (
    RoutingTable,
    build_routing_table,
    choose_deployment,
    choose_mirrors,
)
from mlkube.gateway.scale_to_zero import Activity
from mlkube.gateway.upstream import (
    UpstreamBrokenError,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamError,
    UpstreamInstance,
    UpstreamResponse,
    UpstreamTimeoutError,
)

log = logging.getLogger("mlkube.gateway")

#: Default cap on a request body: Azure ML's managed endpoints stop near 100 MB too.
DEFAULT_MAX_BODY_BYTES = 100 * 1024 * 1024
#: Mirrored copies in the air at once; more are dropped (and counted) rather than queued.
MAX_MIRRORS_IN_FLIGHT = 1000
MIRROR_HEADER = b"x-mlkube-mirror"

# Per RFC 9110 these describe one connection, not the message, so they never cross; and
# bodies are buffered whole, so framing (content-length, expect) is the gateway's own.
_HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
    b"trailer", b"transfer-encoding", b"upgrade", b"host", b"content-length", b"expect",
})
_OWN_RESPONSE_HEADERS = _HOP_BY_HOP | {
    b"azureml-model-deployment", b"x-request-id", b"x-ms-request-id", b"server", b"date",
}
_JSON = (b"content-type", b"application/json")
_MAX_REQUEST_ID = 100


@dataclass(frozen=True)
class _Routes:
    """Everything derived from one (config, keys) pair; swapped whole on reload."""

    config: GatewayConfig
    digest: str
    keys_fingerprint: str
    table: RoutingTable
    pools: dict[str, InstancePool]
    instances: dict[str, tuple[UpstreamInstance, ...]]
    authenticator: Authenticator


class Gateway:
    """The ASGI app of one endpoint's gateway (build it with ``create_app``)."""

    def __init__(self, *, config_file: WatchedFile[GatewayConfig],
                 keys_file: WatchedFile[EndpointKeys], reload_interval_s: float,
                 max_body_bytes: int, draw: Callable[[], float],
                 access_log: AccessLog, cool_down_s: float = DEFAULT_COOL_DOWN_S) -> None:
        self._config_file = config_file
        self._keys_file = keys_file
        self._config = config_file.load()
        self._keys = keys_file.load()
        self._cool_down_s = cool_down_s
        self._routes = _build_routes(self._config, self._keys, previous=None,
                                     cool_down_s=cool_down_s)
        self._reload_interval_s = reload_interval_s
        self._max_body_bytes = max_body_bytes
        self._draw = draw
        self._client = UpstreamClient()
        self._mirrors: set[asyncio.Task[None]] = set()
        self._reloader: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        # Pools of deployments dropped or changed by a reload, until their requests finish.
        self._retired: list[InstancePool] = []
        self.metrics = GatewayMetrics()
        self.access_log = access_log
        # The pod's name on Kubernetes: a client reaching replicas through a Service
        # learns from it which of them serve a change yet.
        self._replica = socket.gethostname()
        # Scale to zero (scale_to_zero.py): last request and held requests per deployment;
        # on Kubernetes the gateway scales those Deployments itself.
        self._activity = Activity()
        self._scaler: KubernetesScaler | None = None
        self._scaling: asyncio.Task[None] | None = None

    @property
    def config(self) -> GatewayConfig:
        return self._routes.config

    # --- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await serve_lifespan(receive, send, startup=self._start, shutdown=self.aclose)

    def _start(self) -> None:
        self._reloader = asyncio.create_task(self._reload_forever())
        self._flusher = asyncio.create_task(self._flush_forever())
        self._activity.track(self._routes.pools)
        self._start_scaler()
        log.info("Gateway for endpoint '%s' serving config %s (deployments: %s).",
                 self._config.endpoint, self._routes.digest,
                 ", ".join(self._config.deployments) or "none")

    async def aclose(self) -> None:
        """Stop reloading, drop mirrored copies in the air, close upstream connections."""
        for task in (self._reloader, self._flusher, self._scaling):
            if task is not None:
                task.cancel()
        self.access_log.flush()
        for task in list(self._mirrors):
            task.cancel()
        await self._client.aclose()

    # --- one request ---------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        if method == "GET" and path == "/":
            await _send(send, 200, [_JSON], self._health())
            return
        if method == "GET" and path == "/metrics":
            # The replica lets a reader behind a Service keep one baseline per pod.
            await _send(send, 200, [(b"content-type", b"text/plain; version=0.0.4"),
                                    (b"x-mlkube-replica", self._replica.encode())],
                        self._render_metrics().encode())
            return

        authorization: bytes | None = None
        pinned: str | None = None
        request_id: bytes | None = None
        declared: bytes | None = None  # Content-Length (the parser allows one at most)
        expects_continue = False
        repeated: bytes | None = None
        forward: RawHeaders = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:
                    repeated = b"Authorization"
                authorization = value  # checked here, never sent upstream or logged
            elif name == b"x-request-id":
                request_id = value
            elif name == b"content-length":
                declared = value
            elif name == b"expect":
                expects_continue = value.lower() == b"100-continue"
            elif name in _HOP_BY_HOP or name == b"x-ms-request-id":
                continue
            else:
                if name == b"azureml-model-deployment":
                    if pinned is not None:
                        repeated = b"azureml-model-deployment"
                    pinned = value.decode("latin-1").strip()
                forward.append((name, value))

        routes = self._routes
        deployment = ""
        mirrors: list[str] = []
        body = b""
        target = b""
        length: bytes | None = None
        if request_id is None:
            request_id = new_request_id()
        headers: RawHeaders
        body_read = False
        try:
            if repeated is not None:
                # Proxies and servers disagree on which of two values wins; a credential
                # or pin that means different things to them is refused, never guessed.
                raise MalformedRequestError(
                    f"The request has more than one {repeated.decode()} header.",
                    hint=f"Send exactly one {repeated.decode()} header.")
            if len(request_id) > _MAX_REQUEST_ID:
                request_id = new_request_id()
                raise RequestHeaderTooLargeError(
                    f"The x-request-id header is longer than {_MAX_REQUEST_ID} characters.",
                    hint="Send a shorter request id (a UUID), or none to get one generated.")
            forward.append((b"x-request-id", request_id))
            forward.append((b"x-ms-request-id", request_id))
            routes.authenticator.check(authorization)
            deployment = choose_deployment(routes.table, pinned or None, draw=self._draw)
            self._activity.touch(deployment)
            if declared is not None and int(declared) > self._max_body_bytes:
                # Refused before a byte of it is read (and before any "100 Continue").
                raise self._too_large(int(declared))
            body = await read_body(receive, limit=self._max_body_bytes,
                                   too_large=self._too_large)
            body_read = True
            target = scope.get("raw_path") or path.encode()
            if scope.get("query_string"):
                target = target + b"?" + scope["query_string"]
            if not pinned and method == "POST":
                mirrors = choose_mirrors(routes.table, deployment, draw=self._draw)
            routes = await self._hold_while_asleep(routes, deployment, started=started)
            self._activity.begin(deployment)
            try:
                response = await self._forward(routes, deployment, method, target, forward,
                                               body, started=started)
            finally:
                self._activity.end(deployment)
            status = response.status
            headers = [(n, v) for n, v in response.headers if n not in _OWN_RESPONSE_HEADERS]
            payload = response.body
            if method == "HEAD":
                # No body, but the length a GET would get, as the server said it.
                length = next((v for n, v in response.headers if n == b"content-length"), None)
        except MlkubeError as error:
            status = error.http_status
            headers = [_JSON]
            payload = error_body(error)
        except ClientDisconnectedError:
            return
        except Exception:  # a gateway bug must still answer, in the one shape
            log.exception("Request %s failed inside the gateway.", request_id.decode("latin-1"))
            status, headers = 500, [_JSON]
            payload = error_body(MlkubeError(
                "The gateway failed to handle the request.",
                hint="Retry; if it persists, report it with the gateway's log."))

        headers.append((b"x-request-id", request_id))
        headers.append((b"x-ms-request-id", request_id))
        if deployment:
            headers.append((b"azureml-model-deployment", deployment.encode()))
        if not body_read and (expects_continue or status == 413) and _has_body(declared, scope):
            # Answered before its body was read: a client that waited for "100 Continue"
            # will not send it, and a body over the limit is not drained just to keep the
            # connection (as Go's net/http does), so the framing ends with the connection.
            headers.append((b"connection", b"close"))
        await _send(send, status, headers, payload,
                    length=length if method == "HEAD" else None, head=method == "HEAD")

        for mirror in mirrors:
            self._start_mirror(routes, mirror, method, target, forward, body)
        seconds = time.perf_counter() - started
        if deployment:  # idle from the end of the last request
            self._activity.touch(deployment)
        self.metrics.observe_request(deployment, status, seconds)
        self.access_log.write(request_id.decode("latin-1"), method, path, deployment, status,
                              seconds)

    def _too_large(self, _size: int) -> PayloadTooLargeError:
        limit = self._max_body_bytes
        return PayloadTooLargeError(
            f"The request body is larger than the gateway's limit of {limit // (1024 * 1024)} "
            "MB.", hint="Send smaller batches, or start the gateway with a larger --max-body-mb.")

    async def _forward(self, routes: _Routes, deployment: str, method: str, target: bytes,
                       headers: list[tuple[bytes, bytes]], body: bytes, *,
                       started: float) -> UpstreamResponse:
        pool = routes.pools[deployment]
        route = pool.route
        if route.state == "Failed":
            raise pool.no_instance_error()
        index = await pool.acquire()
        instances = routes.instances[deployment]
        timeout_s = route.request_timeout_ms / 1000
        tried: list[int] | None = None  # built on the first failure only: lean hot path
        fresh = False
        not_ready: str | None = None
        refused: UpstreamConnectError | None = None
        try:
            while True:
                try:
                    response = await self._client.request(
                        instances[index], method, target, headers, body,
                        timeout_s=timeout_s, fresh=fresh)
                    if response.status != 503:
                        return response
                    message = _not_ready_message(response)
                    if message is None:
                        return response
                    not_ready = message
                    reason = "not_ready"
                except UpstreamConnectError as error:
                    refused = error
                    reason = "refused"
                # The request provably never reached this instance's model: avoid the
                # instance for a while, and try each other one once, within the budget.
                if pool.mark_unhealthy(index):
                    log.info("Instance %s of deployment '%s' is avoided for %.1f s: %s.",
                             instances[index].url, deployment, pool.cool_down_s,
                             not_ready if reason == "not_ready" else refused)
                if tried is None:
                    tried = []
                tried.append(index)
                timeout_s = route.request_timeout_ms / 1000 - (time.perf_counter() - started)
                following = pool.retarget(index, tried=tried) if timeout_s > 0 else None
                if following is None:
                    break
                self.metrics.observe_retry(deployment, reason)
                # The same URL again (a Service fronting several pods): a new connection,
                # so the Service may pick another pod.
                fresh = any(instances[i] == instances[following] for i in tried)
                index = following
            raise _all_failed(route, tried, not_ready=not_ready, refused=refused,
                              endpoint=pool.endpoint)
        except UpstreamTimeoutError:
            raise ScoringTimeoutError(
                f"Deployment '{deployment}' did not answer within request_timeout_ms="
                f"{route.request_timeout_ms}.",
                hint="Raise request_settings.request_timeout_ms, or send smaller batches.",
            ) from None
        except UpstreamBrokenError as error:
            raise BadGatewayError(
                f"Deployment '{deployment}' failed while scoring: {error}.",
                hint=f"The inference server may have crashed; check "
                     f"{logs_command(deployment, pool.endpoint)}.",
            ) from None
        finally:
            pool.release(index)

    # --- scale to zero --------------------------------------------------------------------
    async def _hold_while_asleep(self, routes: _Routes, deployment: str, *,
                                 started: float) -> _Routes:
        """The routes to forward with: ``routes``, or, for a deployment at zero instances,
        the routes once one is ready (the request is held meanwhile, and wakes it)."""
        route = routes.pools[deployment].route
        sleep = route.scale_to_zero
        if sleep is None:
            return routes
        scaler = self._scaler

        def ready() -> bool:
            pool = self._routes.pools.get(deployment)
            if pool is None or not pool.instances:
                return pool is None  # removed meanwhile: let the usual errors answer
            return scaler is None or not scaler.asleep(pool.route)

        if ready():
            return routes
        if scaler is not None:
            scaler.wake(route)
        timeout_s = route.request_timeout_ms / 1000 - (time.perf_counter() - started)
        await self._activity.hold(deployment, ready=ready, held_limit=sleep.held_limit,
                                  timeout_s=timeout_s,
                                  request_timeout_ms=route.request_timeout_ms)
        if deployment not in self._routes.pools:
            raise routes.pools[deployment].no_instance_error()
        return self._routes

    def _start_scaler(self) -> None:
        """Start scaling Kubernetes Deployments once the config names one (at start, or
        when a reload brings the first)."""
        if self._scaler is not None:
            return
        if not any(route.scale_to_zero and route.scale_to_zero.kubernetes_deployment
                   for route in self._config.deployments.values()):
            return
        access = ApiAccess.in_cluster()
        if access is None:
            log.warning("Deployments scale to zero through Kubernetes, but this gateway has "
                        "no service account token: they will not be scaled.")
            return
        self._scaler = KubernetesScaler(access, self._activity)
        self._scaling = asyncio.create_task(self._scaler.run(
            lambda: {name: (pool.route, pool.busy)
                     for name, pool in self._routes.pools.items()}))

    # --- mirroring -----------------------------------------------------------------------
    def _start_mirror(self, routes: _Routes, deployment: str, method: str, target: bytes,
                      headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        if len(self._mirrors) >= MAX_MIRRORS_IN_FLIGHT:
            self.metrics.observe_mirror(deployment, "dropped")
            return
        task = asyncio.create_task(self._mirror(routes, deployment, method, target,
                                                [*headers, (MIRROR_HEADER, b"true")], body))
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)

    async def _mirror(self, routes: _Routes, deployment: str, method: str, target: bytes,
                      headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        pool = routes.pools[deployment]
        if pool.route.state == "Failed" or not pool.instances:
            self.metrics.observe_mirror(deployment, "unavailable")
            return
        try:
            index = await pool.acquire()
        except MlkubeError:
            self.metrics.observe_mirror(deployment, "rejected")
            return
        try:
            response = await self._client.request(
                routes.instances[deployment][index], method, target, headers, body,
                timeout_s=pool.route.request_timeout_ms / 1000)
            outcome = str(response.status)
        except UpstreamError as error:
            outcome = {UpstreamTimeoutError: "timeout", UpstreamConnectError: "unreachable"}.get(
                type(error), "broken")
            log.info("Mirrored request to '%s' failed: %s", deployment, error)
        finally:
            pool.release(index)
        self.metrics.observe_mirror(deployment, outcome)

    # --- gateway's own routes and reloading ----------------------------------------------
    def _health(self) -> bytes:
        routes = self._routes
        self._retired = [pool for pool in self._retired if pool.busy]
        busy: dict[str, int] = {}
        per_instance: dict[str, int] = {}
        for pool in (*routes.pools.values(), *self._retired):
            busy[pool.route.name] = busy.get(pool.route.name, 0) + pool.busy
            for url, count in zip(pool.instances, pool.in_flight, strict=True):
                per_instance[url] = per_instance.get(url, 0) + count
        return orjson.dumps({
            "status": "Healthy",
            # Which engine serves (the native one says "native"): what a user checks to
            # know which program answers behind a target.
            "engine": "python",
            "endpoint": routes.config.endpoint,
            "replica": self._replica,
            "config_digest": routes.digest,
            "keys_fingerprint": routes.keys_fingerprint,
            "traffic": dict(routes.config.traffic),
            "mirror_traffic": dict(routes.config.mirror_traffic),
            # In flight or queued per deployment, including ones a reload removed: a
            # deployment that lost its traffic may be stopped once this reaches 0.
            "in_flight": busy,
            # What autoscalers read: per instance URL in flight (an instance taken out of
            # the config may be stopped once it is 0), requests held for a deployment at
            # zero instances, and seconds since each deployment's last request.
            "instance_in_flight": per_instance,
            "held": {name: self._activity.held(name) for name in routes.pools},
            "idle_s": {name: round(self._activity.idle_s(name), 3) for name in routes.pools},
            "busy_s": {name: round(self._activity.busy_s(name), 6) for name in routes.pools},
        })

    def _render_metrics(self) -> str:
        routes = self._routes
        return self.metrics.render(
            in_flight=[(name, pool.total_in_flight, pool.capacity)
                       for name, pool in routes.pools.items()],
            config_digest=routes.digest,
        )

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            self.access_log.flush()

    async def _reload_forever(self) -> None:
        while True:
            await asyncio.sleep(self._reload_interval_s)
            try:
                self.reload()
            except Exception:  # the reloader must outlive any surprise
                log.exception("Reloading the gateway's files failed; keeping the current ones.")

    def reload(self) -> bool:
        """Re-read both files; apply them if either changed and parsed. True if applied."""
        config_changed, config = self._config_file.poll()
        keys_changed, keys = self._keys_file.poll()
        for name, changed, value in (("config", config_changed, config),
                                     ("keys", keys_changed, keys)):
            if changed:
                self.metrics.observe_reload(name, "applied" if value is not None else "refused")
        if config is None and keys is None:
            return False
        self._config = config or self._config
        self._keys = keys or self._keys
        previous = self._routes
        self._routes = _build_routes(self._config, self._keys, previous=previous,
                                     cool_down_s=self._cool_down_s)
        kept = {id(pool) for pool in self._routes.pools.values()}
        self._retired += [pool for pool in previous.pools.values()
                          if id(pool) not in kept and pool.busy]
        self._activity.track(self._routes.pools)
        self._activity.notify()  # held requests look again: instances may have come
        if config is not None:
            self._start_scaler()
        if config is not None:
            log.info("Applied config %s: traffic %s, mirror %s.", self._routes.digest,
                     dict(self._config.traffic), dict(self._config.mirror_traffic))
        if keys is not None:
            log.info("Applied new keys; the previous keys no longer authenticate.")
        return True


def create_app(*, config_path: str | os.PathLike[str], keys_path: str | os.PathLike[str],
               reload_interval_s: float = 1.0, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               draw: Callable[[], float] = random.random,
               access_log_stream: TextIO | None = None,
               instance_cool_down_s: float = DEFAULT_COOL_DOWN_S) -> Gateway:
    """The gateway app for the endpoint described by ``config_path`` with ``keys_path``.

    ``access_log_stream`` receives one line per request (the CLI passes stderr); ``draw``
    is the random source of traffic and mirror choices; an instance that refused a request
    or answered "model not ready" is avoided for ``instance_cool_down_s``.

    Raises ``MlkubeError`` when either file is missing or invalid, so a gateway never
    starts on a bad config; later bad versions are refused and logged instead.
    """
    warn_if_readable_by_others(keys_path)
    return Gateway(
        config_file=WatchedFile(config_path, load_gateway_config, name="config"),
        keys_file=WatchedFile(keys_path, load_endpoint_keys, name="keys"),
        reload_interval_s=reload_interval_s,
        max_body_bytes=max_body_bytes,
        draw=draw,
        access_log=AccessLog(access_log_stream),
        cool_down_s=instance_cool_down_s,
    )


def _build_routes(config: GatewayConfig, keys: EndpointKeys, *,
                  previous: _Routes | None, cool_down_s: float) -> _Routes:
    pools: dict[str, InstancePool] = {}
    for name, route in config.deployments.items():
        old = previous.pools.get(name) if previous is not None else None
        # An unchanged deployment keeps its pool, so in-flight counts stay true.
        pools[name] = (old if old is not None and old.route == route
                       else InstancePool(route, cool_down_s=cool_down_s,
                                         endpoint=config.endpoint))
    return _Routes(
        config=config,
        digest=config.digest,
        keys_fingerprint=keys.fingerprint,
        table=build_routing_table(config),
        pools=pools,
        instances={name: tuple(UpstreamInstance.from_url(url) for url in route.instances)
                   for name, route in config.deployments.items()},
        authenticator=Authenticator(auth_mode=config.auth_mode, endpoint=config.endpoint,
                                    keys=keys),
    )


def _not_ready_message(response: UpstreamResponse) -> str | None:
    """The server's message if this 503 says its model is not loaded, else None."""
    parsed = parse_error_body(response.body)
    if parsed is None or parsed.error_code != ModelNotReadyError.error_code:
        return None
    return parsed.message or "the model is not ready"


def _all_failed(route: DeploymentRoute, tried: list[int], *, not_ready: str | None,
                refused: UpstreamConnectError | None, endpoint: str) -> MlkubeError:
    """What the caller gets when no instance of ``route`` took the request."""
    name = route.name
    count = len(tried)
    which = "its instance" if count == 1 else f"all {count} instances tried"
    logs = logs_command(name, endpoint)
    if not_ready is not None:
        return ModelNotReadyError(
            f"Deployment '{name}' is not ready: {which} answered that the model is not "
            f"loaded ({not_ready.rstrip('.')}).",
            hint=f"Retry in a few seconds while instances start; if it persists, check {logs}.")
    if route.state != "Succeeded":
        return ModelContainerError(
            f"Deployment '{name}' is not serving: state {route.state}"
            f"{', ' + route.reason if route.reason else ''} ({refused}).",
            hint=f"Wait for the deployment to finish, or check {logs}.")
    return BadGatewayError(
        f"Deployment '{name}' is not reachable: {which} refused the request ({refused}).",
        hint=f"Its inference servers may have crashed or be restarting; check {logs} "
             "and its status.")


def _has_body(declared: bytes | None, scope: Scope) -> bool:
    """Whether the request announced a body (a length, or chunked transfer coding)."""
    if declared is not None:
        return declared != b"0"
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])


async def _send(send: Send, status: int, headers: RawHeaders, body: bytes, *,
                length: bytes | None = None, head: bool = False) -> None:
    """One answer. To HEAD: no body, and the length a GET would get: the upstream's, the
    gateway's own error body's, or none when the upstream said none (0 would claim an
    empty body)."""
    if head and length is None and body:
        length = str(len(body)).encode()
    if not head:
        headers.append((b"content-length", str(len(body)).encode()))
    elif length is not None:
        headers.append((b"content-length", length))
    await send_response(send, status, headers, b"" if head else body)
