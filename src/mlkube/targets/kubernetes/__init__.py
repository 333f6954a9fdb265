"""The Kubernetes target: pure manifest rendering (``render``) apart from cluster I/O.

``render.render_manifests`` turns an endpoint and its deployments into plain dicts,
built from ``inference_manifests`` (per deployment), ``gateway_manifests`` (per
endpoint), ``pod_spec`` (hardening, probes, draining), ``names`` and ``labels``. None of
these import the ``kubernetes`` client; only the cluster module talks to an API server.
"""
