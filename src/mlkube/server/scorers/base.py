"""The runtime contract between the HTTP app and a model: one small class.

The app (``app.py``) does HTTP only and calls a scorer at fixed moments, documented
on each method below, so a new kind of model is one new sibling class: the app never
asks which kind it holds, it reads the class's answers (``raw_http``, ``batches``,
``predict_subject``, ``http_response``).
"""

from __future__ import annotations

import abc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlkube.server.settings import ServerSettings

RawHeaders = Sequence[tuple[bytes, bytes]]
#: An answer a scorer gives itself: status, headers and body, passed through as they are.
HttpAnswer = tuple[int, list[tuple[bytes, bytes]], bytes]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One scoring request as the app hands it to ``Scorer.decode``: the ASGI scope
    (method, path, query, headers) and the whole body, already read."""

    scope: Mapping[str, Any]
    body: bytes
    #: The ``Content-Type`` header, if the request had one.
    content_type: str | None = None

    @property
    def headers(self) -> RawHeaders:
        headers: RawHeaders = self.scope.get("headers", ())
        return headers


class Scorer(abc.ABC):
    """A loaded model (or entry script) that scores decoded requests."""

    #: ``mlflow`` (no-code) or ``entry-script``: shown in logs, ``/version`` and the v2
    #: metadata's ``platform``.
    mode: str = ""
    #: True when concurrent requests may be merged into one ``predict_batch`` (the app
    #: builds a micro-batcher only then, and only with batching on).
    batches: bool = False
    #: What ran when ``predict`` raised, for the 500's message.
    predict_subject: str = "The model's predict"
    #: True when the scorer takes the whole HTTP request (Azure's ``@rawhttp``): ``/score``
    #: then answers GET, HEAD and OPTIONS too. Read by the app once ``load`` returned.
    raw_http: bool = False

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    @abc.abstractmethod
    def load(self) -> None:
        """Load the model / import the script and call ``init()``.

        Called once per worker process, in a background thread, so liveness answers
        while a large model loads. Raising leaves the process serving: readiness and
        scoring answer 503 with the cause."""

    @abc.abstractmethod
    def decode(self, request: HttpRequest) -> Any:
        """Turn one request into the scorer's input; raise ``InvalidInputError`` (400) or
        ``UnsupportedMediaTypeError`` (415) naming what is wrong.

        Called per request on the event loop, after load succeeded: must be cheap."""

    @abc.abstractmethod
    def predict(self, decoded: Any) -> Any:
        """Score one decoded request; any exception becomes a 500 naming it.

        Called in a scoring thread, or on the event loop for requests
        ``may_run_inline`` accepts."""

    def may_run_inline(self, decoded: Any) -> bool:
        """Whether ``predict`` on this request is short and safe enough to run on the event
        loop (library code only, no user code that could block or hang, a few rows), so
        the hand-off to a scoring thread and back, which costs more than such a call, is
        skipped. The app still hands it off while such calls are measured slow."""
        return False

    def can_batch(self, decoded: Any) -> bool:
        """Whether this request may be merged with others into one ``predict_batch``."""
        return False

    def predict_batch(self, decoded: list[Any]) -> list[Any]:
        """Score several requests in one call; one output per request, in order.

        Called in a scoring thread, only for requests ``can_batch`` accepted."""
        return [self.predict(d) for d in decoded]

    def request_id(self, decoded: Any) -> str | None:
        """The client's request id carried in the body (v2 ``id``), if any."""
        return getattr(decoded, "request_id", None)

    def http_response(self, output: Any) -> HttpAnswer | None:
        """``predict``'s output as a whole answer, when the scorer chose its own status,
        headers and body (an entry script's ``AMLResponse``); None to have the route
        encode it."""
        return None

    # -- descriptions, valid after load -------------------------------------------------

    @property
    def name(self) -> str:
        """The model's name on the v2 routes."""
        if self.settings.model_name:
            return self.settings.model_name
        azure = _azure_model_name_version(self.settings.model_dir)
        if azure:
            return azure[0]
        if self.settings.model_dir:
            return os.path.basename(os.path.normpath(self.settings.model_dir)) or "model"
        script = self.settings.entry_script or "model"
        return os.path.splitext(os.path.basename(script))[0]

    @property
    def version(self) -> str | None:
        """The model's version on the v2 routes (None when unknown)."""
        if self.settings.model_version:
            return self.settings.model_version
        azure = _azure_model_name_version(self.settings.model_dir)
        return azure[1] if azure else None

    def v2_metadata(self) -> dict[str, Any]:
        """Open Inference Protocol model metadata (inputs and outputs, when known)."""
        return {"name": self.name, "versions": [self.version] if self.version else [],
                "platform": self.mode, "inputs": [], "outputs": []}

    def openapi_parts(self) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
        """(request JSON schema, request example or None, response JSON schema)."""
        return {"type": "object"}, None, {"type": "object"}


def _azure_model_name_version(model_dir: str | None) -> tuple[str, str] | None:
    """``(name, version)`` from ``.../azureml-models/<name>/<version>``."""
    if not model_dir:
        return None
    parts = os.path.normpath(model_dir).split(os.sep)
    if len(parts) >= 3 and parts[-3] == "azureml-models":
        return parts[-2], parts[-1]
    return None
