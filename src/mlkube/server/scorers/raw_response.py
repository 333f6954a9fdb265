"""``AMLResponse``: a score.py choosing its own status, headers and body.

An entry script may return ``AMLResponse(message, status_code, headers, json_str=...)``
and the server answers with exactly that, as Azure ML's server does. There it is a Flask
``Response``; here it is a small class with the same constructor and the attributes
scripts touch (``status_code``, ``headers``, ``get_data()``), so no Flask is needed.
``response_parts`` also accepts a real Flask/Werkzeug response (when the real
azureml package is installed and wins over mlkube's shim): anything response-shaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from mlkube.errors import ScoringFailedError
from mlkube.server import formats
from mlkube.server.scorers.http_headers import Headers

# Werkzeug's default for a non-JSON response body.
DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
# Framing is the HTTP server's job: a script's stale Content-Length would corrupt it.
_FRAMING_HEADERS = frozenset({b"content-length", b"transfer-encoding", b"connection"})
_RESPONSE_MODULES = ("azureml", "werkzeug", "flask", "mlkube")


class AMLResponse:
    """The response ``run()`` returns to answer with its own status, headers and body.

    ``json_str=True`` serialises ``message`` as JSON (``application/json``); otherwise
    ``message`` is the body itself (``str`` or ``bytes``, default content type
    ``text/html; charset=utf-8``, overridden by a ``Content-Type`` in ``response_headers``).
    ``message=None`` answers ``{}``. ``x-ms-run-function-failed`` carries
    ``run_function_failed``, as on Azure."""

    def __init__(self, message: Any, status_code: int,
                 response_headers: Mapping[str, Any] | None = None, json_str: bool = False,
                 run_function_failed: bool = False) -> None:
        self.status_code = int(status_code)
        self.headers = Headers()
        if message is None:
            self._body, content_type = b"{}", JSON_CONTENT_TYPE
        elif json_str:
            try:
                self._body = formats.dumps(message)
            except TypeError as error:
                raise TypeError(
                    f"AMLResponse(json_str=True) cannot write {type(message).__name__} as "
                    f"JSON: {error}. Return lists, dicts, numbers, strings or numpy/pandas "
                    "values.") from None
            content_type = JSON_CONTENT_TYPE
        else:
            self._body, content_type = _body_bytes(message), DEFAULT_CONTENT_TYPE
        self.headers.set("Content-Type", content_type)
        self.headers.set("x-ms-run-function-failed", str(bool(run_function_failed)))
        for name, value in (response_headers or {}).items():
            if name.lower() == "content-type":
                self.headers.set(name, value)
            elif isinstance(value, list | tuple):
                for item in value:
                    self.headers.add(name, item)
            else:
                self.headers.add(name, value)

    @property
    def status(self) -> str:
        try:
            return f"{self.status_code} {HTTPStatus(self.status_code).phrase}"
        except ValueError:
            return f"{self.status_code} UNKNOWN"

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    @property
    def mimetype(self) -> str:
        return formats.media_type(self.content_type)

    def get_data(self, as_text: bool = False) -> bytes | str:
        return self._body.decode("utf-8", "replace") if as_text else self._body

    def set_data(self, value: str | bytes) -> None:
        self._body = _body_bytes(value)

    @property
    def data(self) -> bytes:
        return self._body

    @data.setter
    def data(self, value: str | bytes) -> None:
        self.set_data(value)

    def __repr__(self) -> str:
        return f"<AMLResponse [{self.status_code}] {len(self._body)} bytes>"


def is_http_response(value: Any) -> bool:
    """Whether ``run()`` returned a response to pass through (mlkube's ``AMLResponse``,
    Azure's, or any Flask/Werkzeug response), rather than a value to encode as JSON."""
    if isinstance(value, AMLResponse):
        return True
    return any(cls.__name__.endswith("Response") and cls.__module__.startswith(_RESPONSE_MODULES)
               for cls in type(value).__mro__[:-1])


def response_parts(response: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``(status, headers, body)`` of a response ``run()`` returned; a response HTTP
    cannot carry is a scoring failure naming what to fix."""
    status = getattr(response, "status_code", None)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ScoringFailedError(
            f"run() returned a response with status {status!r}.",
            hint="Give AMLResponse an HTTP status code between 100 and 599.")
    body = response.get_data()
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers: list[tuple[bytes, bytes]] = []
    for name, value in _header_items(response.headers):
        raw_name = str(name).lower().encode("latin-1")
        if raw_name in _FRAMING_HEADERS:
            continue
        try:
            headers.append((raw_name, str(value).encode("latin-1")))
        except UnicodeEncodeError:
            raise ScoringFailedError(
                f"run() returned the header {name} with characters HTTP headers cannot "
                "carry.", hint="Keep header values to Latin-1 (percent-encode the rest)."
            ) from None
    return status, headers, bytes(body)


def _header_items(headers: Any) -> Iterable[tuple[Any, Any]]:
    items = headers.items() if hasattr(headers, "items") else headers
    return list(items)


def _body_bytes(message: Any) -> bytes:
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message)
    if isinstance(message, str):
        return message.encode("utf-8")
    if isinstance(message, list | tuple) and all(isinstance(m, str | bytes) for m in message):
        # Werkzeug treats a list as the body's chunks.
        return b"".join(m.encode("utf-8") if isinstance(m, str) else m for m in message)
    raise TypeError(
        f"AMLResponse got a {type(message).__name__} body without json_str=True: pass "
        "json_str=True to send it as JSON, or give str or bytes.")
