"""The HTTP side of the inference server: a raw ASGI app with a small router.

No web framework: the scoring hot path is one dict lookup, one body read, the
scorer's decode, a hop to the scoring thread, one encode and two ``send`` calls.
HTTP concerns live here only (routes, headers, status codes, the one JSON error
shape); what a request means is the scorer's business (``scorers/``), and how bodies
look is ``formats.py``'s.

One error shape serves all three protocols at once: ``{"error", "error_code",
"message", "hint"}`` (v2 clients read ``error``, MLflow clients ``error_code`` and
``message``). Errors never echo the payload.

Its length is the router's: every route of the three protocols, their health and
metadata answers and the one scoring path are kept side by side, so the hot path reads top
to bottom in one file.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mlkube.asgi import (
    ClientDisconnectedError,
    RawHeaders,
    Receive,
    Scope,
    Send,
    new_request_id,
    read_body,
    requests_in_flight,
    send_response,
    serve_lifespan,
)
from mlkube.errors import (
    InvalidInputError,
    MethodNotAllowedError,
    MlkubeError,
    ModelNotReadyError,
    PayloadTooLargeError,
    RequestHeaderTooLargeError,
    ResourceNotFoundError,
    RouteNotFoundError,
    ScoringFailedError,
    ScoringTimeoutError,
    error_body,
)
from mlkube.server import formats
from mlkube.server.deadlines import Deadlines
from mlkube.server.metrics import Metrics
from mlkube.server.scorers.base import HttpRequest, Scorer
from mlkube.server.scoring_threads import ScoringThreads
from mlkube.server.settings import ServerSettings

logger = logging.getLogger("mlkube.server")

HEADER_LIMIT = 100
# A predict the scorer allows on the event loop (Scorer.may_run_inline) runs there when
# its request is the only one in the server and such calls take less than this: the
# hand-off to a scoring thread and back costs about as much (two thread wake-ups and the
# loop's self-pipe; 130 µs of CPU per one-row request at one connection, measured with
# bench/ab.py), and a call this short holds up a request that arrives meanwhile less than
# the hand-off would delay its own. With others in flight the hand-off is shared among
# them and the thread is the cheaper and the fairer path (BENCHMARKS.md, "Fairness at
# overload": at 64 connections the loop served requests read in one turn ahead of those
# read in the turn before, each passed over by up to two rounds, for more CPU each).
INLINE_LIMIT_S = 0.0002
_JSON = (b"content-type", b"application/json")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_RUN_FAILED = (b"x-ms-run-function-failed", b"True")
_RETRY_AFTER = (b"retry-after", b"1")

# Methods a @rawhttp entry script answers on /score besides POST (Azure's routes; HEAD
# as Flask adds it to GET).
_RAW_EXTRA_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_V2_LABELS = frozenset({"/v2/models/infer", "/v2/models", "/v2/models/ready"})

#: A route's encoder: (predict's output, the request id from the body) -> the JSON body.
Encoder = Callable[[Any, str | None], bytes]
#: A GET route: scope -> (status, body, extra headers).
GetRoute = Callable[[Scope], Awaitable[tuple[int, bytes, RawHeaders]]]


def _encode_score(output: Any, _request_id: str | None) -> bytes:
    return formats.encode_score(output)


def _encode_invocations(output: Any, _request_id: str | None) -> bytes:
    return formats.encode_invocations(output)


@dataclass(slots=True)
class _Exchange:
    """One request in flight: what it asked, and the answer's headers built so far."""

    scope: Scope
    receive: Receive
    send: Send
    started: float
    #: The metrics label (a known route, else ``other``) once the route is known.
    route: str
    content_type: str | None = None
    content_length: int = -1
    response_headers: RawHeaders = field(default_factory=list)


class LoadState:
    """Where the model load stands: loading, ready, or failed with a cause."""

    def __init__(self) -> None:
        self.ready = False
        self.error: ModelNotReadyError | None = None
        self.started = False

    def not_ready_error(self) -> ModelNotReadyError:
        if self.error is not None:
            return self.error
        return ModelNotReadyError("The model is still loading.",
                                  hint="Retry when GET /ready answers 200.")


