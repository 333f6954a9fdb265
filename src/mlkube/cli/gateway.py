"""`mlkube gateway ...`: the process every target starts in front of an endpoint.

`mlkube gateway run` serves one endpoint from a config file and a keys file (both
re-read on change, see ``mlkube.gateway.config`` and ``mlkube.gateway.auth``), with the
native engine when it is installed (``mlkube.gateway.engine``: it hands over to the
``mlkube-gateway`` binary, which takes the same flags), else with the Python one;
`mlkube gateway check` validates a config file as the gateway would, for targets and
for people editing one by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlkube.http_limits import (
    DEFAULT_HEAD_TIMEOUT_S,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEAD_BYTES,
    HttpLimits,
)

gateway_app = typer.Typer(
    help="Run an endpoint's gateway: auth, traffic split, mirroring, proxying.",
    no_args_is_help=True,
)


@gateway_app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", "-c",
                                         help="Gateway config file (JSON or YAML).")],
    keys: Annotated[Path, typer.Option("--keys", "-k", help="Keys file (JSON, mode 0600).")],
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8080,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on (0.0.0.0 inside a container).")] = "127.0.0.1",
    reload_interval: Annotated[float, typer.Option(
        "--reload-interval", help="Seconds between checks of both files.")] = 1.0,
    max_body_mb: Annotated[int, typer.Option(
        "--max-body-mb", help="Largest request body accepted, in MB.")] = 100,
    max_header_kb: Annotated[int, typer.Option(
        "--max-header-kb", help="Largest request line + headers accepted, in KB; a larger "
                                "head is answered 431.")] = DEFAULT_MAX_HEAD_BYTES // 1024,
    header_timeout: Annotated[float, typer.Option(
        "--header-timeout", help="Seconds a client has to send a request's line and "
                                 "headers (from connecting, or from the first byte of a "
                                 "later request); then 408 and the connection is closed.")
    ] = DEFAULT_HEAD_TIMEOUT_S,
    max_connections: Annotated[int, typer.Option(
        "--max-connections", help="Open client connections held at once; a connection "
                                  "past them is answered 503 and closed.")
    ] = DEFAULT_MAX_CONNECTIONS,
    keep_alive: Annotated[float, typer.Option(
        "--keep-alive", help="Seconds an idle kept-alive client connection stays open.")
    ] = 5.0,
    log_level: Annotated[str, typer.Option(
        "--log-level", help="debug, info (one access line per request), warning.")] = "info",
) -> None:
    """Serve one endpoint until stopped (SIGTERM/SIGINT drain in-flight requests)."""
    import logging
    import sys

    from mlkube.gateway.engine import chosen_binary, engine_choice, exec_native

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        from mlkube.errors import ValidationError

        raise ValidationError(f"--log-level {log_level!r} is not a log level",
                              hint="Use debug, info, warning or error.")
    binary = chosen_binary()
    # The native engine reads JSON only (what targets write); a hand-written YAML file is
    # served by the Python engine unless MLKUBE_GATEWAY_ENGINE=native insists.
    if binary is not None and (engine_choice() == "native" or _holds_json(config)):
        exec_native(binary, [
            "--config", str(config), "--keys", str(keys), "--port", str(port),
            "--host", host, "--reload-interval", str(reload_interval),
            "--max-body-mb", str(max_body_mb), "--max-header-kb", str(max_header_kb),
            "--header-timeout", str(header_timeout), "--max-connections", str(max_connections),
            "--keep-alive", str(keep_alive), "--log-level", log_level])

    import uvicorn

    from mlkube.gateway.app import create_app
    from mlkube.gateway.serving import uvicorn_options

    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    limits = HttpLimits(max_head_bytes=max_header_kb * 1024, head_timeout_s=header_timeout,
                        max_connections=max_connections)
    app = create_app(config_path=config, keys_path=keys, reload_interval_s=reload_interval,
                     max_body_bytes=max_body_mb * 1024 * 1024,
                     access_log_stream=sys.stderr if level <= logging.INFO else None)
    uvicorn.run(app, host=host, port=port, loop="uvloop" if _has_uvloop() else "asyncio",
                log_level=level, **uvicorn_options(limits, keep_alive_s=keep_alive))


@gateway_app.command("check")
def check(
    config: Annotated[Path, typer.Argument(help="Gateway config file to validate.")],
) -> None:
    """Validate a gateway config file; print its digest and routing summary."""
    from mlkube.gateway.config import load_gateway_config
    from mlkube.gateway.reload import WatchedFile

    loaded = WatchedFile(config, load_gateway_config, name="config").load()
    typer.echo(f"endpoint      {loaded.endpoint}")
    typer.echo(f"digest        {loaded.digest}")
    typer.echo(f"auth_mode     {loaded.auth_mode}")
    typer.echo(f"traffic       {dict(loaded.traffic)}")
    typer.echo(f"mirror        {dict(loaded.mirror_traffic)}")
    for name, route in loaded.deployments.items():
        typer.echo(f"deployment    {name}: {route.state}, {len(route.instances)} instance(s), "
                   f"capacity {route.capacity}")


def _holds_json(path: Path) -> bool:
    """Whether ``path`` holds a JSON document now (else it is YAML, or not there: the
    Python engine says what is wrong with it, as it always has)."""
    import json

    try:
        json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def register(app: typer.Typer) -> None:
    app.add_typer(gateway_app, name="gateway")
