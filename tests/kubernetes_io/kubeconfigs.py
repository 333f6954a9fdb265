"""Kubeconfig files for tests: a real file, pointing at a port on 127.0.0.1 where nothing
listens, so the client's own loading and connection handling run for real."""

from __future__ import annotations

import socket
from pathlib import Path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_kubeconfig(path: Path, *, server: str, context: str = "dev",
                     namespace: str = "ml-serving") -> Path:
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: dev-cluster
  cluster:
    server: {server}
    insecure-skip-tls-verify: true
users:
- name: dev-user
  user:
    token: not-a-real-token
contexts:
- name: {context}
  context:
    cluster: dev-cluster
    user: dev-user
    namespace: {namespace}
current-context: {context}
""")
    return path
