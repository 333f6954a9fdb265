"""Azure ML's curated environments, as mlkube environments with the same framework.

A script ported from Azure ML names environments such as
``AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu@latest`` or
``AzureML-sklearn-1.0-ubuntu20.04-py38-cpu-inference:3``. Their images are Microsoft's
and their Python is often one this machine has not (3.7, 3.8), so each resolves to the
same framework's PyPI packages on the nearest Python this machine (or mlkube's base
image) has, and says what was substituted. The framework is not pinned to the curated
version: the pins Azure used predate this Python and would not install on it. A name
that looks curated but is not in the table is an error listing the families that are.

Pure: nothing here reads files or starts processes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlkube.errors import EnvironmentResolutionError

#: The packages each curated family brings (mlkube's server is added as for any
#: environment; the ``-inference`` variants add nothing else).
FRAMEWORK_PACKAGES: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn", "pandas", "numpy", "scipy", "joblib", "mlflow"),
    "lightgbm": ("lightgbm", "scikit-learn", "pandas", "numpy", "mlflow"),
    "pytorch": ("torch", "torchvision", "numpy", "pandas", "mlflow"),
    "tensorflow": ("tensorflow", "numpy", "pandas", "mlflow"),
    "minimal": (),
}

_CURATED = re.compile(
    r"^AzureML-(?P<framework>[a-z]+)(?:-(?P<framework_version>\d+(?:\.\d+)*))?"
    r"-(?P<os>ubuntu\d+\.\d+)(?:-py(?P<python>\d)(?P<minor>\d+))?"
    r"-(?P<device>cpu|gpu|cuda[\d.]*-gpu)(?P<inference>-inference)?$",
    re.IGNORECASE,
)
_KNOWN = ", ".join(f"AzureML-{family}-<version>-ubuntu<NN.NN>-py<NN>-cpu[-inference]"
                   if family != "minimal" else "AzureML-minimal-ubuntu<NN.NN>-py<NN>-cpu"
                   "[-inference]" for family in FRAMEWORK_PACKAGES)


@dataclass(frozen=True)
class CuratedEnvironment:
    """What an Azure ML curated environment becomes here."""

    name: str
    framework: str
    #: The framework version in the curated name ("3.2"), None if it names none.
    framework_version: str | None
    #: The Python the curated environment had ("3.7"), None if the name does not say.
    azure_python: str | None
    #: The Python mlkube uses instead.
    python_version: str
    packages: tuple[str, ...]
    inference: bool
    gpu: bool

    @property
    def note(self) -> str:
        """One line saying what was substituted, for logs and progress."""
        azure = ", ".join(part for part in (
            f"Python {self.azure_python}" if self.azure_python else "",
            f"{self.framework} {self.framework_version}" if self.framework_version else "",
        ) if part)
        packages = ", ".join(self.packages) or "no framework packages"
        gpu = "; CUDA is not provided: PyPI's default builds are used" if self.gpu else ""
        return (f"{self.name} is Azure ML's curated environment"
                f"{f' ({azure})' if azure else ''}; mlkube uses Python {self.python_version} "
                f"with {packages} (newest versions for this Python){gpu}")


def is_curated_name(name: str) -> bool:
    """True when ``name`` is spelled like an Azure ML curated environment (``AzureML-``)."""
    return name.lower().startswith("azureml-")


def curated_environment(name: str, *, python_version: str) -> CuratedEnvironment:
    """The mlkube stand-in of curated environment ``name`` (without ``@latest`` or
    ``:version``), on ``python_version``; an unknown name is an error listing the known."""
    bare = re.split(r"[@:]", name.removeprefix("azureml:"), maxsplit=1)[0]
    match = _CURATED.match(bare)
    framework = match["framework"].lower() if match else None
    if match is None or framework not in FRAMEWORK_PACKAGES:
        raise EnvironmentResolutionError(
            f"{bare!r} is not an Azure ML curated environment mlkube knows.",
            hint=f"Known curated environments: {_KNOWN}; or register your own with "
            "`mlkube environment create` (image + conda_file or pip requirements).")
    azure_python = f"{match['python']}.{match['minor']}" if match["python"] else None
    return CuratedEnvironment(
        name=bare, framework=framework, framework_version=match["framework_version"],
        azure_python=azure_python, python_version=python_version,
        packages=FRAMEWORK_PACKAGES[framework], inference=bool(match["inference"]),
        gpu="gpu" in match["device"].lower())
