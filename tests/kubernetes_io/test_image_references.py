"""Image names for a cluster: the registry check, tags from build content, digests read
from the Docker Engine's push stream (chunks as the engine sends them), and the pod's
reference pinned to the digest."""

from __future__ import annotations

import pytest

from mlkube.errors import TargetError, ValidationError
from mlkube.targets.kubernetes.images import (
    check_registry,
    deployment_repository,
    digest_reference,
    image_tag_reference,
    pushed_digest,
)

DIGEST = "sha256:" + "4e" * 32

#: The stream of POST /images/{name}/push, as docker-py decodes it.
PUSH_STREAM = [
    {"status": "The push refers to repository [registry.example.com:5000/team/iris-blue]"},
    {"status": "Preparing", "progressDetail": {}, "id": "5f70bf18a086"},
    {"status": "Preparing", "progressDetail": {}, "id": "e2eb06d8af82"},
    {"status": "Layer already exists", "progressDetail": {}, "id": "e2eb06d8af82"},
    {"status": "Pushing", "progressDetail": {"current": 512, "total": 2048},
     "progress": "[=====>     ]     512B/2.048kB", "id": "5f70bf18a086"},
    {"status": "Pushed", "progressDetail": {}, "id": "5f70bf18a086"},
    {"status": f"0123abcd: digest: {DIGEST} size: 1573"},
    {"progressDetail": {}, "aux": {"Tag": "0123abcd", "Digest": DIGEST, "Size": 1573}},
]


def test_digest_reference_keeps_registry_port_and_drops_the_tag():
    assert digest_reference("registry.example.com:5000/team/iris-blue:0123abcd", DIGEST) == (
        f"registry.example.com:5000/team/iris-blue@{DIGEST}")
    assert digest_reference("localhost:5000/iris", DIGEST) == f"localhost:5000/iris@{DIGEST}"


def test_push_stream_gives_the_digest_and_one_progress_line_per_finished_layer():
    lines: list[str] = []
    reference = "registry.example.com:5000/team/iris-blue:0123abcd"
    digest = pushed_digest(PUSH_STREAM, reference=reference, progress=lines.append)
    assert digest == DIGEST
    assert len(lines) == 2
    assert "e2eb06d8af82 layer already exists" in lines[0]
    assert "5f70bf18a086 pushed" in lines[1]


def test_push_without_aux_still_finds_the_digest_in_the_status_line():
    assert pushed_digest(PUSH_STREAM[:-1], reference="r/i:t") == DIGEST


def test_push_refused_by_the_registry_says_to_log_in():
    stream = [*PUSH_STREAM[:3], {"errorDetail": {"message": "unauthorized: authentication "
                                                            "required"},
                                 "error": "unauthorized: authentication required"}]
    with pytest.raises(TargetError) as caught:
        pushed_digest(stream, reference="myreg.azurecr.io/iris:1")
    assert "unauthorized" in caught.value.message
    assert "docker login myreg.azurecr.io" in caught.value.hint


def test_push_to_an_unreachable_registry_says_so():
    stream = [{"errorDetail": {"message": "Get \"https://registry.local:5000/v2/\": dial tcp: "
                                          "lookup registry.local: no such host"},
               "error": "Get ...: no such host"}]
    with pytest.raises(TargetError) as caught:
        pushed_digest(stream, reference="registry.local:5000/iris:1")
    assert "cannot reach registry.local:5000" in caught.value.hint


def test_push_stream_without_digest_is_an_error_not_a_tag_reference():
    with pytest.raises(TargetError):
        pushed_digest(PUSH_STREAM[:6], reference="r/i:t")


def test_tag_is_lowercase_under_the_registry():
    assert image_tag_reference("myreg.azurecr.io/mlkube/", deployment_repository("Iris", "Blue"),
                               "abc123") == "myreg.azurecr.io/mlkube/iris-blue:abc123"


@pytest.mark.parametrize("registry", [None, "", "https://myreg.azurecr.io", "MyReg.io/x"])
def test_missing_or_malformed_registry_is_refused_with_how_to_set_it(registry):
    with pytest.raises(ValidationError) as caught:
        check_registry(registry)
    assert "registry" in caught.value.hint.lower() or "host" in caught.value.hint


def test_registry_with_port_and_path_is_accepted():
    assert check_registry("localhost:5000/team") == "localhost:5000/team"
