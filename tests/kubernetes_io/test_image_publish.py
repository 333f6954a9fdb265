"""Publishing an image for a cluster through the real Docker engine to a real registry
(Debian's docker-registry on 127.0.0.1): build, push with progress, and the pod's
reference pinned to the digest the registry serves."""

from __future__ import annotations

import uuid

import httpx
import pytest

from mlkube.environments.dockerfile import BuildContext
from mlkube.errors import TargetError
from mlkube.targets.kubernetes.images import publish_image
from tests.docker.test_registry_push import (
    MANIFEST_TYPES,
    registry,  # noqa: F401 - the fixture
)
from tests.kubernetes_io.kubeconfigs import closed_port


@pytest.fixture(scope="module")
def tiny_context() -> BuildContext:
    return BuildContext(
        dockerfile="FROM scratch\nCOPY model.txt /model.txt\n",
        files={"model.txt": f"published by the kubernetes tests {uuid.uuid4()}\n".encode()})


def test_published_image_is_served_by_the_registry_under_its_digest_reference(
        docker_engine, registry, tiny_context):  # noqa: F811
    lines: list[str] = []

    image = publish_image(docker_engine, tiny_context, registry=f"{registry}/team",
                          repository="iris-blue", progress=lines.append)

    repository, _, digest = image.digest_reference.partition("@")
    assert repository == f"{registry}/team/iris-blue"
    assert image.tag_reference == f"{registry}/team/iris-blue:{tiny_context.content_hash}"
    manifest = httpx.get(f"http://{registry}/v2/team/iris-blue/manifests/{digest}",
                         headers={"Accept": MANIFEST_TYPES}, timeout=10)
    assert manifest.status_code == 200
    assert any(line.startswith("pushing") for line in lines)
    assert lines[-1] == f"pushed {image.digest_reference}"


def test_publishing_the_same_content_again_reuses_the_build_and_keeps_the_digest(
        docker_engine, registry, tiny_context):  # noqa: F811
    first = publish_image(docker_engine, tiny_context, registry=registry,
                          repository="again", progress=lambda _line: None)
    second = publish_image(docker_engine, tiny_context, registry=registry,
                           repository="again", progress=lambda _line: None)

    assert second.reused
    assert second.digest_reference == first.digest_reference


def test_publishing_to_a_registry_that_is_down_says_the_registry_is_unreachable(
        docker_engine, tiny_context):
    address = f"127.0.0.1:{closed_port()}"
    with pytest.raises(TargetError) as caught:
        publish_image(docker_engine, tiny_context, registry=address, repository="down",
                      progress=lambda _line: None)
    assert "connection refused" in caught.value.message
    assert f"cannot reach {address}" in caught.value.hint
