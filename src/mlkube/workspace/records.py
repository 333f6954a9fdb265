"""A generic, versioned record store for the kinds MLflow has no table for.

Environments, computes and (later) endpoint records are kept as MLflow runs in a hidden
experiment ``mlkube/<kind>``, one run per version, tagged with the record's name and
version and holding its spec as JSON (a tag, or an artifact when it is too long for one).
So a shared PostgreSQL workspace shares them with no extra table, and plain MLflow can
inspect them. Versions auto-increment under the workspace lock, so two processes creating
versions of one name at once get distinct versions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mlkube.errors import ConflictError, ResourceNotFoundError, ValidationError
from mlkube.workspace.runs import RunRecord, quote

if TYPE_CHECKING:
    from mlkube.workspace.workspace import Workspace

EXPERIMENT_PREFIX = "mlkube/"
TAG_KIND = "mlkube.record.kind"
TAG_NAME = "mlkube.record.name"
TAG_VERSION = "mlkube.record.version"
TAG_SPEC = "mlkube.record.spec"
TAG_SPEC_ARTIFACT = "mlkube.record.spec_artifact"
SPEC_ARTIFACT = "record/spec.json"
# MLflow caps tag values at 8,000 characters; longer specs go to an artifact.
_MAX_TAG_SPEC = 7000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Record:
    """One version of a named record."""

    kind: str
    name: str
    version: str
    spec: dict[str, Any]
    created_at: datetime


def check_name(kind: str, name: str, *, what: str = "name") -> None:
    """Names are what Azure ML accepts: letters, digits, '-', '_', '.', starting alphanumeric."""
    pattern = _NAME if what == "name" else _VERSION
    if not isinstance(name, str) or not pattern.match(name):
        raise ValidationError(
            f"{kind} {what} {name!r} is not valid.",
            hint=f"Use letters, digits, '-', '_' and '.', starting with a letter or digit "
            f"(at most {255 if what == 'name' else 64} characters).",
        )


def _version_key(version: str) -> tuple[int, int, str]:
    """Integer versions in numeric order, after any named ones."""
    return (1, int(version), "") if version.isdigit() else (0, 0, version)


class RecordStore:
    """Versioned records of one kind (``workspace.records("environments")``)."""

    def __init__(self, workspace: Workspace, kind: str) -> None:
        check_name("record kind", kind)
        self._workspace = workspace
        self.kind = kind
        self._experiment: str | None = None
        #: The singular for messages: "environment", "compute".
        self.noun = kind[:-1] if kind.endswith("s") else kind

    @property
    def _runs(self) -> Any:
        return self._workspace.runs

    def _experiment_id(self) -> str:
        if self._experiment is None:
            self._experiment = self._runs.experiment_id(
                EXPERIMENT_PREFIX + self.kind,
                tags={"mlkube.hidden": "true", "mlflow.note.content":
                      f"mlkube keeps its {self.kind} records here; manage them with mlkube."},
            )
        return self._experiment

    # --- reading -------------------------------------------------------------------------

    def _search(self, name: str | None = None, version: str | None = None) -> list[RunRecord]:
        clauses = [f"tags.`{TAG_KIND}` = {quote(self.kind)}"]
        if name is not None:
            clauses.append(f"tags.`{TAG_NAME}` = {quote(name)}")
        if version is not None:
            clauses.append(f"tags.`{TAG_VERSION}` = {quote(version)}")
        return self._runs.search(" AND ".join(clauses), experiment_ids=[self._experiment_id()])

    def _record(self, run: RunRecord) -> Record:
        if run.tags.get(TAG_SPEC_ARTIFACT):
            import tempfile
            from pathlib import Path

            with tempfile.TemporaryDirectory() as tmp:
                path = self._runs.download(run.run_id, SPEC_ARTIFACT, Path(tmp))
                spec = json.loads(path.read_text())
        else:
            spec = json.loads(run.tags.get(TAG_SPEC, "{}"))
        return Record(
            kind=self.kind,
            name=run.tags[TAG_NAME],
            version=run.tags[TAG_VERSION],
            spec=spec,
            created_at=run.start_time or datetime.now(tz=timezone.utc),
        )

    def list(self, name: str | None = None) -> list[Record]:
        """Every version of ``name`` (or of every name), by name then version."""
        runs = self._search(name)
        runs.sort(key=lambda r: (r.tags.get(TAG_NAME, ""), _version_key(r.tags[TAG_VERSION])))
        return [self._record(run) for run in runs]

    def get(self, name: str, *, version: str | None = None, label: str | None = None) -> Record:
        """One version, or the newest with ``label="latest"`` (also when neither is given)."""
        if version is not None and label is not None:
            raise ValidationError(
                f"Both version {version!r} and label {label!r} were given for {self.noun} "
                f"{name!r}.",
                hint="Give either a version or a label, not both.",
            )
        if label not in (None, "latest"):
            raise ValidationError(
                f"Unknown label {label!r} for {self.noun} {name!r}.",
                hint="The only label is 'latest'; or give a version.",
            )
        listing = f"mlkube {self.noun} list"
        if version is not None:
            found = self._search(name, str(version))
            if not found:
                raise ResourceNotFoundError(
                    f"{self.noun} {name!r} has no version {version!r} in the workspace.",
                    hint=f"List the versions that exist with `{listing} --name {name}`.",
                )
            return self._record(found[0])
        runs = self._search(name)
        if not runs:
            raise ResourceNotFoundError(
                f"No {self.noun} named {name!r} in the workspace (looked for label "
                f"{label or 'latest'!r}).",
                hint=f"List what exists with `{listing}`, or create it first.",
            )
        newest = max(runs, key=lambda r: _version_key(r.tags[TAG_VERSION]))
        return self._record(newest)

    # --- writing -------------------------------------------------------------------------

    def create(self, name: str, spec: dict[str, Any], *, version: str | None = None) -> Record:
        """Store a new version of ``name``; the next integer version unless one is given.

        Giving an existing version with the same spec returns it unchanged; with a
        different spec it is a ``ConflictError`` (versions are immutable, as in Azure ML).
        """
        check_name(self.noun, name)
        if version is not None:
            version = str(version)
            check_name(self.noun, version, what="version")
        payload = json.dumps(spec, sort_keys=True, default=str)
        experiment_id = self._experiment_id()
        with self._workspace.lock(f"records/{self.kind}/{name}"):
            existing = self._search(name)
            if version is None:
                numbers = [int(r.tags[TAG_VERSION]) for r in existing
                           if r.tags[TAG_VERSION].isdigit()]
                version = str(max(numbers, default=0) + 1)
            else:
                same = [r for r in existing if r.tags[TAG_VERSION] == version]
                if same:
                    current = self._record(same[0])
                    if json.dumps(current.spec, sort_keys=True, default=str) == payload:
                        return current
                    raise ConflictError(
                        f"{self.noun} {name!r} version {version!r} already exists with a "
                        "different spec; versions cannot be changed.",
                        hint="Omit the version to create the next one, or choose a new version.",
                    )
            tags = {TAG_KIND: self.kind, TAG_NAME: name, TAG_VERSION: version}
            inline = len(payload) <= _MAX_TAG_SPEC
            if inline:
                tags[TAG_SPEC] = payload
            else:
                tags[TAG_SPEC_ARTIFACT] = SPEC_ARTIFACT
            run = self._runs.create(experiment_id=experiment_id, run_name=f"{name}:{version}",
                                    tags=tags)
            if not inline:
                self._runs.log_text(run.run_id, payload, SPEC_ARTIFACT)
            self._runs.set_status(run.run_id, "FINISHED", terminal=True)
        return Record(kind=self.kind, name=name, version=version, spec=json.loads(payload),
                      created_at=run.start_time or datetime.now(tz=timezone.utc))

    def delete(self, name: str, version: str) -> None:
        """Delete one version; a missing one is a ``ResourceNotFoundError``."""
        found = self._search(name, str(version))
        if not found:
            raise ResourceNotFoundError(
                f"{self.noun} {name!r} has no version {version!r} to delete.",
                hint=f"List the versions that exist with workspace.records({self.kind!r})"
                f".list({name!r}).",
            )
        for run in found:
            self._runs.delete(run.run_id)
