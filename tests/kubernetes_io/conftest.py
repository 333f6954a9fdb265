"""Fixtures shared with the docker tests: the same engine check, server wheel and model
environment, so the slow image layer is built once and reused."""

from tests.docker.conftest import docker_engine, model_environment, server_wheel  # noqa: F401
