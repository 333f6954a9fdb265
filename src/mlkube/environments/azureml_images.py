"""Azure ML's base and inference images, recognised so they are not used as given.

Azure ML environments name images such as
``mcr.microsoft.com/azureml/lightgbm-3.2-ubuntu18.04-py37-cpu-inference:20221107.v3`` or
``mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04``. As a Docker ``FROM`` line they
cannot be pulled here, and if they could they would bring their own Python (3.7) and
Azure's inference server. So an environment naming one is built on mlkube's own base
image instead, with the environment's conda file or pip list (or the model's own files),
on every container target alike; the substitution is said, never silent. Any other
image is used as given. Pure.
"""

from __future__ import annotations

import re

_AZUREML_IMAGE = re.compile(
    r"^(?:mcr\.microsoft\.com/azureml/|(?:[a-z0-9.-]+\.)?azurecr\.io/azureml/)", re.I)


def is_azureml_image(image: str | None) -> bool:
    """True for Azure ML's own base and inference images (``mcr.microsoft.com/azureml/``)."""
    return bool(image) and bool(_AZUREML_IMAGE.match(image or ""))


def substitution_note(image: str) -> str:
    """What mlkube does instead of building ``FROM image``."""
    return (f"image {image} is Azure ML's; container targets build on mlkube's base image "
            f"instead (with the environment's packages and mlkube's inference server)")
