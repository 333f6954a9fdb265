"""Kubernetes object names for endpoints, deployments and jobs, valid whatever the user typed.

Azure ML names allow upper case and reach 32 characters, so ``<endpoint>-<deployment>``
can be neither a DNS-1123 label nor unique (``ab-c``/``d`` and ``ab``/``c-d`` join to the
same text). Per-endpoint objects take the endpoint's name when it is already a valid
label; every other name is lowercased, cut to fit 63 characters and suffixed with a short
hash of the exact names it stands for, so two endpoints can never share an object.
"""

from __future__ import annotations

import hashlib
import re

MAX_LABEL = 63
HASH_LENGTH = 8

_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_INVALID = re.compile(r"[^a-z0-9-]+")


def short_hash(*parts: str) -> str:
    """A stable 8-hex-digit digest of ``parts`` (separated, so no two tuples collide)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:HASH_LENGTH]


def dns_label(text: str, *, unique_by: tuple[str, ...] | None = None) -> str:
    """``text`` as a DNS-1035 label (also a valid DNS-1123 label and Service name).

    ``text`` is kept as is when it is already a valid label and ``unique_by`` is None;
    otherwise it is lowercased, cleaned, cut, and suffixed with ``short_hash(*unique_by)``
    (or of ``text``), which keeps names apart that clean to the same text.
    """
    if unique_by is None and _LABEL.match(text) and len(text) <= MAX_LABEL:
        return text
    suffix = short_hash(*(unique_by or (text,)))
    cleaned = _INVALID.sub("-", text.lower()).strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"m-{cleaned}".rstrip("-")
    prefix = cleaned[: MAX_LABEL - HASH_LENGTH - 1].rstrip("-")
    return f"{prefix}-{suffix}"


def endpoint_object_name(endpoint: str, *, suffix: str = "") -> str:
    """Name of a per-endpoint object: the gateway (no suffix), its keys, its config."""
    if suffix:
        return dns_label(f"{endpoint}-{suffix}", unique_by=None if _clean(endpoint) else
                         ("endpoint", endpoint, suffix))
    return dns_label(endpoint, unique_by=None if _clean(endpoint) else ("endpoint", endpoint))


def deployment_object_name(endpoint: str, deployment: str) -> str:
    """Name of a deployment's objects (Deployment, Service, HPA, PDB): unique per pair."""
    return dns_label(f"{endpoint}-{deployment}", unique_by=("deployment", endpoint, deployment))


def job_object_name(job: str, *, suffix: str = "") -> str:
    """Name of a command job's Kubernetes Job (no suffix) or of its other objects: the job's
    name when it is a valid label (generated names with '_' are not), else cleaned and
    suffixed with a hash of the exact name."""
    text = f"{job}-{suffix}" if suffix else job
    return dns_label(text, unique_by=None if _clean(job) else ("job", job, suffix))


def _clean(name: str) -> bool:
    return bool(_LABEL.match(name)) and len(name) <= MAX_LABEL - HASH_LENGTH - 12
