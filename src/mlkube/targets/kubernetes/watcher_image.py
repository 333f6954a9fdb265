"""The registry watcher's image: mlkube's control plane on the base image, so the watcher
can run in the cluster (``mlkube watch-registry --print-manifest --build``).

A rollout the watcher makes is an ordinary update: it fetches the model from the
workspace, builds the new version's image and applies it. So its image holds what a
user's machine has: mlkube with its control-plane requirements (``mlkube[all]``), each
pinned to the version this machine runs, so the pod behaves as the machine that built
it; mlkube's wheel, kept in the image and named by ``MLKUBE_SERVER_WHEEL``, since an
mlkube installed from a wheel has no source tree to build one from; and the CA bundle
image builds trust, named by ``MLKUBE_CA_BUNDLE``. With the same wheel, bundle and base
image as this machine, the pod's build contexts are the ones this machine renders, so
the Docker engine it builds with reuses the environment layers already there.

The image is the environment machinery's (``environments.dockerfile``) with a few lines
after it: the same layers as a server image up to mlkube's own, then the watcher's
settings and command.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

from packaging.requirements import Requirement

from mlkube.environments.dockerfile import BUILD_DIR, BuildContext, render_build_context
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.errors import EnvironmentBuildError
from mlkube.targets.base import Progress
from mlkube.targets.kubernetes.images import PublishedImage, publish_image

WATCHER_REPOSITORY = "mlkube-registry-watcher"
#: What the image runs unless the pod says otherwise (the manifest does).
WATCHER_COMMAND = ("mlkube", "watch-registry")
_EXTRA = "all"


def watcher_requirements() -> tuple[str, ...]:
    """``mlkube[all]``'s requirements for Linux, each pinned to the installed version."""
    pinned = []
    for line in requires("mlkube") or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or not marker.evaluate({"extra": _EXTRA, "sys_platform": "linux"}):
            continue
        if requirement.name == "mlkube":
            continue  # its own extras: installed from the wheel by the Dockerfile
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            raise EnvironmentBuildError(
                f"The registry watcher's image needs {requirement.name}, which this "
                "machine's mlkube does not have installed.",
                hint="Install mlkube with its control plane (pip install 'mlkube[all]') "
                     "and build the image again.") from None
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pinned.append(f"{requirement.name}{extras}=={installed}")
    return tuple(sorted(set(pinned)))


def watcher_build_context(server_wheel: Path, *, ca_bundle: Path | None) -> BuildContext:
    """The watcher's image: the control plane's environment, mlkube, and its settings."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = render_build_context(
        ResolvedEnvironment(python_version=python, requirements=watcher_requirements()),
        server_wheel, ca_bundle=ca_bundle)
    settings = {"MLKUBE_SERVER_WHEEL": str(BUILD_DIR / server_wheel.name)}
    if ca_bundle is not None:
        settings["MLKUBE_CA_BUNDLE"] = str(BUILD_DIR / "ca-bundle.pem")
    lines = [
        "",
        "# The registry watcher: builds from the same wheel and CA bundle as its builder.",
        "ENV " + " ".join(f"{key}={value}" for key, value in settings.items()),
        f"CMD {json.dumps(list(WATCHER_COMMAND))}",
    ]
    return replace(base, dockerfile=base.dockerfile + "\n".join(lines) + "\n",
                   steps=(*base.steps, "set the watcher's settings", "set the command"),
                   environment={**base.environment, **settings})


def publish_watcher_image(engine: object, *, registry: str, server_wheel: Path,
                          ca_bundle: Path | None, progress: Progress) -> PublishedImage:
    """Build the watcher's image (reusing an identical build) and push it to ``registry``."""
    return publish_image(engine, watcher_build_context(server_wheel, ca_bundle=ca_bundle),
                         registry=registry, repository=WATCHER_REPOSITORY, progress=progress)
