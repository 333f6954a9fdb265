"""``KubernetesJobTarget``: command jobs on an attached cluster, as ``batch/v1`` Jobs.

The job side of the Kubernetes target, on the same pieces: the image is built from the
job's build context and pushed to the compute's registry by ``images.publish_image`` (so
pods run it by digest), the objects come from the pure ``job_manifests``, and what a
job is doing is read by the pure ``job_status`` from its Job, pod and events. Every call
is one or a few API requests through ``cluster.Cluster``; following a job (polling,
recording) is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlkube.entities.compute import KubernetesCompute
from mlkube.environments.dockerfile import BuildContext
from mlkube.errors import ConflictError
from mlkube.targets.base import Progress
from mlkube.targets.kubernetes import labels as lbl
from mlkube.targets.kubernetes.cluster import Cluster, LazyCluster
from mlkube.targets.kubernetes.images import PublishedImage, check_registry, publish_image
from mlkube.targets.kubernetes.job_manifests import CONTAINER, owned_by
from mlkube.targets.kubernetes.job_status import JobVerdict, job_pod, read_job
from mlkube.targets.kubernetes.names import job_object_name

#: Repository (under the compute's registry) of command jobs' images; tags are the
#: content hash of each job's build context.
JOB_REPOSITORY = "mlkube-jobs"


class KubernetesJobTarget:
    """Command jobs in the namespace of one attached Kubernetes compute."""

    def __init__(self, compute: KubernetesCompute, *,
                 cluster_factory: Callable[[], Cluster] | None = None,
                 engine_factory: Callable[[], Any] | None = None) -> None:
        self.compute = compute
        self._cluster = LazyCluster(compute, cluster_factory)
        self._engine_factory = engine_factory

    @property
    def cluster(self) -> Cluster:
        return self._cluster.get()

    @property
    def namespace(self) -> str:
        return self.compute.namespace

    def publish(self, context: BuildContext, *, progress: Progress) -> PublishedImage:
        """Build the job's image (layers shared with every image of its environment) and
        push it to the compute's registry."""
        return publish_image(self._engine(), context,
                             registry=check_registry(self.compute.registry),
                             repository=JOB_REPOSITORY, progress=progress)

    def submit(self, manifests: Sequence[Mapping[str, Any]], *,
               progress: Progress) -> dict[str, Any]:
        """Apply a job's Secret and Job (``render_job_manifests``), then make the Job the
        Secret's owner, so deleting the Job deletes both. Returns the Job as applied."""
        secret = next(m for m in manifests if m["kind"] == "Secret")
        job = next(m for m in manifests if m["kind"] == "Job")
        name = job["metadata"]["name"]
        if self.cluster.get("Job", name) is not None:
            raise ConflictError(
                f"A Kubernetes Job {name} already exists in namespace {self.namespace} (left "
                "by a job of the same name in another workspace).",
                hint=f"Submit the job under another name, or delete the old one: `kubectl "
                     f"delete job -n {self.namespace} {name}`.")
        # The Secret first: a pod started before it would fail on its missing variables.
        progress(f"applying Secret {secret['metadata']['name']}")
        self.cluster.apply(secret)
        progress(f"applying Job {name} in namespace {self.namespace}")
        applied = self.cluster.apply(job)
        self.cluster.apply(owned_by(secret, {"kind": "Job", "apiVersion": "batch/v1",
                                             **applied}))
        return applied

    def read(self, job: str, *, log: str = "") -> JobVerdict | None:
        """What job ``job`` is doing, or None when its Job does not exist (deleted, or
        removed by its TTL). ``log`` is its pod's log so far (a failure quotes it)."""
        found = self.cluster.get("Job", job_object_name(job))
        if found is None:
            return None
        pods = self.pods(job)
        events = self.cluster.events_for([found, *pods])
        return read_job(found, pods, events, log=log)

    def pods(self, job: str) -> list[dict[str, Any]]:
        return self.cluster.list_objects(
            "Pod", selector=lbl.job_selector(job, job_object_name(job)))

    def log(self, job: str) -> str:
        """The log of the job's pod so far ("" before it starts)."""
        pod = job_pod(self.pods(job))
        if pod is None:
            return ""
        return self.cluster.read_log(pod["metadata"]["name"], container=CONTAINER)

    def delete(self, job: str, *, foreground: bool = False) -> bool:
        """Delete the Job (its pod, with SIGTERM and the grace period, and its Secret go
        with it); False if it was gone. ``foreground``: the Job stays, marked, until its
        pod is gone, so ``exists`` tells when the command has stopped."""
        return self.cluster.delete("Job", job_object_name(job),
                                   propagation="Foreground" if foreground else "Background")

    def exists(self, job: str) -> bool:
        return self.cluster.get("Job", job_object_name(job)) is not None

    def close(self) -> None:
        self._cluster.close()

    def _engine(self) -> Any:
        if self._engine_factory is not None:
            return self._engine_factory()
        from mlkube.targets.docker.engine import DockerEngine

        return DockerEngine.connect()

