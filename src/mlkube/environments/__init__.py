"""Environments: resolve a spec to (python version, pip requirements); materialise it."""
