"""Every rendered object is valid for the Kubernetes API, old and new.

Checked offline against the official OpenAPI schemas bundled with kubernetes-validate,
in strict mode (unknown fields are errors), for Kubernetes 1.28 and for the newest
version the installed package knows.
"""

from __future__ import annotations

import pytest
from kubernetes_validate import utils as kv

from tests.kubernetes.scenarios import SCENARIOS

VERSIONS = ("1.28.0", kv.latest_version())


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_rendered_object_passes_strict_schema_validation(name: str, version: str) -> None:
    failures = []
    for manifest in SCENARIOS[name].render():
        try:
            kv.validate(manifest, version, strict=True)
        except kv.ValidationError as error:
            failures.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {error}")
    assert not failures, "\n".join(failures)


def test_strict_validation_would_catch_a_misspelled_field() -> None:
    # The check above means something only if the validator rejects what the API rejects.
    manifest = SCENARIOS["mlflow-no-code"].render()[-1]
    manifest["spec"]["replica"] = 2
    with pytest.raises(kv.ValidationError):
        kv.validate(manifest, VERSIONS[0], strict=True)
