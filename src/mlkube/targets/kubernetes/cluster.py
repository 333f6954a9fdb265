"""The only Kubernetes I/O in mlkube: a thin layer over the official ``kubernetes`` client.

Everything above it works on plain dicts shaped as the API returns them; this module
sends them (server-side apply with field manager ``mlkube``), lists and deletes objects
by label, and reads pods, events, logs and access reviews back. It talks to the REST
paths of the few kinds mlkube renders (``KINDS``) instead of the dynamic client, so no
discovery round trip precedes each call and every request is one HTTP call a reader can
follow.

Errors never escape as ``kubernetes`` or ``urllib3`` exceptions: a missing kubeconfig, an
unreachable API server and every error ``Status`` become ``TargetError`` /
``ClusterApiError`` carrying the server's reason and message, with a fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlkube.errors import ClusterApiError, TargetError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlkube.entities.compute import KubernetesCompute

FIELD_MANAGER = "mlkube"
_LOG_GONE = "unable to retrieve container logs for "
#: Seconds to connect, then to read one answer (logs and lists are small).
REQUEST_TIMEOUT = (5, 60)


@dataclass(frozen=True)
class Kind:
    """Where the API serves one kind: ``/api/v1`` or ``/apis/<group>/<version>``."""

    api_version: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    @property
    def prefix(self) -> str:
        return "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"


#: Every kind mlkube renders or installs, in apply order.
KINDS: dict[str, Kind] = {
    "Namespace": Kind("v1", "namespaces", namespaced=False),
    "ServiceAccount": Kind("v1", "serviceaccounts"),
    "Role": Kind("rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": Kind("rbac.authorization.k8s.io/v1", "rolebindings"),
    "Secret": Kind("v1", "secrets"),
    "ConfigMap": Kind("v1", "configmaps"),
    "Service": Kind("v1", "services"),
    "Deployment": Kind("apps/v1", "deployments"),
    # Command jobs (``job_target``): not part of any endpoint, so not in RENDERED_KINDS.
    "Job": Kind("batch/v1", "jobs"),
    "HorizontalPodAutoscaler": Kind("autoscaling/v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": Kind("policy/v1", "poddisruptionbudgets"),
    "Ingress": Kind("networking.k8s.io/v1", "ingresses"),
    "NetworkPolicy": Kind("networking.k8s.io/v1", "networkpolicies"),
}
#: The kinds ``render_manifests`` emits: what endpoints are made of (listing these needs
#: only the deployer Role; ``install`` objects are looked up by their own kinds).
RENDERED_KINDS = ("ServiceAccount", "Role", "RoleBinding", "Secret", "ConfigMap", "Service",
                  "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress")
#: Kinds only read (never rendered): what a rollout is judged by.
READ_KINDS: dict[str, Kind] = {
    "Pod": Kind("v1", "pods"),
    "Event": Kind("v1", "events"),
    "ReplicaSet": Kind("apps/v1", "replicasets"),
}


def object_path(kind: str, *, namespace: str | None, name: str | None = None) -> str:
    """The REST path of ``kind`` objects (a collection, or one object with ``name``)."""
    spec = KINDS.get(kind) or READ_KINDS.get(kind)
    if spec is None:
        raise TargetError(f"mlkube does not manage Kubernetes objects of kind {kind}.",
                          hint="Only the kinds mlkube renders can be applied or listed.")
    path = spec.prefix
    if spec.namespaced:
        if not namespace:
            raise TargetError(f"A {kind} needs a namespace.",
                              hint="Set the compute's namespace (mlkube compute attach "
                                   "--namespace NS).")
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{spec.plural}"
    return path + (f"/{quote(name, safe='')}" if name else "")


def manifest_path(manifest: Mapping[str, Any]) -> str:
    """The REST path of the object ``manifest`` describes."""
    metadata = manifest.get("metadata") or {}
    return object_path(manifest["kind"], namespace=metadata.get("namespace"),
                       name=metadata["name"])


def api_error(status: int, body: str | bytes | None, *, doing: str,
              context: str | None = None) -> ClusterApiError:
    """The mlkube error for an API answer with an error ``status``.

    ``body`` is the answer as sent (a ``Status`` object as JSON, usually); its ``reason``
    and ``message`` are kept, and the hint says what to change.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    reason, message = None, text.strip()
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        parsed = {}
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        reason = parsed.get("reason") or None
        message = str(parsed.get("message") or message)
    where = f" (kubeconfig context {context})" if context else ""
    hint = {
        401: "Your credentials for the cluster expired or are wrong: refresh them (e.g. "
             "`az aks get-credentials`, `gcloud container clusters get-credentials`, "
             f"`aws eks update-kubeconfig`) and check with `kubectl{_ctx(context)} get ns`.",
        403: "Your identity lacks a permission mlkube needs: `mlkube compute check NAME` "
             "lists each one; a cluster admin can bind the Role `mlkube cluster user-role` "
             "prints.",
        404: "It does not exist (any more): check the namespace of the compute and the name.",
        409: "Someone changed the object at the same time: run the command again.",
        422: "The cluster rejected the object as invalid: check the deployment's spec "
             "(resources, names), and the cluster's version (mlkube renders for 1.28+).",
    }.get(status)
    if hint is None:
        hint = ("The API server failed; run the command again, and check the cluster's health "
                "if it persists." if status >= 500 else
                "Check the message above and the cluster's admission policies.")
    return ClusterApiError(
        f"Kubernetes refused {doing}{where}: HTTP {status}"
        f"{f' {reason}' if reason else ''}: {message or 'no message'}",
        hint=hint, code=status, reason=reason)


