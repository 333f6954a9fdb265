"""The one shape every environment is reduced to before it is materialised.

Resolution (from conda.yaml, python_env.yaml, requirements.txt or an image + pip list)
ends here; the virtualenv cache and the Dockerfile renderer both start here, so a
deployment runs the same packages on every target.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResolvedEnvironment:
    """A Python version and the pip requirements to install into it."""

    #: "3.11" or "3.11.7"; None means "the Python mlkube runs on".
    python_version: str | None
    #: pip requirement lines, mlkube's server included, in a stable order.
    requirements: tuple[str, ...]
    #: Base image for container targets (environment.image), if one was named.
    image: str | None = None
    #: Where each requirement came from, for messages ("conda.yaml", "added by mlkube").
    sources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def content_hash(self) -> str:
        """A stable key of what gets installed: caches and image tags use it."""
        digest = hashlib.sha256()
        digest.update(f"python={self.python_version or ''}\n".encode())
        digest.update(f"image={self.image or ''}\n".encode())
        for requirement in self.requirements:
            digest.update(f"{requirement}\n".encode())
        return digest.hexdigest()[:16]
