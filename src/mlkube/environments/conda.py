"""Conda environment files, reduced to what a virtualenv can install.

mlkube does not run conda: a conda file is read for its Python version, its ``pip:``
list, and those conda packages that PyPI publishes under the same (or a known) name,
whose conda version specs are rewritten as pip ones (``numpy=1.26`` → ``numpy==1.26.*``).
Packages that exist only on conda (CUDA toolkits, MKL, compilers and system libraries)
cannot be installed this way; they are named in one error, with the fix, instead of
failing half-way through a build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from mlkube.errors import EnvironmentResolutionError

#: Conda package names whose PyPI name differs.
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "matplotlib-base": "matplotlib",
    "msgpack-python": "msgpack",
    "pytables": "tables",
    "python-tzdata": "tzdata",
    "tensorflow-base": "tensorflow",
    "pillow-simd": "pillow",
    "py-lightgbm": "lightgbm",
}

#: Well-known packages published on PyPI under their conda name; the only ones accepted
#: behind a channel prefix (``conda-forge::numpy``), where the channel may mean a build
#: that PyPI does not have.
KNOWN_ON_PYPI = frozenset({
    "numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "xgboost", "catboost", "mlflow",
    "mlflow-skinny", "matplotlib", "seaborn", "plotly", "joblib", "cloudpickle", "statsmodels",
    "pyarrow", "requests", "pyyaml", "six", "tqdm", "click", "flask", "fastapi", "uvicorn",
    "pydantic", "setuptools", "wheel", "psutil", "packaging", "protobuf", "sqlalchemy", "boto3",
    "pillow", "torch", "torchvision", "torchaudio", "tensorflow", "keras", "transformers",
    "tokenizers", "datasets", "nltk", "spacy", "gensim", "networkx", "numba", "h5py", "tables",
    "shap", "dask", "distributed", "xarray", "sympy", "opencv-python", "onnx", "onnxruntime",
    "inference-schema", "azureml-inference-server-http", "azureml-defaults", "azureml-core",
    "azureml-mlflow", "msgpack", "tzdata", "python-dateutil", "pytz", "certifi", "cython",
    "imbalanced-learn", "optuna", "hyperopt", "category-encoders", "sentencepiece",
})

#: Packages that exist only as conda packages (native libraries, toolkits, compilers).
CONDA_ONLY = frozenset({
    "cudatoolkit", "cudnn", "cuda", "cuda-toolkit", "cuda-nvcc", "cuda-runtime", "nccl",
    "magma", "mkl", "mkl-include", "mkl-service", "mkl_fft", "mkl_random", "intel-openmp",
    "blas", "openblas", "openmp", "llvm-openmp", "tbb", "gcc", "gxx", "gfortran", "compilers",
    "cxx-compiler", "c-compiler", "make", "cmake-binary", "openssl", "ca-certificates", "zlib",
    "xz", "bzip2", "readline", "ncurses", "tk", "sqlite", "icu", "krb5", "git", "curl",
    "nodejs", "ld_impl_linux-64", "r-base", "cupy-cuda", "pytorch-cuda", "faiss-gpu",
})
_CONDA_ONLY_PATTERNS = (
    re.compile(r"^_"),  # _libgcc_mutex, _openmp_mutex
    re.compile(r"^lib(?!rosa$|cst$)"),  # libgcc-ng, libstdcxx-ng, libblas, libffi, ...
    re.compile(r"^cuda-"),
    re.compile(r"^r-"),  # R packages
    re.compile(r"-ng$"),
)
#: Conda packages that are the tooling itself: ignored.
IGNORED = frozenset({"pip"})

_MATCH_SPEC = re.compile(
    r"^(?:(?P<channel>[^:\s]+)::)?(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<version>[^\[]*?)\s*$"
)


@dataclass(frozen=True)
class CondaPackages:
    """What a conda file says, in pip's terms."""

    #: The python spec's version ("3.11"), None when the file does not pin one.
    python_version: str | None
    #: The ``pip:`` list, as written (``-r`` lines still to expand).
    pip_lines: tuple[str, ...]
    #: Conda packages rewritten as pip requirements, with the conda spec they came from.
    converted: tuple[tuple[str, str], ...]


def read_conda_spec(spec: Any, *, source: str, current_python: str) -> CondaPackages:
    """Translate a parsed conda environment file; raise one error naming every conda-only
    dependency. ``current_python`` ("3.11") picks the version for a range like
    ``python>=3.9``."""
    packages, conda_only = _translate(spec, source=source, current_python=current_python)
    if conda_only:
        raise EnvironmentResolutionError(
            f"{source} needs conda-only packages that a virtualenv cannot install: "
            f"{', '.join(conda_only)}.",
            hint="Move the Python packages among them to the 'pip:' list (with their PyPI "
            "names), and provide native libraries through the environment's image (e.g. a "
            "CUDA base image) instead of conda.",
        )
    return packages


