"""Entry-script mode: a score.py written for Azure ML runs unchanged.

The semantics are azureml-inference-server-http's: the script is imported as a
module, ``init()`` is called once, and ``run`` gets the raw request body as ``str``
(undecorated), the JSON object's keys as keyword arguments when ``run`` is
decorated with inference-schema's ``@input_schema`` (the decorators convert them to
the declared types), or the whole HTTP request (``raw_request.AMLRequest``) when it is
decorated with ``@rawhttp``; plus ``request_headers`` when ``run`` takes that parameter.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from mlkube.errors import InvalidInputError, ModelNotReadyError, UnsupportedMediaTypeError
from mlkube.server import formats
from mlkube.server.scorers.base import HttpAnswer, HttpRequest, Scorer
from mlkube.server.scorers.http_headers import joined_headers
from mlkube.server.scorers.raw_request import (
    LEGACY_FLAG,
    LEGACY_MODULES,
    build_request,
    compat_dir,
    is_rawhttp,
)
from mlkube.server.scorers.raw_response import is_http_response, response_parts

logger = logging.getLogger("mlkube.server")


class EntryScriptScorer(Scorer):
    """Runs ``init()`` / ``run()`` of a user's scoring script."""

    mode = "entry-script"
    predict_subject = "run()"

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.script_path = settings.entry_script_path
        self._run: Callable[..., Any] | None = None
        self._input_param: str = "data"
        self._params: list[str] = []
        self._required: set[str] = set()
        self._takes_headers = False
        self._decorated = False

    def load(self) -> None:
        path = self.script_path
        if not path or not os.path.isfile(path):
            raise ModelNotReadyError(
                f"Entry script {path} does not exist.",
                hint="Pass --entry-script (absolute, or relative to AML_APP_ROOT="
                f"{self.settings.app_root}) naming your score.py.",
            )
        if self.settings.model_dir:
            # Scripts read the model folder from the environment, as on Azure ML.
            os.environ["AZUREML_MODEL_DIR"] = self.settings.model_dir
        for folder in (self.settings.source_directory, os.path.dirname(path)):
            if folder and folder not in sys.path:
                sys.path.insert(0, folder)
        # Last on the path, so an installed Azure package wins over mlkube's shims.
        if compat_dir() not in sys.path:
            sys.path.append(compat_dir())
        _reset_legacy_rawhttp_flags()
        spec = importlib.util.spec_from_file_location(_module_name(), path)
        if spec is None or spec.loader is None:
            raise ModelNotReadyError(f"Cannot import {path} as a Python module.",
                                     hint="The entry script must be a .py file.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        # Clients read these messages (503 bodies, the gateway's 424): the script's name,
        # not where it lives on the server (the log has the full path).
        shown = os.path.basename(str(path))
        try:
            spec.loader.exec_module(module)
        except BaseException as error:
            raise ModelNotReadyError(
                f"Importing entry script {shown} failed: {type(error).__name__}: {error}",
                hint="Fix the error at the top of the traceback in the server log.",
            ) from error
        for function in ("init", "run"):
            if not callable(getattr(module, function, None)):
                raise ModelNotReadyError(
                    f"Entry script {shown} has no {function}() function.",
                    hint="An entry script defines init() (load the model) and run(data).",
                )
        driver = getattr(module, "driver_module", None)
        run = driver.run if driver is not None and hasattr(driver, "run") else module.run
        self._analyze_run(run, raw=is_rawhttp(run) or _legacy_rawhttp_requested())
        logger.info("Calling init() of %s", path)
        try:
            module.init()
        except BaseException as error:
            raise ModelNotReadyError(
                f"init() of {shown} raised {type(error).__name__}: {error}",
                hint="Fix init() (see the traceback in the server log); the server keeps "
                "answering liveness probes meanwhile.",
            ) from error
        self._run = run
        logger.info("Entry script %s is ready (run takes %s)", path,
                    "the HTTP request" if self.raw_http
                    else "typed arguments" if self._decorated else "the raw body")

    def _analyze_run(self, run: Callable[..., Any], *, raw: bool = False) -> None:
        parameters = list(inspect.signature(run).parameters.values())
        if any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in parameters):
            raise ModelNotReadyError(
                "run() cannot take positional-only arguments, *args or **kwargs.",
                hint="Declare run(data) or run(data, request_headers).",
            )
        self._takes_headers = any(p.name == "request_headers" for p in parameters)
        parameters = [p for p in parameters if p.name != "request_headers"]
        if not parameters:
            raise ModelNotReadyError("run() takes no argument for the input data.",
                                     hint="Declare run(data).")
        self._params = [p.name for p in parameters]
        self._required = {p.name for p in parameters if p.default is inspect.Parameter.empty}
        self._input_param = parameters[0].name
        self._decorated = _is_schema_decorated(run)
        if raw:
            self._check_rawhttp_run(parameters)
        self.raw_http = raw

    def _check_rawhttp_run(self, parameters: list[inspect.Parameter]) -> None:
        if self._decorated:
            raise ModelNotReadyError(
                "run() is decorated with both @rawhttp and @input_schema.",
                hint="Keep one: @rawhttp passes the request object, @input_schema typed "
                "arguments from a JSON body.")
        extra = [p.name for p in parameters[1:] if p.default is inspect.Parameter.empty]
        if extra:
            raise ModelNotReadyError(
                f"run() is decorated with @rawhttp, so it gets one argument (the request), "
                f"but it also requires {', '.join(extra)}.",
                hint="Declare run(request) or run(request, request_headers), or give the "
                "other parameters defaults.")

    # -- per request ---------------------------------------------------------------------

    def decode(self, request: HttpRequest) -> dict[str, Any]:
        """``run``'s keyword arguments: the whole request for a ``@rawhttp`` script
        (nothing is parsed until the script asks), typed arguments for a decorated one,
        else the body as text."""
        kwargs: dict[str, Any]
        if self.raw_http:
            kwargs = {self._input_param: build_request(request.scope, request.body)}
        elif self._decorated:
            kwargs = self._typed_arguments(request.body, request.content_type)
        else:
            try:
                kwargs = {self._input_param: request.body.decode("utf-8")}
            except UnicodeDecodeError as error:
                raise InvalidInputError(f"The request body is not UTF-8 text: {error}.",
                                        hint="Send the body encoded as UTF-8.") from None
        if self._takes_headers:
            kwargs["request_headers"] = joined_headers(request.headers)
        return kwargs

    def _typed_arguments(self, body: bytes, content_type: str | None) -> dict[str, Any]:
        media = formats.media_type(content_type)
        if media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaTypeError(
                f"run() is decorated with @input_schema, so it expects application/json, "
                f"not {media or 'a body without Content-Type'}.",
                hint="Send the header Content-Type: application/json.",
            )
        document = formats.parse_json(body)
        if not isinstance(document, dict):
            raise InvalidInputError(
                "run() is decorated with @input_schema, so the body must be a JSON object "
                f"with the keys {', '.join(self._params)}.",
                hint="Send {" + ", ".join(f'"{p}": ...' for p in self._params) + "}.",
            )
        missing = [p for p in self._params if p in self._required and p not in document]
        if missing:
            raise InvalidInputError(
                f"The request has no {', '.join(map(repr, missing))}: run() needs "
                f"{', '.join(self._params)}.",
                hint="Add the missing key(s) to the JSON object.",
            )
        return {p: document[p] for p in self._params if p in document}

    def predict(self, decoded: dict[str, Any]) -> Any:
        assert self._run is not None
        return self._run(**decoded)

    def request_id(self, decoded: Any) -> str | None:
        return None

    def http_response(self, output: Any) -> HttpAnswer | None:
        # AMLResponse (or a Flask response): status, headers and body pass through.
        return response_parts(output) if is_http_response(output) else None

    # -- descriptions --------------------------------------------------------------------

    def openapi_parts(self) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
        if self._run is not None and self._decorated:
            from inference_schema.schema_util import get_input_schema, get_output_schema

            request = dict(get_input_schema(self._run) or {"type": "object"})
            response = dict(get_output_schema(self._run) or {"type": "object"})
            return request, request.get("example"), response
        return {"type": "object", "example": {}}, None, {"type": "object", "example": {}}


def _module_name() -> str:
    """``entry_module``, as Azure ML names the script; a second script loaded into the
    same process (tests) gets a new name, because inference-schema keys its registry of
    decorated functions by module and function name."""
    name, n = "entry_module", 1
    while name in sys.modules:
        n += 1
        name = f"entry_module_{n}"
    return name


def _reset_legacy_rawhttp_flags() -> None:
    """Azure's own ``@rawhttp`` sets a module-wide flag; clear it before importing a
    script so the flag says whether *this* script asked for raw mode."""
    for name in LEGACY_MODULES:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, LEGACY_FLAG):
            setattr(module, LEGACY_FLAG, False)


def _legacy_rawhttp_requested() -> bool:
    return any(getattr(sys.modules.get(name), LEGACY_FLAG, False) for name in LEGACY_MODULES)


def _is_schema_decorated(run: Callable[..., Any]) -> bool:
    try:
        from inference_schema.schema_util import is_schema_decorated
    except ImportError:
        return False
    try:
        return bool(is_schema_decorated(run))
    except Exception:  # an undecorated oddity is simply undecorated
        return False
