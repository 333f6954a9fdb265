"""Deployment and gateway images for a cluster: built here, pushed to the compute's
registry, and referenced by digest.

The image is the one the docker target runs (``targets.docker.build``'s build contexts,
built by the Docker engine), so what was debugged locally is byte for byte what the
cluster pulls. Pods name
it by digest (``registry/repo@sha256:...``), never by tag: a re-pushed tag cannot change
what a running deployment restarts with, and a changed deployment always rolls out.

Naming, digest reading and progress lines are pure functions; ``publish_image`` is the
one place that builds and pushes (through ``targets.docker.engine``), and
``publish_deployment_image`` / ``publish_gateway_image`` say which context goes to which
repository, for the target and ``mlkube k8s render --build`` alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlkube.environments.dockerfile import BuildContext
from mlkube.errors import TargetError, ValidationError
from mlkube.gateway.engine import image_binary
from mlkube.targets.base import PreparedDeployment, Progress
from mlkube.targets.docker.build import deployment_build_context, gateway_build_context

#: Repository (under the compute's registry) of the gateway image.
GATEWAY_REPOSITORY = "mlkube-gateway"

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_REGISTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


@dataclass(frozen=True)
class PublishedImage:
    """An image in the compute's registry."""

    #: ``registry/repo:tag`` as pushed.
    tag_reference: str
    #: ``registry/repo@sha256:...``: what pods run.
    digest_reference: str
    #: True when the image did not have to be built.
    reused: bool


def check_registry(registry: str | None) -> str:
    """``registry`` (``host[:port][/path]``) without a trailing slash, or an error saying
    how to set one."""
    if not registry:
        raise ValidationError(
            "The compute has no image registry, so the cluster cannot pull the deployment's "
            "image.",
            hint="Attach the compute with --registry HOST[:PORT]/PATH (a registry this "
                 "machine can push to and the cluster's nodes can pull from).")
    cleaned = registry.strip().rstrip("/")
    if "://" in cleaned or not _REGISTRY.match(cleaned):
        raise ValidationError(
            f"The registry {registry!r} is not an image registry name.",
            hint="Write it as docker does: host[:port]/path in lowercase, without "
                 "https:// (e.g. myregistry.azurecr.io/mlkube).")
    return cleaned


def image_tag_reference(registry: str, repository: str, tag: str) -> str:
    """``<registry>/<repository>:<tag>``, lowercase as registries require."""
    return f"{check_registry(registry)}/{repository.lower()}:{tag}"


def deployment_repository(endpoint: str, deployment: str) -> str:
    """The repository of one deployment's images (the same as ``mlkube k8s render``'s
    default image name)."""
    return f"{endpoint}-{deployment}".lower()


def digest_reference(reference: str, digest: str) -> str:
    """``reference`` (``host:port/repo:tag``) pinned to ``digest``: ``host:port/repo@digest``."""
    if not _DIGEST.fullmatch(digest):
        raise TargetError(f"The registry answered with {digest!r}, which is not an image "
                          "digest.", hint="Push again; check the registry's health.")
    name = reference.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    last = last.split(":", 1)[0]  # a tag sits after the last slash; a port never does
    return f"{head}{slash}{last}@{digest}"


def pushed_digest(chunks: Iterable[Mapping[str, Any]], *, reference: str,
                  progress: Progress | None = None) -> str:
    """Read a push's stream to its end: report progress, raise on an error chunk, and
    return the digest the registry stored the image under."""
    digest = None
    layers: dict[str, str] = {}
    for chunk in chunks:
        if "errorDetail" in chunk or "error" in chunk:
            message = str(chunk.get("error") or chunk["errorDetail"].get("message", ""))
            raise push_error(reference, message)
        aux = chunk.get("aux") or {}
        if aux.get("Digest"):
            digest = aux["Digest"]
        status = str(chunk.get("status") or "")
        if not digest:
            found = _DIGEST.search(status) if "digest:" in status else None
            digest = found.group(0) if found else None
        layer = chunk.get("id")
        if layer and status in ("Pushed", "Layer already exists", "Mounted from"):
            if layers.get(layer) != status and progress is not None:
                done = sum(1 for s in {**layers, layer: status}.values())
                progress(f"pushing {reference}: layer {layer} {status.lower()} ({done} done)")
            layers[layer] = status
    if not digest:
        raise TargetError(f"The push of {reference} ended without a digest from the registry.",
                          hint="Push again; if it persists, check the registry's log.")
    return digest


def push_error(reference: str, message: str) -> TargetError:
    """The error for a failed push, with the fix for the usual causes."""
    lowered = message.lower()
    registry = reference.split("/", 1)[0]
    if any(w in lowered for w in ("unauthorized", "denied", "authentication required",
                                  "403", "401")):
        hint = (f"Log this machine's Docker in to the registry (`docker login {registry}`, "
                "or your cloud's `acr login` / `ecr get-login-password`), then deploy again.")
    elif any(w in lowered for w in ("no such host", "connection refused", "timeout",
                                    "dial tcp", "server gave http response")):
        hint = (f"This machine cannot reach {registry}: check the name, the network, and "
                "for a plain-HTTP registry add it to the engine's insecure-registries.")
    else:
        hint = "Check the registry's name and health, then deploy again."
    return TargetError(f"Pushing image {reference} failed: {message.strip()}", hint=hint)


def publish_image(engine: Any, context: BuildContext, *, registry: str, repository: str,
                  progress: Progress, build_output: Callable[[str], None] | None = None,
                  ) -> PublishedImage:
    """Build ``context`` (reusing an identical earlier build), push it under
    ``registry/repository:<content hash>``, and return its digest reference."""
    reference = image_tag_reference(registry, repository, context.content_hash)
    progress(f"building image {repository}:{context.content_hash}")
    built = engine.build_image(context, repository=f"mlkube/{repository}",
                               on_output=build_output)
    engine.tag_image(built.reference, reference)
    progress(f"pushing {reference}")
    digest = pushed_digest(engine.push_image(reference), reference=reference, progress=progress)
    pinned = digest_reference(reference, digest)
    progress(f"pushed {pinned}")
    return PublishedImage(tag_reference=reference, digest_reference=pinned,
                          reused=built.reused)


def publish_deployment_image(engine: Any, prepared: PreparedDeployment, *, endpoint: str,
                             deployment: str, registry: str, server_wheel: Path,
                             ca_bundle: Path | None, progress: Progress) -> PublishedImage:
    """The deployment's image (the docker target's, byte for byte) in its repository."""
    return publish_image(
        engine, deployment_build_context(prepared, server_wheel, ca_bundle=ca_bundle),
        registry=registry, repository=deployment_repository(endpoint, deployment),
        progress=progress)


def publish_gateway_image(engine: Any, *, registry: str, server_wheel: Path,
                          ca_bundle: Path | None, progress: Progress) -> PublishedImage:
    """The gateway's image (mlkube alone on the base image, and this machine's native
    engine when it has one: ``gateway.engine.image_binary()``) in its repository."""
    binary = image_binary()
    progress(f"gateway image: native engine from {binary}" if binary is not None else
             "gateway image: Python engine (MLKUBE_GATEWAY_ENGINE=python, or no statically "
             "linked mlkube-gateway on this machine: `make install` builds one)")
    return publish_image(engine, gateway_build_context(server_wheel, ca_bundle=ca_bundle,
                                                       native_gateway=binary),
                         registry=registry, repository=GATEWAY_REPOSITORY, progress=progress)