def conda_only_packages(spec: Any, *, source: str, current_python: str) -> list[str]:
    """The dependencies of a conda file that have no pip equivalent, as written."""
    return _translate(spec, source=source, current_python=current_python)[1]


def _translate(
    spec: Any, *, source: str, current_python: str
) -> tuple[CondaPackages, list[str]]:
    if not isinstance(spec, dict):
        raise EnvironmentResolutionError(
            f"{source} must be a mapping with a 'dependencies' list, not {type(spec).__name__}.",
            hint="Write it as a conda environment file: dependencies: [python=3.11, pip, "
            "{pip: [...]}].",
        )
    dependencies = spec.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise EnvironmentResolutionError(
            f"'dependencies' in {source} must be a list.",
            hint="Write dependencies as a YAML list: '- python=3.11', '- pip: [...]'.",
        )
    python_version: str | None = None
    pip_lines: list[str] = []
    converted: list[tuple[str, str]] = []
    conda_only: list[str] = []
    for item in dependencies:
        if isinstance(item, dict):
            pip = item.get("pip")
            if set(item) != {"pip"} or not isinstance(pip, list):
                raise EnvironmentResolutionError(
                    f"{source}: a mapping in 'dependencies' must be 'pip:' with a list, "
                    f"got {item!r}.",
                    hint="Write pip packages as '- pip:' followed by an indented list.",
                )
            pip_lines.extend(str(line) for line in pip)
            continue
        text = str(item).strip()
        match = _MATCH_SPEC.match(text)
        if not match:
            conda_only.append(text)
            continue
        name = match["name"].lower()
        version = match["version"]
        if name == "python":
            python_version = _python_version(version, source=source, current=current_python)
        elif name in IGNORED:
            continue
        else:
            pypi_name = _pypi_name(name, channel=match["channel"])
            requirement = None if pypi_name is None else _pip_requirement(pypi_name, version)
            if requirement is None:
                conda_only.append(text)
            else:
                converted.append((requirement, text))
    return CondaPackages(python_version, tuple(pip_lines), tuple(converted)), conda_only


def conda_to_pip_specifier(version: str) -> str | None:
    """A conda version expression as a PEP 440 specifier ("" for any version); None when
    it has no pip equivalent (alternatives with ``|``)."""
    version = version.strip()
    if not version:
        return ""
    # A build string after the version (numpy=1.26.4=py311h...) is conda-only detail.
    if version.startswith("=") and not version.startswith("=="):
        version = version[1:].split("=", 1)[0]
        return f"=={_wildcard(version)}" if version else ""
    if " " in version and not re.search(r"[<>=!~]", version):
        version = version.split()[0]  # "1.26.4 py311h..." (version, build)
    if "|" in version:
        return None
    parts = []
    for part in (p.strip() for p in version.split(",")):
        if not part:
            continue
        found = re.match(r"^(==|!=|>=|<=|~=|>|<)", part)
        if found:
            operator = found.group(1)
            rest = part[len(operator):].strip()
            if operator in ("==", "!=") and rest.endswith("*"):
                rest = _wildcard(rest)
            parts.append(f"{operator}{rest}")
        elif part.endswith("*"):
            parts.append(f"=={_wildcard(part)}")
        else:
            parts.append(f"=={part}")
    specifier = ",".join(parts)
    try:
        SpecifierSet(specifier)
    except InvalidSpecifier:
        return None
    return specifier


def _wildcard(version: str) -> str:
    """"1.26" / "1.26*" / "1.26.*" → "1.26.*"."""
    return version.rstrip("*").rstrip(".") + ".*"


def _pypi_name(name: str, *, channel: str | None) -> str | None:
    if name in CONDA_TO_PYPI:
        return CONDA_TO_PYPI[name]
    if name in CONDA_ONLY or any(p.search(name) for p in _CONDA_ONLY_PATTERNS):
        return None
    if channel and name not in KNOWN_ON_PYPI:
        return None
    return name


def _pip_requirement(name: str, version: str) -> str | None:
    specifier = conda_to_pip_specifier(version)
    return None if specifier is None else f"{name}{specifier}"


def _python_version(version: str, *, source: str, current: str) -> str | None:
    """"=3.11", "3.11.7", "3.11.*", "==3.11" → "3.11"; a range → ``current`` if inside."""
    specifier = conda_to_pip_specifier(version)
    if not specifier:
        return None
    pinned = re.fullmatch(r"==(\d+)\.(\d+)(?:\.\d+)*(?:\.\*)?", specifier)
    if pinned:
        return f"{pinned[1]}.{pinned[2]}"
    try:
        if Version(current) in SpecifierSet(specifier):
            return current
    except (InvalidSpecifier, InvalidVersion):
        pass
    raise EnvironmentResolutionError(
        f"{source} asks for python{version.strip()}, which cannot be pinned to one version "
        f"(mlkube runs on Python {current}).",
        hint="Pin the Python version in the conda file, e.g. 'python=3.11'.",
    )
