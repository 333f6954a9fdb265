"""Raw-HTTP entry scripts: ``@rawhttp`` and the request object ``run(request)`` gets.

Azure ML lets a score.py take the whole HTTP request instead of the body::

    @rawhttp
    def run(request):
        if request.method == "GET": ...
        return AMLResponse(request.get_data(), 200, {"X-Seen": "yes"})

There ``request`` is Flask's. Here it is ``AMLRequest``, built from the ASGI request
with the Flask/Werkzeug attributes such scripts use (``method``, ``headers``, ``args``,
``get_data()``, ``get_json()``, ``data``, ``path``, ``full_path``, ``form``, ``files``),
so the script runs unchanged and the model's environment needs no Flask. The
``azureml.contrib.services.aml_request`` import path is a thin shim re-exporting this
module (``server/azureml_compat``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote

from mlkube.errors import UnsupportedMediaTypeError
from mlkube.server import formats
from mlkube.server.scorers.http_headers import Headers, MultiDict, joined_headers

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute ``@rawhttp`` sets on ``run``; the server reads it to pick raw mode.
RAWHTTP_MARK = "__aml_rawhttp__"

# Azure's own modules mark raw mode with this module-level flag instead (and the real
# packages win over mlkube's shim when installed), so the server reads those flags too.
LEGACY_FLAG = "_rawHttpRequested"
LEGACY_MODULES = ("azureml.contrib.services.aml_request",
                  "azureml_inference_server_http.api.aml_request")


def rawhttp(func: F) -> F:
    """Mark ``run`` to receive the HTTP request object instead of the body text."""
    setattr(func, RAWHTTP_MARK, True)
    return func


def is_rawhttp(run: Callable[..., Any]) -> bool:
    """Whether ``run`` was decorated with mlkube's (or a wrapper-preserving) ``@rawhttp``."""
    return bool(getattr(run, RAWHTTP_MARK, False))


def compat_dir() -> str:
    """The folder holding the ``azureml`` import-path shims (a ``sys.path`` entry)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "azureml_compat")


class UploadedFile(io.BytesIO):
    """One file of a ``multipart/form-data`` body, as Werkzeug's ``FileStorage``:
    a readable stream with ``filename``, ``name``, ``content_type`` and ``save()``."""

    def __init__(self, data: bytes, *, name: str, filename: str | None,
                 content_type: str | None) -> None:
        super().__init__(data)
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.mimetype = formats.media_type(content_type)

    @property
    def stream(self) -> UploadedFile:
        return self

    def save(self, destination: str | os.PathLike[str] | io.IOBase) -> None:
        data = self.getvalue()
        if isinstance(destination, str | os.PathLike):
            with open(destination, "wb") as file:
                file.write(data)
        else:
            destination.write(data)

    def __repr__(self) -> str:
        return f"<UploadedFile {self.filename!r} ({self.content_type})>"


class AMLRequest:
    """The HTTP request a ``@rawhttp`` ``run()`` gets (Flask ``Request``-shaped).

    Cheap to build on the event loop: the body is kept as bytes and JSON, forms and
    files are parsed only when the script asks for them (in the scoring thread)."""

    def __init__(self, *, method: str, path: str, query_string: bytes = b"",
                 headers: Headers | None = None, body: bytes = b"", scheme: str = "http",
                 host: str = "localhost", root_path: str = "",
                 remote_addr: str | None = None) -> None:
        self.method = method.upper()
        self.path = path
        self.root_path = root_path
        self.query_string = query_string
        self.headers = headers if headers is not None else Headers()
        self.scheme = scheme
        self.host = self.headers.get("Host") or host
        self.remote_addr = remote_addr
        self._body = body
        self._args: MultiDict | None = None
        self._form: tuple[MultiDict, MultiDict] | None = None

    # -- the URL -------------------------------------------------------------------------

    @property
    def args(self) -> MultiDict:
        """Query arguments; repeated keys keep every value (``getlist``)."""
        if self._args is None:
            self._args = MultiDict(parse_qsl(self.query_string.decode("latin-1"),
                                             keep_blank_values=True))
        return self._args

    @property
    def full_path(self) -> str:
        """Path and query, always with ``?`` (Werkzeug's ``/score?`` for no query)."""
        return f"{self.script_root}{quote(self.path)}?{self.query_string.decode('latin-1')}"

    @property
    def script_root(self) -> str:
        return self.root_path.rstrip("/")

    @property
    def host_url(self) -> str:
        return f"{self.scheme}://{self.host}/"

    @property
    def url_root(self) -> str:
        return f"{self.scheme}://{self.host}{self.script_root}/"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}{self.script_root}{quote(self.path)}"

    @property
    def url(self) -> str:
        query = self.query_string.decode("latin-1")
        return self.base_url + (f"?{query}" if query else "")

    @property
    def is_secure(self) -> bool:
        return self.scheme == "https"

    # -- the body ------------------------------------------------------------------------

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    @property
    def mimetype(self) -> str:
        return formats.media_type(self.content_type)

    @property
    def mimetype_params(self) -> dict[str, str]:
        return _content_type_params(self.content_type)

    @property
    def content_length(self) -> int | None:
        return self.headers.get("Content-Length", type=int)

    @property
    def is_json(self) -> bool:
        media = self.mimetype
        return media == "application/json" or (media.startswith("application/")
                                                and media.endswith("+json"))

    def get_data(self, cache: bool = True, as_text: bool = False,
                 parse_form_data: bool = False) -> bytes | str:
        """The body: bytes, or text with ``as_text=True`` (undecodable bytes replaced)."""
        return self._body.decode("utf-8", "replace") if as_text else self._body

    @property
    def data(self) -> bytes:
        return self._body

    @property
    def stream(self) -> io.BytesIO:
        return io.BytesIO(self._body)

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """The body parsed as JSON.

        A body that is not JSON is the client's mistake, so unless ``silent`` it raises
        mlkube's 400 / 415 errors, which reach the client as such when run() does not
        catch them (Azure answers 500 there)."""
        if not (force or self.is_json):
            if silent:
                return None
            raise UnsupportedMediaTypeError(
                f"run() asked for the JSON body, but the request's Content-Type is "
                f"{self.mimetype or 'missing'}.",
                hint="Send the header Content-Type: application/json.")
        try:
            return formats.parse_json(self._body)
        except Exception:
            if silent:
                return None
            raise

    @property
    def json(self) -> Any:
        return self.get_json()

    @property
    def form(self) -> MultiDict:
        """Fields of a ``application/x-www-form-urlencoded`` or ``multipart/form-data`` body."""
        return self._parsed_form()[0]

    @property
    def files(self) -> MultiDict:
        """Files of a ``multipart/form-data`` body: ``request.files["image"].read()``."""
        return self._parsed_form()[1]

    @property
    def values(self) -> MultiDict:
        return MultiDict([*self.args.items(multi=True), *self.form.items(multi=True)])

    @property
    def cookies(self) -> dict[str, str]:
        from http.cookies import SimpleCookie

        jar: SimpleCookie = SimpleCookie()
        for line in self.headers.getlist("Cookie"):
            jar.load(line)
        return {name: morsel.value for name, morsel in jar.items()}

    def _parsed_form(self) -> tuple[MultiDict, MultiDict]:
        if self._form is None:
            self._form = parse_form(self._body, self.content_type)
        return self._form

    @property
    def environ(self) -> dict[str, Any]:
        """A WSGI-style view, for scripts that read ``request.environ``."""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.method, "PATH_INFO": self.path,
            "SCRIPT_NAME": self.script_root,
            "QUERY_STRING": self.query_string.decode("latin-1"),
            "CONTENT_TYPE": self.content_type or "",
            "CONTENT_LENGTH": str(len(self._body)), "REMOTE_ADDR": self.remote_addr,
            "wsgi.url_scheme": self.scheme, "HTTP_HOST": self.host,
        }
        for name, value in self.headers:
            environ.setdefault("HTTP_" + name.upper().replace("-", "_"), value)
        return environ

    def __repr__(self) -> str:
        return f"<AMLRequest {self.method} {self.full_path}>"


