"""Run a rendered Kubernetes container spec in real Docker, as the kubelet would run it.

The translation is deliberately literal, so the contract test checks the pod spec and not
a hand-written stand-in for it: ``command`` is the entrypoint and ``args`` the command,
``env`` the environment, ``runAsUser``/``runAsGroup`` the user, ``readOnlyRootFilesystem``
a read-only root, ``emptyDir`` volumes tmpfs mounts, ConfigMap and Secret volumes folders
of their files (mode and group as the kubelet sets them), dropped capabilities and
no-new-privileges as given, the memory limit as the container's limit, and each named
container port published on 127.0.0.1. Containers join one user-defined network under
the Service's in-cluster DNS name, so the gateway's rendered config reaches them as is.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

_QUANTITY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_FACTORS = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
            "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def memory_bytes(quantity: str) -> int:
    match = _QUANTITY.match(quantity)
    assert match, f"unsupported memory quantity {quantity}"
    return int(match[1]) * _FACTORS[match[2]]


def pod_template(manifests: list[dict[str, Any]], *, kind: str, name: str) -> dict[str, Any]:
    found = next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)
    return found["spec"]["template"]["spec"]


def write_volume_files(pod: Mapping[str, Any], manifests: list[dict[str, Any]],
                       root: Path) -> dict[str, Path]:
    """Each ConfigMap / Secret volume of ``pod`` as a folder of files; volume name -> folder."""
    folders: dict[str, Path] = {}
    fs_group = pod.get("securityContext", {}).get("fsGroup")
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            source = next(m for m in manifests if m["kind"] == "ConfigMap"
                          and m["metadata"]["name"] == volume["configMap"]["name"])
            files = {k: v.encode() for k, v in source.get("data", {}).items()}
            mode = volume["configMap"].get("defaultMode", 0o644)
        elif "secret" in volume:
            source = next(m for m in manifests if m["kind"] == "Secret"
                          and m["metadata"]["name"] == volume["secret"]["secretName"])
            files = {k: base64.b64decode(v) for k, v in source.get("data", {}).items()}
            mode = volume["secret"].get("defaultMode", 0o644)
        else:
            continue
        folder = root / volume["name"]
        folder.mkdir(parents=True)
        os.chmod(folder, 0o755)
        for file_name, content in files.items():
            path = folder / file_name
            path.write_bytes(content)
            os.chmod(path, mode)
            if fs_group is not None:
                os.chown(path, 0, fs_group)  # the kubelet gives the pod's fsGroup
        folders[volume["name"]] = folder
    return folders


def run_pod_container(client: Any, pod: Mapping[str, Any], *, container_name: str, image: str,
                      docker_name: str, network: str, aliases: list[str], labels: dict[str, str],
                      volume_folders: Mapping[str, Path]) -> dict[int, int]:
    """Create and start the container; container port -> host port on 127.0.0.1."""
    container = next(c for c in pod["containers"] if c["name"] == container_name)
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    ports = [p["containerPort"] for p in container.get("ports", [])]
    emptydirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    tmpfs, binds = {}, {}
    for mount in container.get("volumeMounts", []):
        if mount["name"] in emptydirs:
            tmpfs[mount["mountPath"]] = "rw,mode=1777"
        else:
            binds[str(volume_folders[mount["name"]])] = {
                "bind": mount["mountPath"], "mode": "ro" if mount.get("readOnly") else "rw"}
    limits = container.get("resources", {}).get("limits", {})
    host_config = client.create_host_config(
        port_bindings={port: ("127.0.0.1",) for port in ports},
        read_only=bool(security.get("readOnlyRootFilesystem")),
        tmpfs=tmpfs or None,
        binds=binds or None,
        cap_drop=security.get("capabilities", {}).get("drop"),
        security_opt=(["no-new-privileges"]
                      if security.get("allowPrivilegeEscalation") is False else None),
        privileged=bool(security.get("privileged")),
        mem_limit=memory_bytes(limits["memory"]) if "memory" in limits else None,
        network_mode=network,
    )
    user = str(security["runAsUser"])
    if "runAsGroup" in security:
        user += f":{security['runAsGroup']}"
    created = client.create_container(
        image,
        name=docker_name,
        entrypoint=container.get("command"),
        command=container.get("args"),
        environment={e["name"]: e["value"] for e in container.get("env", [])},
        user=user,
        ports=ports,
        labels=labels,
        host_config=host_config,
        networking_config=client.create_networking_config(
            {network: client.create_endpoint_config(aliases=aliases)}),
        detach=True,
    )
    client.start(created["Id"])
    info = client.inspect_container(created["Id"])
    published = {}
    for spec, bindings in info["NetworkSettings"]["Ports"].items():
        for binding in bindings or ():
            published[int(spec.split("/")[0])] = int(binding["HostPort"])
    return published


def probe_url(container: Mapping[str, Any], probe: str, *, host_ports: Mapping[int, int]) -> str:
    """The URL the kubelet would probe, on the published port."""
    http_get = container[probe]["httpGet"]
    port = http_get["port"]
    if isinstance(port, str):
        port = next(p["containerPort"] for p in container["ports"] if p["name"] == port)
    return f"http://127.0.0.1:{host_ports[port]}{http_get['path']}"


def wait_for_probes(client: Any, docker_name: str, container: Mapping[str, Any], *,
                    host_ports: Mapping[int, int], deadline_s: float) -> dict[str, int]:
    """Poll every probe of ``container`` until all answer 200 (status per probe); fail at
    once with the container's log if it exits."""
    probes = [p for p in ("startupProbe", "livenessProbe", "readinessProbe") if p in container]
    deadline = time.monotonic() + deadline_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = client.inspect_container(docker_name)["State"]
        if not state["Running"]:
            logs = client.logs(docker_name, tail=60).decode("utf-8", "replace")
            pytest.fail(f"{docker_name} exited with code {state['ExitCode']} "
                        f"(OOMKilled={state['OOMKilled']}); its log:\n{logs}")
        for probe in probes:
            try:
                last[probe] = httpx.get(probe_url(container, probe, host_ports=host_ports),
                                        timeout=2.0).status_code
            except httpx.TransportError as error:
                last[probe] = repr(error)
        if all(last.get(p) == 200 for p in probes):
            return last
        time.sleep(0.25)
    logs = client.logs(docker_name, tail=60).decode("utf-8", "replace")
    pytest.fail(f"{docker_name}: probes not all 200 within {deadline_s}s ({last}); log:\n{logs}")
