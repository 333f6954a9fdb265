"""Azure ML's defaults for a deployment's request settings, in one place for both sides.

The deployment entity (pydantic, control plane) and the gateway's config (which runs in
an image without pydantic) both need them, as do the targets that write a gateway
config, so they live in this dependency-free leaf rather than in either.
"""

from __future__ import annotations

#: ``request_settings.request_timeout_ms``: the gateway answers 504 past it.
REQUEST_TIMEOUT_MS = 5000
#: ``request_settings.max_concurrent_requests_per_instance``: 429 past it (and the queue).
MAX_CONCURRENT_REQUESTS_PER_INSTANCE = 1
#: ``request_settings.max_queue_wait_ms``: how long a request may wait for a free slot.
MAX_QUEUE_WAIT_MS = 500