def build_request(scope: Mapping[str, Any], body: bytes) -> AMLRequest:
    """The request object for one ASGI ``http`` scope and its (already read) body.

    Repeated request headers are joined with ``", "`` as WSGI (and so Flask) joins them."""
    merged = joined_headers(scope.get("headers", ()))
    server = scope.get("server")
    host = f"{server[0]}:{server[1]}" if server else "localhost"
    client = scope.get("client")
    return AMLRequest(
        method=scope.get("method", "POST"), path=scope.get("path", "/score"),
        query_string=scope.get("query_string", b""), headers=Headers(merged.items()),
        body=body, scheme=scope.get("scheme", "http"), host=host,
        root_path=scope.get("root_path", ""), remote_addr=client[0] if client else None,
    )


def parse_form(body: bytes, content_type: str | None) -> tuple[MultiDict, MultiDict]:
    """``(form fields, files)`` of a form body; both empty for any other content type."""
    media = formats.media_type(content_type)
    if media == "application/x-www-form-urlencoded":
        return MultiDict(parse_qsl(body.decode("utf-8", "replace"),
                                   keep_blank_values=True)), MultiDict()
    if media != "multipart/form-data" or not body:
        return MultiDict(), MultiDict()
    # Imported here: few scripts take uploads, and the server's start-up stays light.
    from email.message import Message
    from email.parser import BytesParser
    from email.policy import HTTP

    # The stdlib MIME parser reads multipart bodies once given the header line.
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + (content_type or "").encode("latin-1") + b"\r\n\r\n" + body)
    fields: list[tuple[str, Any]] = []
    files: list[tuple[str, Any]] = []
    parts = message.get_payload() if message.is_multipart() else []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if filename is not None:
            files.append((name, UploadedFile(data, name=name, filename=filename,
                                             content_type=part.get("Content-Type"))))
        else:
            charset = part.get_content_charset() or "utf-8"
            fields.append((name, data.decode(charset, "replace")))
    return MultiDict(fields), MultiDict(files)


def _content_type_params(content_type: str | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip():
            params[key.strip().lower()] = value.strip().strip('"')
    return params
