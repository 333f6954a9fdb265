"""Pip requirement lines: read them from files, merge them into one stable set.

Environments collect requirements from several places (a conda file's ``pip:`` list,
converted conda packages, requirements.txt files that include others with ``-r``, a list
in the spec, mlkube's own server). This module turns them into one de-duplicated,
sorted tuple of lines, so the same needs always give the same set (and so the same
virtualenv cache key and image tag), whatever order they were written in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlkube.errors import EnvironmentResolutionError

#: Packages mlkube's inference server replaces: installing them would bring a second
#: server (and a second ``azmlinfsrv`` command) into the environment.
REPLACED_BY_MLKUBE = {
    "azureml-inference-server-http": "mlkube's inference server replaces it",
    "azureml-defaults": "it only bundles Azure ML's inference server, which mlkube's replaces",
    "mlkube": "mlkube adds its own server build",
}

# Options whose value is a path, made absolute so the merged set works from any folder.
_PATH_OPTIONS = ("-c", "--constraint", "-e", "--editable", "-f", "--find-links")
_INCLUDE_OPTIONS = ("-r", "--requirement")
_LOCAL_PATH = re.compile(r"^(\.{1,2}/|/|~)")
# pip-compile's per-line "--hash=sha256:..." pins.
_HASH_OPTION = re.compile(r"\s+--hash[=\s]\S+")


@dataclass(frozen=True)
class RequirementEntry:
    """One requirement line and where it came from (for messages and ``sources``)."""

    line: str
    origin: str


@dataclass(frozen=True)
class RequirementSet:
    """The merged result: option lines first (index URLs, constraints), then packages."""

    options: tuple[str, ...]
    requirements: tuple[str, ...]
    #: "<name>: <origin>" per requirement, then notes about dropped packages.
    sources: tuple[str, ...] = field(default=())

    @property
    def lines(self) -> tuple[str, ...]:
        return self.options + self.requirements


def read_requirements_file(
    path: str | os.PathLike[str], *, origin: str | None = None, _seen: frozenset[Path] = frozenset()
) -> list[RequirementEntry]:
    """The requirement lines of a requirements.txt, ``-r`` includes expanded (relative to
    the including file) and local paths made absolute."""
    file = Path(path).expanduser().resolve()
    label = origin or file.name
    if file in _seen:
        raise EnvironmentResolutionError(
            f"{file} includes itself through -r lines.",
            hint="Remove the circular -r include from the requirements files.",
        )
    if not file.is_file():
        raise EnvironmentResolutionError(
            f"Requirements file {file} does not exist ({label}).",
            hint="Fix the path; -r paths are relative to the file that names them.",
        )
    return expand_requirement_lines(
        _logical_lines(file.read_text()), base_dir=file.parent, origin=label,
        _seen=_seen | {file},
    )


def expand_requirement_lines(
    lines: Iterable[str], *, base_dir: str | os.PathLike[str], origin: str,
    _seen: frozenset[Path] = frozenset(),
) -> list[RequirementEntry]:
    """Requirement lines as written in a spec list or a conda ``pip:`` section: comments
    and blanks dropped, ``-r file`` expanded relative to ``base_dir``."""
    entries: list[RequirementEntry] = []
    for raw in lines:
        line = _strip_comment(str(raw))
        if not line:
            continue
        option, value = _split_option(line)
        if option in _INCLUDE_OPTIONS:
            included = _absolute(value, base_dir)
            entries.extend(read_requirements_file(
                included, origin=f"{Path(included).name} (via {origin})", _seen=_seen
            ))
        elif option in _PATH_OPTIONS and value and "://" not in value:
            entries.append(RequirementEntry(f"{option} {_absolute(value, base_dir)}", origin))
        elif option is None and _LOCAL_PATH.match(line):
            entries.append(RequirementEntry(_absolute(line, base_dir), origin))
        else:
            entries.append(RequirementEntry(line, origin))
    return entries


def merge_requirements(
    entries: Sequence[RequirementEntry], *, server_requirement: str | None
) -> RequirementSet:
    """One stable, de-duplicated set: same package twice is merged (extras united,
    version specifiers intersected), packages mlkube replaces are dropped (and noted),
    and ``server_requirement`` is added."""
    options: list[str] = []
    merged: dict[tuple[str, str], _Merged] = {}
    notes: list[str] = []
    unparsed: list[RequirementEntry] = []
    for entry in entries:
        if entry.line.startswith("-") or _LOCAL_PATH.match(entry.line):
            if entry.line not in options:
                options.append(entry.line)
            continue
        line, hashed = _HASH_OPTION.subn("", entry.line)
        if hashed:
            notes.append(f"dropped the --hash pins of {line.strip()} ({entry.origin}): hash "
                         "checking would also demand them for mlkube's server wheel")
        try:
            requirement = Requirement(line.strip())
        except InvalidRequirement:
            unparsed.append(entry)
            continue
        name = canonicalize_name(requirement.name)
        if name in REPLACED_BY_MLKUBE:
            notes.append(f"dropped {entry.line} ({entry.origin}): {REPLACED_BY_MLKUBE[name]}")
            continue
        key = (name, str(requirement.marker or ""))
        merged.setdefault(key, _Merged(name=requirement.name)).add(requirement, entry.origin)
    if unparsed:
        listed = "; ".join(f"{e.line!r} ({e.origin})" for e in unparsed)
        raise EnvironmentResolutionError(
            f"Not valid pip requirement lines: {listed}.",
            hint="Write each as a pip requirement (name, name==1.2, name>=1,<2, "
            "name @ https://...).",
        )
    if server_requirement:
        server = Requirement(server_requirement)
        key = (canonicalize_name(server.name), str(server.marker or ""))
        merged.setdefault(key, _Merged(name=server.name)).add(server, "added by mlkube")
    ordered = sorted(merged.items(), key=lambda item: item[0])
    requirements = tuple(m.render() for _, m in ordered)
    sources = tuple(f"{m.name}: {', '.join(m.origins)}" for _, m in ordered) + tuple(notes)
    return RequirementSet(tuple(options), requirements, sources)


@dataclass
class _Merged:
    """Every mention of one package (under one marker), merged into one line."""

    name: str
    extras: set[str] = field(default_factory=set)
    specifiers: list[tuple[str, str]] = field(default_factory=list)  # (spec, origin)
    url: str | None = None
    marker: Marker | None = None
    origins: list[str] = field(default_factory=list)

    def add(self, requirement: Requirement, origin: str) -> None:
        self.extras |= requirement.extras
        self.marker = requirement.marker
        if origin not in self.origins:
            self.origins.append(origin)
        if requirement.url:
            if self.url and self.url != requirement.url:
                raise _conflict(self.name, [self.url, requirement.url], self.origins)
            self.url = requirement.url
        for spec in requirement.specifier:
            self.specifiers.append((str(spec), origin))
        self._check_pins()

    def _check_pins(self) -> None:
        """Two exact pins that differ, or a pin outside another range, can never install:
        say so now, with both origins, rather than as a resolver error later."""
        specs = SpecifierSet(",".join(s for s, _ in self.specifiers))
        pins = [s for s in specs if s.operator in ("==", "===") and "*" not in s.version]
        for pin in pins:
            try:
                version = Version(pin.version)
            except InvalidVersion:
                continue
            if not specs.contains(version, prereleases=True):
                raise _conflict(
                    self.name, [s for s, _ in self.specifiers],
                    [o for _, o in self.specifiers],
                )

    def render(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        marker = f"; {self.marker}" if self.marker else ""
        if self.url:
            return f"{self.name}{extras} @ {self.url}{marker}"
        unique = sorted({s for s, _ in self.specifiers})
        return f"{self.name}{extras}{','.join(unique)}{marker}"


def _conflict(name: str, specs: list[str], origins: list[str]) -> EnvironmentResolutionError:
    return EnvironmentResolutionError(
        f"Conflicting requirements for {name}: {', '.join(specs)} "
        f"(from {', '.join(dict.fromkeys(origins))}).",
        hint=f"Keep one version of {name} in the environment's files.",
    )


def _logical_lines(text: str) -> list[str]:
    """Lines with pip's backslash continuations joined."""
    return re.sub(r"\\\r?\n", "", text).splitlines()


def _strip_comment(line: str) -> str:
    # pip treats " #" (or a line starting with #) as a comment; "#" inside a URL is kept.
    if line.lstrip().startswith("#"):
        return ""
    return re.split(r"\s+#", line, maxsplit=1)[0].strip()


def _split_option(line: str) -> tuple[str | None, str]:
    if not line.startswith("-"):
        return None, line
    if line.startswith("--") and "=" in line.split()[0]:
        option, value = line.split("=", 1)
        return option, value.strip()
    parts = line.split(None, 1)
    if len(parts) == 1 and len(parts[0]) > 2 and not parts[0].startswith("--"):
        return parts[0][:2], parts[0][2:]  # "-rfile.txt"
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def _absolute(value: str, base_dir: str | os.PathLike[str]) -> str:
    expanded = os.path.expanduser(value)
    return str(Path(base_dir, expanded).resolve()) if not os.path.isabs(expanded) else expanded
