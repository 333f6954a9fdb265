"""The Prometheus text exposition format, written by hand for both leaf apps.

The inference server and the gateway each answer ``GET /metrics``; neither takes a
client library (the server is installed into every model's environment, the gateway's
image stays lean). What they share is the text format itself: metric families, labelled
samples and cumulative histograms, written here once. Updates are a list increment and
a bisect, cheap enough for every request.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


class Histogram:
    """Cumulative-bucket histogram as Prometheus expects it."""

    __slots__ = ("buckets", "counts", "total", "count")

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        """The ``_bucket``, ``_sum`` and ``_count`` samples; ``labels`` as ``labels()``
        writes them."""
        out = []
        running = 0
        sep = "," if labels else ""
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{_number(bound)}"}} {running}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        suffix = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{suffix} {self.total!r}")
        out.append(f"{name}_count{suffix} {self.count}")
        return out


def family(name: str, kind: str, description: str) -> list[str]:
    """The ``# HELP`` and ``# TYPE`` lines that open a metric family."""
    return [f"# HELP {name} {description}", f"# TYPE {name} {kind}"]


def labels(**pairs: object) -> str:
    """``key="value",...`` in the given order (values are mlkube's own names, which never
    hold a quote or a backslash)."""
    return ",".join(f'{key}="{value}"' for key, value in pairs.items())


def sample(name: str, label_text: str, value: object) -> str:
    """One sample line: ``name{labels} value``."""
    return f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}"


def text(lines: list[str]) -> str:
    """The exposition: one line each, ending with a newline."""
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
