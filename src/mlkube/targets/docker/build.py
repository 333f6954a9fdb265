"""What goes into the images of an endpoint, for every target that builds one.

The docker target and the Kubernetes target build the same images through the same
Docker engine: a deployment's (its environment, mlkube's server wheel, model and code at
the layout its containers are started with) and the gateway's. The build contexts and
the CA bundle builds trust are decided here once, so the two targets cannot drift; the
Kubernetes side only adds pushing to a registry (``targets.kubernetes.images``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from mlkube.entities.container_layout import ContainerLayout
from mlkube.environments.dockerfile import VENV_DIR, BuildContext, render_build_context
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.gateway.engine import BINARY
from mlkube.targets.base import PreparedDeployment

#: Where a CA bundle for image builds is named (corporate proxies, this machine).
CA_BUNDLE_VARIABLE = "MLKUBE_CA_BUNDLE"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def build_ca_bundle(environ: Mapping[str, str] | None = None) -> Path | None:
    """The CA bundle image builds trust: ``MLKUBE_CA_BUNDLE`` when set, else the host's
    bundle when it exists (so pip inside the build trusts what this machine trusts).

    A configured bundle is returned even when the file is missing: the build then stops
    with an error naming it, rather than building without it and failing on TLS later."""
    configured = (environ if environ is not None else dict(os.environ)).get(CA_BUNDLE_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return HOST_CA_BUNDLE if HOST_CA_BUNDLE.is_file() else None


def deployment_build_context(prepared: PreparedDeployment, server_wheel: Path, *,
                             ca_bundle: Path | None = None) -> BuildContext:
    """The build context of a prepared deployment: the docker target's image exactly
    (variables are set by the pod, not baked, so one image serves every copy)."""
    model_path = (prepared.model_dir / prepared.model_folder
                  if prepared.model_dir is not None and prepared.model_folder else None)
    return render_build_context(
        prepared.environment, server_wheel, model_path=model_path,
        code_path=prepared.code_dir, layout=deployment_layout(prepared), ca_bundle=ca_bundle)


def deployment_layout(prepared: PreparedDeployment) -> ContainerLayout:
    """Where the image built from ``prepared`` holds model and code (for the pod's env):
    the layout the image is rendered with."""
    return prepared.container_layout()


def gateway_build_context(server_wheel: Path, *, python_version: str | None = None,
                          ca_bundle: Path | None = None,
                          native_gateway: Path | None = None) -> BuildContext:
    """The gateway's image: mlkube alone on the base image (its extra needs the same few
    packages as the server's), tagged by the content of everything in it.

    ``native_gateway`` (``gateway.engine.image_binary()``) is put beside the image's
    virtualenv Python, where ``mlkube gateway run`` finds it and hands over to it; its
    bytes are part of the context, so a changed binary is a new image tag and digest.
    Without it the image serves with the Python engine."""
    base = render_build_context(ResolvedEnvironment(python_version=python_version,
                                                    requirements=()),
                                server_wheel, ca_bundle=ca_bundle)
    if native_gateway is None:
        return base
    inside = VENV_DIR / "bin" / BINARY
    lines = ["", "# The native gateway engine, found by `mlkube gateway run` beside its Python.",
             f"COPY mlkube-build/{BINARY} {inside}"]
    return replace(base, dockerfile=base.dockerfile + "\n".join(lines) + "\n",
                   files={**base.files, f"mlkube-build/{BINARY}": native_gateway},
                   steps=(*base.steps, f"copy the native gateway engine to {inside}"))
