"""A deployment's request-setting defaults, in one place for both sides.

Azure ML's, except one: ``max_concurrent_requests_per_instance`` is 4 when a deployment
does not set it (Azure's is 1). A value a user sets keeps Azure's meaning exactly: at most
that many requests are forwarded to each instance at once, the rest wait in the gateway up
to ``max_queue_wait_ms`` and then get 429. Azure's 1 fits its inference server, whose one
gunicorn worker takes one request at a time. mlkube's server reads, decodes and answers
requests on its event loop while one scoring thread predicts, in arrival order; with one
request at a time it idles through every gateway round trip and amortises nothing. With
4 the endpoint path serves about 30 % more than with 1, at a quarter less CPU per request
in gateway and server together (BENCHMARKS.md, "Gateway engines"). 8 serves more still,
but keeps twice the queue inside each instance, out of ``max_queue_wait_ms``'s reach, and
makes ``target_utilization`` scaling wait for twice the requests in flight before it adds
an instance, which a slow model's users would feel; 4 keeps most of the queue, and its
429s, in the gateway.

The deployment entity (pydantic, control plane) and the gateway's config (which runs in
an image without pydantic) both need them, as do the targets that write a gateway
config, so they live in this dependency-free leaf rather than in either.
"""

from __future__ import annotations

#: ``request_settings.request_timeout_ms``: the gateway answers 504 past it.
REQUEST_TIMEOUT_MS = 5000
#: ``request_settings.max_concurrent_requests_per_instance``: 429 past it (and the queue).
#: Azure's default is 1; see the module's docstring for why mlkube's is 4.
MAX_CONCURRENT_REQUESTS_PER_INSTANCE = 4
#: ``request_settings.max_queue_wait_ms``: how long a request may wait for a free slot.
MAX_QUEUE_WAIT_MS = 500
