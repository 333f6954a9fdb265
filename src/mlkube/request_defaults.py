"""A deployment's request-setting defaults, in one place for both sides.

Azure ML's, except one: ``max_concurrent_requests_per_instance`` is 8 when a deployment
does not set it (Azure's is 1). A value a user sets keeps Azure's meaning exactly: at most
that many requests are forwarded to each instance at once, the rest wait in the gateway up
to ``max_queue_wait_ms`` and then get 429. Azure's 1 fits its inference server, whose one
gunicorn worker takes one request at a time. mlkube's server reads, decodes and answers
requests on its event loop while one scoring thread predicts, in arrival order; with one
request at a time it idles through every gateway round trip and amortises nothing, and
each wake-up of the server and of the gateway carries one request. Measured on the
endpoint path (BENCHMARKS.md, "Gateway engines"): 2 buys nothing, 4 about 30 % more
throughput than 1, 8 about 60 % more, with 40 % less CPU per request in gateway and server
together; of 1, 2, 4 and 8, only 8 lets the endpoint serve at least 70 % of what the bare
server does on a quiet machine (4: 67 %). More would keep more of the queue inside each
instance, out of ``max_queue_wait_ms``'s reach, and make ``target_utilization`` scaling
(which counts requests in flight against this number) wait for more of them before it
adds an instance; 8 is still far below the per-instance concurrency other serving
platforms default to (Cloud Run 80, Knative unbounded). A slow model's deployment should
set a lower value.

The deployment entity (pydantic, control plane) and the gateway's config (which runs in
an image without pydantic) both need them, as do the targets that write a gateway
config, so they live in this dependency-free leaf rather than in either.
"""

from __future__ import annotations

#: ``request_settings.request_timeout_ms``: the gateway answers 504 past it.
REQUEST_TIMEOUT_MS = 5000
#: ``request_settings.max_concurrent_requests_per_instance``: 429 past it (and the queue).
#: Azure's default is 1; see the module's docstring for why mlkube's is 8.
MAX_CONCURRENT_REQUESTS_PER_INSTANCE = 8
#: ``request_settings.max_queue_wait_ms``: how long a request may wait for a free slot.
MAX_QUEUE_WAIT_MS = 500
