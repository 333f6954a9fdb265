"""Bytecode for what importing an environment's requirements loads, and nothing else.

Run inside an image build by the environment's own Python (so: the standard library
only, no mlkube). Why: the server runs unprivileged and can never write ``.pyc`` files
into the environment, so whatever was not compiled at build time is compiled again, in
memory, on every container start (MLflow alone is ~8 s of CPU). Compiling the whole
environment (pip's default, or ``uv --compile-bytecode``) took 90–180 s for an MLflow
environment, almost all of it for modules no server ever imports. Importing each
requirement's top-level packages once, with bytecode writing on, compiles exactly the
modules an import loads, in seconds. A package that fails to import here (a GPU
library on a CPU builder, say) is skipped: the build must not fail over a cache.

Usage: ``python import_bytecode.py requirements.txt``
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_names(text: str) -> list[str]:
    """Distribution names of a requirements file (options, URLs and comments skipped)."""
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = _NAME.match(line)
        if match:
            names.append(match[1])
    return names


def top_level_modules(distribution: importlib.metadata.Distribution) -> list[str]:
    """The importable top-level names a distribution installs."""
    listed = distribution.read_text("top_level.txt")
    if listed:
        return sorted({n.strip() for n in listed.split() if n.strip()})
    names = set()
    for path in distribution.files or []:
        parts = path.parts
        if parts[0].endswith((".dist-info", ".data", ".egg-info")) or parts[0] == "..":
            continue
        if len(parts) > 1 and parts[1] == "__init__.py":
            names.add(parts[0])
        elif len(parts) == 1 and parts[0].endswith(".py"):
            names.add(parts[0][:-3])
    return sorted(names)


def main(requirements_file: str) -> None:
    sys.dont_write_bytecode = False
    with open(requirements_file, encoding="utf-8") as handle:
        names = requirement_names(handle.read())
    compiled, skipped = [], []
    for name in names:
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for module in top_level_modules(distribution):
            if module.startswith("_") or module in ("tests", "test"):
                continue
            try:
                importlib.import_module(module)
            except BaseException as error:  # noqa: BLE001 - any failure only skips a cache
                skipped.append(f"{module} ({type(error).__name__})")
            else:
                compiled.append(module)
    print(f"bytecode compiled for: {', '.join(compiled) or 'nothing'}")
    if skipped:
        print(f"not importable at build time (compiled when first imported): "
              f"{', '.join(skipped)}")


if __name__ == "__main__":
    main(sys.argv[1])
