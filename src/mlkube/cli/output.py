"""How commands print results: a readable table/summary, or JSON with --output json."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import typer


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


OUTPUT_OPTION = typer.Option(
    OutputFormat.table, "--output", "-o", help="Output format: table, json or yaml."
)


def emit(data: Any, output: OutputFormat, *, columns: Iterable[str] | None = None) -> None:
    """Print ``data`` (a mapping, or a list of mappings) in the requested format."""
    if output is OutputFormat.json:
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())
        return
    if output is OutputFormat.yaml:
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
        return
    if isinstance(data, Mapping):
        width = max((len(str(k)) for k in data), default=0)
        for key, value in data.items():
            typer.echo(f"{str(key).ljust(width)}  {value}")
        return
    rows = [dict(r) for r in data]
    cols = list(columns) if columns else (list(rows[0]) if rows else [])
    if not cols:
        typer.echo("(none)")
        return
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in cols}
    typer.echo("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip())
    for row in rows:
        typer.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in cols).rstrip())