def _ctx(context: str | None) -> str:
    return f" --context {context}" if context else ""


@dataclass(frozen=True)
class AccessCheck:
    """One ``SelfSubjectAccessReview`` answer."""

    verb: str
    resource: str
    group: str
    allowed: bool
    reason: str = ""


class Cluster:
    """One connection to an API server, acting in one namespace."""

    def __init__(self, api_client: Any, *, namespace: str, context: str | None,
                 server: str) -> None:
        self._api = api_client
        self.namespace = namespace
        self.context = context
        self.server = server

    @classmethod
    def connect(cls, *, kubeconfig: str | os.PathLike[str] | None, context: str | None,
                namespace: str) -> Cluster:
        """Load ``kubeconfig`` (default ``$KUBECONFIG`` or ``~/.kube/config``) with
        ``context`` (default: its current context). Does not contact the server."""
        from kubernetes.config.config_exception import ConfigException

        from kubernetes import client, config

        path = os.fspath(kubeconfig) if kubeconfig else None
        shown = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
        if path is not None and not Path(path).expanduser().is_file():
            raise TargetError(f"The kubeconfig file {path} does not exist.",
                              hint="Attach the compute again with --kubeconfig pointing at "
                                   "your cluster's kubeconfig.")
        configuration = client.Configuration()
        try:
            config.load_kube_config(config_file=path, context=context,
                                    client_configuration=configuration, persist_config=False)
        except (ConfigException, OSError, TypeError, ValueError) as error:
            missing = isinstance(error, FileNotFoundError) or any(
                text in str(error) for text in ("does not exist", "No configuration found"))
            raise TargetError(
                f"Cannot load kubeconfig {shown}"
                f"{f' (context {context})' if context else ''}: {error}",
                hint="Create it (your cluster provider's get-credentials command) or set "
                     "KUBECONFIG / --kubeconfig." if missing else
                     "Check the context name with `kubectl config get-contexts` and attach "
                     "the compute with --context NAME.",
            ) from None
        configuration.retries = 1
        if context is None:
            try:
                _contexts, active = config.list_kube_config_contexts(config_file=path)
                context = (active or {}).get("name")
            except ConfigException:
                pass  # loaded above, so the name is only for messages
        return cls(client.ApiClient(configuration), namespace=namespace, context=context,
                   server=configuration.host)

    def close(self) -> None:
        self._api.close()

    # --- plumbing ------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, doing: str,
                 query: Mapping[str, Any] | None = None, body: Any = None,
                 content_type: str = "application/json", missing_ok: bool = False,
                 raw: bool = False) -> Any:
        """One API call; the decoded JSON answer (the text with ``raw``; None for a 404
        with ``missing_ok``)."""
        import urllib3

        headers = {"Accept": "application/json", "Content-Type": content_type}
        request = self._api.param_serialize(
            method, path, query_params=[(k, v) for k, v in (query or {}).items()
                                        if v is not None],
            header_params=headers, auth_settings=["BearerToken"])
        _method, url, header_params, _body, _post = request
        try:
            # The REST layer serialises dicts as JSON, which is also valid apply-patch YAML.
            response = self._api.call_api(method, url, header_params=header_params, body=body,
                                          _request_timeout=REQUEST_TIMEOUT)
            payload = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise TargetError(
                f"Cannot reach the Kubernetes API server at {self.server}"
                f"{f' (context {self.context})' if self.context else ''} while {doing}: "
                f"{_connection_reason(error)}",
                hint="Check that the cluster runs and that this machine reaches it (VPN, "
                     f"firewall): `kubectl{_ctx(self.context)} get ns`; the address comes "
                     "from the kubeconfig's cluster.server.",
            ) from None
        except Exception as error:  # the client wraps TLS failures in ApiException(0)
            if getattr(error, "status", None) == 0:
                raise TargetError(
                    f"TLS with the API server at {self.server} failed while {doing}: "
                    f"{getattr(error, 'reason', error)}",
                    hint="Check the kubeconfig's certificate-authority data for the cluster.",
                ) from None
            raise
        if response.status == 404 and missing_ok:
            return None
        if not 200 <= response.status < 300:
            raise api_error(response.status, payload, doing=doing, context=self.context)
        if raw:
            return payload.decode("utf-8", "replace")
        return json.loads(payload) if payload else {}

    # --- reads ----------------------------------------------------------------------------

    def server_version(self) -> str:
        """The API server's version (``v1.29.4``): proves it is reachable and answers."""
        return str(self._request("GET", "/version", doing="reading its version")
                   .get("gitVersion", "unknown"))

    def namespace_exists(self, name: str | None = None) -> bool | None:
        """True / False, or None when the identity may not read namespaces."""
        target = name or self.namespace
        try:
            found = self._request("GET", object_path("Namespace", namespace=None, name=target),
                                  doing=f"reading namespace {target}", missing_ok=True)
        except ClusterApiError as error:
            if error.code == 403:
                return None
            raise
        return found is not None

    def serves_api(self, group_version: str) -> bool | None:
        """Whether the API server serves ``group_version`` (``metrics.k8s.io/v1beta1``)
        now: False when it is unknown (404) or registered but unavailable (503, an
        aggregated API whose backend is down); None when this identity may not ask."""
        try:
            found = self._request("GET", f"/apis/{group_version}", missing_ok=True,
                                  doing=f"discovering {group_version}")
        except ClusterApiError as error:
            if error.code == 403:
                return None
            if error.code == 503:
                return False
            raise
        return found is not None

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """One object of this namespace (or a cluster-wide one, e.g. a Namespace), or None."""
        spec = KINDS.get(kind) or READ_KINDS.get(kind)
        namespace = self.namespace if spec is None or spec.namespaced else None
        found = self._request("GET", object_path(kind, namespace=namespace, name=name),
                              doing=f"reading {kind} {name}", missing_ok=True)
        return _with_kind(found, kind) if found is not None else None

    def list_objects(self, kind: str, *, selector: str | None = None,
             field_selector: str | None = None) -> list[dict[str, Any]]:
        """Objects of ``kind`` in this namespace matching the label / field selectors, each
        with its ``kind`` and ``apiVersion`` (list answers leave them out)."""
        answer = self._request(
            "GET", object_path(kind, namespace=self.namespace),
            doing=f"listing {kind} objects",
            query={"labelSelector": selector, "fieldSelector": field_selector})
        return [_with_kind(item, kind) for item in answer.get("items") or []]

    def list_managed(self, selector: str, *,
                     kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every object of ``kinds`` (default: those mlkube renders) matching ``selector``."""
        found: list[dict[str, Any]] = []
        for kind in kinds or RENDERED_KINDS:
            if KINDS[kind].namespaced:
                found.extend(self.list_objects(kind, selector=selector))
        return found

    def events_for(self, objects: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The events about ``objects`` (pods, ReplicaSets), oldest first."""
        events: list[dict[str, Any]] = []
        for item in objects:
            name = (item.get("metadata") or {}).get("name")
            if name:
                events.extend(self.list_objects(
                    "Event", field_selector=f"involvedObject.name={name}"))
        return events

    def read_log(self, pod: str, *, container: str, previous: bool = False,
                 tail_lines: int | None = None) -> str:
        """A container's log; "" when there is none (no previous instance, not started)."""
        path = object_path("Pod", namespace=self.namespace, name=pod) + "/log"
        try:
            text = str(self._request(
                "GET", path, doing=f"reading the log of {pod}", raw=True,
                query={"container": container, "previous": "true" if previous else None,
                       "tailLines": tail_lines}))
        except ClusterApiError as error:
            if error.code in (400, 404):  # no previous container / still creating
                return ""
            raise
        # The kubelet answers 200 with this line when the container it was asked for has
        # just been removed (a restart replaced the "previous" one): no log, not a log.
        return "" if text.startswith(_LOG_GONE) else text

    def can_i(self, verb: str, resource: str, *, group: str = "",
              namespace: str | None = None) -> AccessCheck:
        """Whether this identity may ``verb`` ``resource`` (a SelfSubjectAccessReview)."""
        base, _, subresource = resource.partition("/")  # "pods/log" is a subresource
        attributes = {"namespace": namespace if namespace is not None else self.namespace,
                      "verb": verb, "group": group, "resource": base}
        if subresource:
            attributes["subresource"] = subresource
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": attributes}}
        answer = self._request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review,
            doing=f"asking whether it may {verb} {resource}")
        status = answer.get("status") or {}
        return AccessCheck(verb=verb, resource=resource, group=group,
                           allowed=bool(status.get("allowed")),
                           reason=str(status.get("reason") or status.get("evaluationError")
                                      or ""))

    # --- writes ---------------------------------------------------------------------------

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply ``manifest`` as field manager ``mlkube`` (taking over fields
        another manager set: mlkube's spec is the truth for its objects)."""
        metadata = manifest.get("metadata") or {}
        doing = f"applying {manifest['kind']} {metadata.get('name')}"
        return self._request("PATCH", manifest_path(manifest), doing=doing, body=manifest,
                             content_type="application/apply-patch+yaml",
                             query={"fieldManager": FIELD_MANAGER, "force": "true"})

    def annotate(self, obj: Mapping[str, Any], annotations: Mapping[str, str]) -> None:
        """Set ``annotations`` on the existing ``obj`` and change nothing else: a merge
        patch of its metadata (a server-side apply of a partial object would have its
        spec defaulted, and so bump the generation, or even scale it)."""
        metadata = obj.get("metadata") or {}
        self._request("PATCH", manifest_path(obj),
                      doing=f"annotating {obj.get('kind')} {metadata.get('name')}",
                      body={"metadata": {"annotations": dict(annotations)}},
                      content_type="application/merge-patch+json",
                      query={"fieldManager": FIELD_MANAGER})

    def delete(self, kind: str, name: str, *, namespace: str | None = None,
               propagation: str = "Background") -> bool:
        """Delete one object; False if it was gone. Its dependents (a Job's pods) go in
        the background, or with ``propagation="Foreground"`` before it: the object stays,
        marked for deletion, until they are gone."""
        if propagation not in ("Background", "Foreground"):
            raise TargetError(f"Unknown deletion propagation {propagation!r}.",
                              hint="Use Background or Foreground.")
        namespaced = KINDS[kind].namespaced
        path = object_path(kind, namespace=(namespace or self.namespace) if namespaced
                           else None, name=name)
        found = self._request("DELETE", path, doing=f"deleting {kind} {name}",
                              body={"apiVersion": "v1", "kind": "DeleteOptions",
                                    "propagationPolicy": propagation},
                              missing_ok=True)
        return found is not None

    def delete_objects(self, objects: Sequence[Mapping[str, Any]]) -> list[str]:
        """Delete exactly ``objects`` (as listed), dependents last-applied-first; what was
        deleted, as ``Kind/name``."""
        deleted = []
        order = list(KINDS)
        for item in sorted(objects, key=lambda o: -order.index(o["kind"])
                           if o["kind"] in order else 0):
            metadata = item.get("metadata") or {}
            if self.delete(item["kind"], metadata["name"], namespace=metadata.get("namespace")):
                deleted.append(f"{item['kind']}/{metadata['name']}")
        return deleted


def _with_kind(item: dict[str, Any], kind: str) -> dict[str, Any]:
    spec = KINDS.get(kind) or READ_KINDS[kind]
    return {"apiVersion": spec.api_version, "kind": kind, **item}


def _connection_reason(error: BaseException) -> str:
    """The innermost reason of a urllib3 failure ("Connection refused"), not its repr."""
    reason: Any = getattr(error, "reason", None)
    while getattr(reason, "reason", None) is not None and reason is not reason.reason:
        reason = reason.reason
    text = str(reason or error)
    return text.split(": ", 1)[-1] if "object at 0x" in text else text


class LazyCluster:
    """The cluster of one attached compute, connected on first use: a target is made
    for every command, and most (a render, a listing of computes) never reach the API."""

    def __init__(self, compute: KubernetesCompute,
                 factory: Callable[[], Cluster] | None = None) -> None:
        self._factory = factory or (lambda: Cluster.connect(
            kubeconfig=compute.kubeconfig, context=compute.context,
            namespace=compute.namespace))
        self._cluster: Cluster | None = None

    def get(self) -> Cluster:
        if self._cluster is None:
            self._cluster = self._factory()
        return self._cluster

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