class InferenceApp:
    """The ASGI application. Build it with ``create_app``."""

    def __init__(self, scorer: Scorer, settings: ServerSettings) -> None:
        self.scorer = scorer
        self.settings = settings
        self.metrics = Metrics()
        self.state = LoadState()
        self.threads = ScoringThreads(settings.scoring_threads)
        self.batcher: Any = None
        self._timeout = settings.scoring_timeout_ms / 1000.0
        self._deadlines = Deadlines(self._timeout)
        # Whether the last call that could run on the event loop was quick enough to
        # (see INLINE_LIMIT_S); the first such call runs in a scoring thread, measured.
        self._inline_is_quick = False
        self._max_body = settings.max_request_bytes
        self._cors = settings.cors_origins
        # Set when a @rawhttp entry script has loaded: its /score takes every method.
        self._raw = False
        self._post_routes: dict[str, Encoder] = {
            "/score": _encode_score,
            "/invocations": _encode_invocations,
        }
        self._get_routes: dict[str, GetRoute] = {
            # Azure's server answers / only once init() is done, so clients poll it
            # before scoring: here it is 200 once loaded, 503 while loading or failed.
            "/": self._root,
            "/ping": self._readiness,
            "/health": self._readiness,
            "/ready": self._readiness,
            "/swagger.json": self._swagger,
            "/metrics": self._metrics,
            "/version": self._version,
            "/v2": self._v2_server,
            "/v2/health/live": self._v2_live,
            "/v2/health/ready": self._v2_ready,
        }

    # -- loading -------------------------------------------------------------------------

    def start_loading(self) -> None:
        """Load the model in a background thread (idempotent)."""
        if self.state.started:
            return
        self.state.started = True
        threading.Thread(target=self._load, name="mlkube-load", daemon=True).start()

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            self.scorer.load()
        except BaseException as error:  # the process must keep serving
            cause = error if isinstance(error, ModelNotReadyError) else ModelNotReadyError(
                f"Loading the model failed: {type(error).__name__}: {error}",
                hint="See the traceback in the server log; fix the model or environment.",
            )
            self.state.error = cause
            logger.error("Model load failed; the server keeps running but is not ready.\n%s",
                         "".join(traceback.format_exception(error)).rstrip())
            return
        if self.settings.batching and self.scorer.batches:
            from mlkube.server.batching import MicroBatcher

            self.batcher = MicroBatcher(
                self._timed_batch, self.scorer.predict, threads=self.threads,
                max_batch_size=self.settings.max_batch_size,
                max_wait_ms=self.settings.max_batch_wait_ms,
                on_batch=self.metrics.observe_batch,
            )
        self._raw = self.scorer.raw_http
        _freeze_loaded_objects()
        self.state.ready = True
        logger.info("Ready to score (%s mode, loaded in %.2f s, batching %s)",
                    self.scorer.mode, time.perf_counter() - started,
                    "on" if self.batcher else "off")

    def _timed_predict(self, decoded: Any) -> tuple[Any, float]:
        started = time.perf_counter()
        output = self.scorer.predict(decoded)
        elapsed = time.perf_counter() - started
        self.metrics.observe_predict(elapsed)
        return output, elapsed

    def _timed_batch(self, decoded: list[Any]) -> list[Any]:
        started = time.perf_counter()
        outputs = self.scorer.predict_batch(decoded)
        self.metrics.observe_predict(time.perf_counter() - started)
        return outputs

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await serve_lifespan(receive, send, startup=self.start_loading,
                                 shutdown=self.threads.shutdown)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        exchange = _Exchange(scope, receive, send, time.perf_counter(), path,
                             response_headers=[(b"x-ms-request-id", new_request_id())])
        origin: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                exchange.content_type = value.decode("latin-1")
            elif name == b"content-length":
                exchange.content_length = int(value) if value.isdigit() else -1
            elif name == b"x-request-id" or name == b"x-ms-client-request-id":
                exchange.response_headers.append((name, value))
                if len(value) > HEADER_LIMIT:
                    # The answer does not echo the header that is too long.
                    del exchange.response_headers[1:]
                    await self._error(exchange, RequestHeaderTooLargeError(
                        f"Header {name.decode()} is longer than {HEADER_LIMIT} characters.",
                        hint=f"Send a request id of at most {HEADER_LIMIT} characters."))
                    return
            elif name == b"origin":
                origin = value
        if self._cors and origin is not None:
            exchange.response_headers += self._cors_headers(origin)
        try:
            # A @rawhttp script answers GET/OPTIONS on /score itself (until the script
            # has loaded nobody knows whether it will, so _score answers 503 meanwhile).
            if (path == "/score" and method in _RAW_EXTRA_METHODS
                    and (self._raw or not self.state.ready)
                    and not (method == "OPTIONS" and self._cors)):
                await self._score(exchange, _encode_score)
                return
            if method == "POST":
                encoder = self._post_routes.get(path)
                if encoder is not None:
                    await self._score(exchange, encoder)
                    return
                if path.startswith("/v2/models/") and path.endswith("/infer"):
                    exchange.route = "/v2/models/infer"
                    _, version = self._v2_model(path[len("/v2/models/"):-len("/infer")])
                    await self._score(exchange, self._v2_encoder(version))
                    return
            elif method in ("GET", "HEAD"):
                handler = self._get_routes.get(path)
                if handler is None and path.startswith("/v2/models/"):
                    handler, exchange.route = self._v2_get_route(path)
                if handler is not None:
                    status, body, extra = await handler(scope)
                    exchange.response_headers += extra
                    await self._respond(exchange, status, body)
                    return
            elif method == "OPTIONS" and self._cors:
                await self._respond(exchange, 200, b"")
                return
            raise self._unknown_route(method, path, exchange)
        except ClientDisconnectedError:
            return  # nobody is left to answer
        except MlkubeError as error:
            await self._error(exchange, error)
        except Exception as error:  # a bug must still answer in our shape
            logger.error("Unexpected error on %s %s:\n%s", method, path,
                         "".join(traceback.format_exception(error)).rstrip())
            await self._error(exchange, MlkubeError(
                f"The server failed: {type(error).__name__}: {error}",
                hint="See the server log; this is a bug in mlkube."))

    def _route_label(self, route: str) -> str:
        """A metrics label with bounded values: known routes, else ``other``."""
        if route in self._post_routes or route in self._get_routes or route in _V2_LABELS:
            return route
        return "other"

    def _unknown_route(self, method: str, path: str, exchange: _Exchange) -> MlkubeError:
        allowed = self._allowed_methods(path)
        if allowed:
            # RFC 9110: a 405 says which methods the resource takes.
            exchange.response_headers.append((b"allow", ", ".join(allowed).encode()))
            return MethodNotAllowedError(
                f"{method} is not allowed on {path}.",
                hint=f"{path} takes {', '.join(allowed)}.")
        return RouteNotFoundError(f"There is no route {path}.",
                                  hint="Score with POST /score, /invocations or "
                                  "/v2/models/<name>/infer; see GET /swagger.json.")

    def _not_ready(self, *, scoring: bool = False) -> ModelNotReadyError | None:
        """Why the server cannot score now, or None: the model is not loaded, or calls
        that timed out still hold scoring threads (for readiness: any of them; for a
        scoring request: all of them, else a free thread takes it)."""
        if not self.state.ready:
            return self.state.not_ready_error()
        overdue = self.threads.overdue(self._timeout)
        if not overdue or (scoring and len(overdue) < self.threads.count):
            return None
        return ModelNotReadyError(
            f"{len(overdue)} of {self.threads.count} scoring thread(s) are still running a "
            f"call that timed out (SCORING_TIMEOUT_MS={self.settings.scoring_timeout_ms}); "
            f"the longest has run for {max(overdue):.1f} s.",
            hint="Retry shortly: the server is ready again when the call returns. If "
            f"{self.scorer.predict_subject} is this slow, raise SCORING_TIMEOUT_MS or "
            "--scoring-threads, or send smaller requests.",
        )

    def _allowed_methods(self, path: str) -> list[str]:
        """The methods ``path`` answers (empty when there is no such route)."""
        extra = ["OPTIONS"] if self._cors else []
        if path in self._post_routes or (path.startswith("/v2/models/")
                                         and path.endswith("/infer")):
            if path == "/score" and self._raw:
                return ["GET", "HEAD", "OPTIONS", "POST"]
            return ["POST", *extra]
        # Only /v2/models/<name>... is answered beyond the fixed routes: /v2/models itself
        # or /v2/anything-else is no route at all (a 405 there would name GET, the very
        # method refused).
        if path in self._get_routes or path.startswith("/v2/models/"):
            return ["GET", "HEAD", *extra]
        return []

    async def _score(self, exchange: _Exchange, encoder: Encoder) -> None:
        not_ready = self._not_ready(scoring=True)
        if not_ready is not None:
            if self.state.ready:
                exchange.response_headers.append(_RETRY_AFTER)
            raise not_ready
        if exchange.content_length > self._max_body:
            raise self._too_large(exchange.content_length)
        body = await read_body(exchange.receive, limit=self._max_body,
                               too_large=self._too_large)
        content_type = exchange.content_type
        # Triton's binary-data extension: a JSON head, then raw tensor bytes; inlined
        # here so every decoder sees plain JSON.
        json_length = _header_int(exchange.scope.get("headers", []), formats.V2_BINARY_HEADER)
        if json_length is not None and not self.scorer.raw_http:
            body = formats.inline_binary_tensors(body, json_length)
            content_type = "application/json"
        # A @rawhttp run(request) gets the whole request, on every scoring route.
        decoded = _without_collections(self.scorer.decode,
                                       HttpRequest(exchange.scope, body, content_type))
        fn_started = time.perf_counter()
        try:
            if self.batcher is not None and self.scorer.can_batch(decoded):
                output = await self._deadlines.wait(self.batcher.submit(decoded))
            elif (self._inline_is_quick and requests_in_flight(exchange.scope) == 1
                  and self.scorer.may_run_inline(decoded)):
                output, elapsed = self._timed_predict(decoded)
                # Should such calls turn slow (a far bigger model than thought, a starved
                # core), the next ones go back to a scoring thread, off the loop.
                self._inline_is_quick = elapsed < INLINE_LIMIT_S
            else:
                output, elapsed = await self._deadlines.wait(
                    self.threads.run(self._timed_predict, decoded))
                if not self._inline_is_quick and elapsed < INLINE_LIMIT_S:
                    self._inline_is_quick = self.scorer.may_run_inline(decoded)
        except asyncio.TimeoutError:
            logger.warning("Request %s on %s timed out after SCORING_TIMEOUT_MS=%d; "
                           "its call keeps its scoring thread until it returns, and "
                           "readiness answers 503 meanwhile.", _request_ids(exchange),
                           exchange.route, self.settings.scoring_timeout_ms)
            raise ScoringTimeoutError(
                f"Scoring took longer than SCORING_TIMEOUT_MS={self.settings.scoring_timeout_ms}.",
                hint="Raise SCORING_TIMEOUT_MS (--scoring-timeout-ms) or send smaller requests.",
            ) from None
        except MlkubeError:
            raise
        except Exception as error:
            logger.error("Scoring failed on %s:\n%s", exchange.route,
                         "".join(traceback.format_exception(error)).rstrip())
            raise ScoringFailedError(
                f"{self.scorer.predict_subject} raised {type(error).__name__}: {error}",
                hint="See the traceback in the server log.",
            ) from None
        exec_ms = (time.perf_counter() - fn_started) * 1000.0
        answer = self.scorer.http_response(output)
        if answer is not None:
            status, extra, payload = answer
            exchange.response_headers += extra
            exchange.response_headers.append((b"x-ms-run-fn-exec-ms", f"{exec_ms:.3f}".encode()))
            await self._respond(exchange, status, payload)
            return
        try:
            payload = encoder(output, self.scorer.request_id(decoded))
        except TypeError as error:
            raise ScoringFailedError(
                f"The prediction cannot be written as JSON: {error}.",
                hint="Return lists, dicts, numbers, strings, numpy arrays or pandas objects.",
            ) from None
        exchange.response_headers.append((b"x-ms-run-fn-exec-ms", f"{exec_ms:.3f}".encode()))
        await self._respond(exchange, 200, payload, json=True)

    def _too_large(self, size: int) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"The request body ({size} bytes) is over the limit of {self._max_body} bytes.",
            hint="Send fewer rows per request, or raise --max-request-mb "
            "(MLKUBE_MAX_REQUEST_BYTES).",
        )

    async def _respond(self, exchange: _Exchange, status: int, body: bytes, *,
                       json: bool = False) -> None:
        headers = exchange.response_headers
        if json:
            headers.append(_JSON)
        elif not any(name == b"content-type" for name, _ in headers):
            headers.append(_TEXT)
        await send_response(exchange.send, status, headers, body)
        self.metrics.observe_request(self._route_label(exchange.route), status,
                                     time.perf_counter() - exchange.started)

    async def _error(self, exchange: _Exchange, error: MlkubeError) -> None:
        if isinstance(error, ScoringFailedError | ScoringTimeoutError):
            exchange.response_headers.append(_RUN_FAILED)
        await self._respond(exchange, error.http_status, error_body(error), json=True)

    def _cors_headers(self, origin: bytes) -> RawHeaders:
        allowed = "*" in self._cors or origin.decode("latin-1") in self._cors
        if not allowed:
            return []
        return [(b"access-control-allow-origin", origin),
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", b"*"),
                (b"vary", b"Origin")]

    # -- GET routes ----------------------------------------------------------------------

    async def _root(self, scope: Scope) -> tuple[int, bytes, RawHeaders]:
        error = self._not_ready()
        if error is None:
            return 200, b"Healthy", []
        retry = [] if self.state.error is not None else [_RETRY_AFTER]
        return 503, error_body(error), [_JSON, *retry]

    async def _readiness(self, scope: Scope) -> tuple[int, bytes, RawHeaders]:
        error = self._not_ready()
        if error is None:
            return 200, b"Ready", []
        return 503, error_body(error), [_JSON]

    async def _swagger(self, scope: Scope) -> tuple[int, bytes, RawHeaders]:
        if not self.state.ready:
            error = self.state.not_ready_error()
            return 503, error_body(error), [_JSON]
        from urllib.parse import parse_qs

        from mlkube.server.openapi import build_document

        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        version = (query.get("version") or ["3"])[0]
        request, example, response = self.scorer.openapi_parts()
        document = build_document(title=f"{self.scorer.name} scoring API", request=request,
                                  example=example, response=response, version=version)
        return 200, formats.dumps(document), [_JSON]

    async def _metrics(self, scope: Scope) -> tuple[int, bytes, RawHeaders]:
        return 200, self.metrics.render(), [
            (b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]

    async def _version(self, scope: Scope) -> tuple[int, bytes, RawHeaders]:
        from mlkube import __version__ as version

        return 200, formats.dumps({"mlkube": version, "mode": self.scorer.mode}), [_JSON]

    # -- Open Inference Protocol v2 ------------------------------------------------------

    async def _v2_server(self, scope: Scope) -> tuple[int, bytes, RawHeaders]:
        from mlkube import __version__ as version

        return 200, formats.dumps({"name": "mlkube", "version": version,
                                   "extensions": []}), [_JSON]

    async def _v2_live(self, scope: Scope) -> tuple[int, bytes, RawHeaders]:
        return 200, formats.dumps({"live": True}), [_JSON]

    async def _v2_ready(self, scope: Scope) -> tuple[int, bytes, RawHeaders]:
        error = self._not_ready()
        if error is None:
            return 200, formats.dumps({"ready": True}), [_JSON]
        return 503, error_body(error), [_JSON]

    def _v2_model(self, rest: str) -> tuple[str, str | None]:
        """Check ``<name>[/versions/<v>]`` against the served model."""
        name, _, version_part = rest.partition("/versions/")
        version = version_part or None
        if not self.state.ready:
            raise self.state.not_ready_error()
        if name != self.scorer.name or (
            version is not None and self.scorer.version is not None
            and version != self.scorer.version
        ):
            served = self.scorer.name + (f" version {self.scorer.version}"
                                         if self.scorer.version else "")
            raise ResourceNotFoundError(f"Model {rest} is not served here.",
                                        hint=f"This server serves the model {served}: use "
                                        f"/v2/models/{self.scorer.name}/... .")
        return name, version

    def _v2_get_route(self, path: str) -> tuple[GetRoute, str]:
        rest = path[len("/v2/models/"):]
        if rest.endswith("/ready"):
            model = rest[:-len("/ready")]

            async def ready(scope: Scope) -> tuple[int, bytes, RawHeaders]:
                error = self._not_ready()
                if error is not None:
                    return 503, error_body(error), [_JSON]
                self._v2_model(model)
                return 200, formats.dumps({"name": self.scorer.name, "ready": True}), [_JSON]

            return ready, "/v2/models/ready"

        async def metadata(scope: Scope) -> tuple[int, bytes, RawHeaders]:
            self._v2_model(rest)
            return 200, formats.dumps(self.scorer.v2_metadata()), [_JSON]

        return metadata, "/v2/models"

    def _v2_encoder(self, version: str | None) -> Encoder:
        name = self.scorer.name
        model_version = version or self.scorer.version

        def encode(output: Any, request_id: str | None) -> bytes:
            return formats.encode_v2(output, model_name=name, model_version=model_version,
                                     request_id=request_id)

        return encode


def _freeze_loaded_objects() -> None:
    """Move everything alive once the model has loaded (modules, the model, the
    framework's objects: a few hundred thousand with MLflow) out of the cyclic garbage
    collector's reach.

    A big body parses into tens of thousands of lists and dicts; allocating them triggers
    full collections, and each one walked every object the load left behind: on a
    10,000-row JSON body that was twice the parse itself and more than the predict.
    Frozen, a collection walks only what requests created. Garbage from the load is
    collected first, so nothing that should be freed is kept."""
    gc.collect()
    gc.freeze()


def _without_collections(decode: Callable[[Any], Any], request: Any) -> Any:
    """``decode(request)`` with the cyclic garbage collector paused.

    Decoding a body allocates a container per row (10,000 lists or dicts for a 10,000-row
    body), and every 700 allocations start a collection that walks the young ones; a
    parsed JSON document holds no cycles, so each walk is waste: a quarter of the parse
    on a 10,000-row body. What decoding leaves is freed by reference counting when the
    request ends, or collected by the next collection after this."""
    if not gc.isenabled():  # someone (a score.py) turned it off: theirs to turn back on
        return decode(request)
    gc.disable()
    try:
        return decode(request)
    finally:
        gc.enable()


def _request_ids(exchange: _Exchange) -> str:
    """The request's ids as a log names them: ours, and the client's if it sent any."""
    return " ".join(f"{name.decode()}={value.decode('latin-1')}"
                    for name, value in exchange.response_headers
                    if name in (b"x-ms-request-id", b"x-request-id", b"x-ms-client-request-id"))


def _header_int(headers: list[tuple[bytes, bytes]], name: bytes) -> int | None:
    for key, value in headers:
        if key.lower() == name:
            try:
                return int(value)
            except ValueError:
                raise InvalidInputError(f"{name.decode()} is {value.decode('latin-1')!r}.",
                                        hint="Send a number of bytes.") from None
    return None


def create_app(scorer: Scorer, settings: ServerSettings) -> InferenceApp:
    """The ASGI app serving ``scorer``; the model loads on lifespan startup (or on
    ``start_loading()``) in a background thread."""
    return InferenceApp(scorer, settings)
