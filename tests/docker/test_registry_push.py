"""Tagging and pushing through the engine to a real registry (Debian's docker-registry,
the CNCF distribution server) listening on 127.0.0.1: what the Kubernetes target does with
every deployment image before pods pull it by digest."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from mlkube.environments.dockerfile import BuildContext
from mlkube.errors import ResourceNotFoundError
from mlkube.targets.docker.engine import DockerEngine, split_reference

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:<port>`` of a registry process this module starts and stops."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed: apt-get install docker-registry "
                    "(.ci/run installs it).")
    root = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{_free_port()}"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: {address}\n"
    )
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                               stderr=(root / "registry.log").open("w"))
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://{address}/v2/", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"registry did not start: {(root / 'registry.log').read_text()}")
        time.sleep(0.1)
    yield address
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def tiny_image(docker_engine: DockerEngine) -> Iterator[str]:
    """A one-file image (FROM scratch: nothing to pull), removed with its registry tags."""
    context = BuildContext(
        dockerfile="FROM scratch\nCOPY hello.txt /hello.txt\n",
        files={"hello.txt": f"pushed by the mlkube tests {uuid.uuid4()}\n".encode()},
    )
    built = docker_engine.build_image(context, repository="mlkube-test/tiny")
    yield built.reference
    docker_engine.remove_image(built.image_id)


def test_pushed_image_is_in_the_registry_under_the_digest_the_push_reports(
    docker_engine, registry, tiny_image
):
    reference = f"{registry}/mlkube-test/tiny:{tiny_image.split(':')[-1]}"
    docker_engine.tag_image(tiny_image, reference)

    chunks = list(docker_engine.push_image(reference))

    assert not [c for c in chunks if "error" in c], chunks
    digest = next(c["aux"]["Digest"] for c in chunks if c.get("aux", {}).get("Digest"))
    repository, tag = split_reference(reference)
    manifest = httpx.get(
        f"http://{registry}/v2/{repository.split('/', 1)[1]}/manifests/{tag}",
        headers={"Accept": MANIFEST_TYPES}, timeout=10,
    )
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == digest


def test_push_to_a_registry_that_is_down_ends_with_an_error_chunk(docker_engine, tiny_image):
    reference = f"127.0.0.1:{_free_port()}/mlkube-test/tiny:down"
    docker_engine.tag_image(tiny_image, reference)

    chunks = list(docker_engine.push_image(reference))

    assert "connection refused" in chunks[-1].get("error", "")


def test_tagging_an_image_that_does_not_exist_names_it(docker_engine):
    with pytest.raises(ResourceNotFoundError, match="mlkube-test/absent:1"):
        docker_engine.tag_image("mlkube-test/absent:1", "127.0.0.1:5999/absent:1")


@pytest.mark.parametrize("reference, expected", [
    ("127.0.0.1:5000/team/model:abc", ("127.0.0.1:5000/team/model", "abc")),
    ("127.0.0.1:5000/team/model", ("127.0.0.1:5000/team/model", "latest")),
    ("model:1", ("model", "1")),
    ("reg.io/model@sha256:" + "0" * 64, ("reg.io/model", "latest")),
])
def test_split_reference_tells_a_registry_port_from_a_tag(reference, expected):
    assert split_reference(reference) == expected
