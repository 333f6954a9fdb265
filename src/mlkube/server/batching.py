"""Adaptive micro-batching: concurrent requests share one vectorised predict.

While a predict runs, arriving requests queue; when it ends, everything queued (up to
the max batch size) goes into one predict and the output is split back per request.
Under light load a request is predicted alone at once (no added wait); under heavy
load the per-call overhead of the model (pandas, schema, Python) is paid once per
batch instead of once per request. ``max_wait_ms`` optionally holds a batch open to
fill. With batching off the app never constructs a batcher: no queue, no task hop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from mlkube.server.scoring_threads import ScoringThreads
from mlkube.server.signature import ModelInput, Table, Tensor

logger = logging.getLogger("mlkube.server")


def concat_inputs(inputs: Sequence[ModelInput]) -> ModelInput:
    """Several validated inputs of one signature as one input, rows in order."""
    first = inputs[0]
    if isinstance(first, Table):
        # One signature: every input is of the first one's kind.
        tables = cast("list[Table]", list(inputs))
        columns = {name: np.concatenate([t.columns[name] for t in tables])
                   for name in first.columns}
        matrix = None
        if first.matrix is not None and all(t.matrix is not None for t in tables):
            matrix = np.concatenate([t.matrix for t in tables])
        return Table(columns, sum(t.n_rows for t in tables), matrix)
    tensors = cast("list[Tensor]", list(inputs))
    if isinstance(first.value, dict):
        return Tensor({k: np.concatenate([t.value[k] for t in tensors]) for k in first.value})
    return Tensor(np.concatenate([t.value for t in tensors]))


def split_output(output: Any, sizes: Sequence[int]) -> list[Any]:
    """One model output over concatenated rows, split back into one output per request.

    Raises ``ValueError`` when the output is not row-aligned with the input (then the
    requests are predicted one by one instead)."""
    total = sum(sizes)
    bounds = np.cumsum(sizes)[:-1]
    if isinstance(output, np.ndarray):
        if output.ndim == 0 or output.shape[0] != total:
            raise ValueError("output is not one row per input row")
        return np.split(output, bounds)
    if hasattr(output, "iloc") and len(output) == total:
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), total]
        return [output.iloc[s:e] for s, e in zip(starts, ends, strict=True)]
    if isinstance(output, list) and len(output) == total:
        starts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), total]
        return [output[s:e] for s, e in zip(starts, ends, strict=True)]
    raise ValueError("output is not one row per input row")


class MicroBatcher:
    """Queues requests and runs them in batches on an executor, one batch at a time."""

    def __init__(
        self,
        predict_batch: Callable[[list[Any]], list[Any]],
        predict_one: Callable[[Any], Any],
        *,
        threads: ScoringThreads,
        max_batch_size: int,
        max_wait_ms: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._predict_batch = predict_batch
        self._predict_one = predict_one
        self._threads = threads
        self._max = max_batch_size
        self._wait = max_wait_ms / 1000.0
        self._on_batch = on_batch
        self._pending: collections.deque[tuple[Any, asyncio.Future[Any]]] = collections.deque()
        self._busy = False

    def submit(self, item: Any) -> asyncio.Future[Any]:
        """Predict ``item`` in the next batch; await the future for its own output (a
        future cancelled meanwhile is left out of the batch)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((item, future))
        if not self._busy:
            self._busy = True
            loop.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        try:
            while self._pending:
                if self._wait and len(self._pending) < self._max:
                    await asyncio.sleep(self._wait)
                count = min(len(self._pending), self._max)
                batch = [self._pending.popleft() for _ in range(count)]
                # A request that timed out meanwhile has a cancelled future: skip it.
                batch = [(item, fut) for item, fut in batch if not fut.done()]
                if not batch:
                    continue
                if self._on_batch:
                    self._on_batch(len(batch))
                items = [item for item, _ in batch]
                try:
                    outputs = await self._threads.run(self._run, items)
                except BaseException as error:  # handed to every waiter
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(error)
                    continue
                for (_, fut), output in zip(batch, outputs, strict=True):
                    if fut.done():
                        continue
                    if isinstance(output, _Failed):
                        fut.set_exception(output.error)
                    else:
                        fut.set_result(output)
        finally:
            self._busy = False

    def _run(self, items: list[Any]) -> list[Any]:
        """In the scoring thread: one batched predict, or one by one when that fails
        (so a request that breaks the model fails alone)."""
        if len(items) > 1:
            try:
                return self._predict_batch(items)
            except Exception:  # retried per request below
                logger.debug("Batched predict failed; predicting one by one", exc_info=True)
        results: list[Any] = []
        for item in items:
            try:
                results.append(self._predict_one(item))
            except Exception as error:  # reported to that request only
                results.append(_Failed(error))
        return results


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
