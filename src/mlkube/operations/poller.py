"""Pollers: what every ``begin_*`` operation returns, shaped like Azure's ``LROPoller``.

The operation runs in a background thread from the moment ``begin_*`` returns, so a
script can start several and wait for them later; ``result()`` waits and returns its
value or re-raises its error (with its message and hint intact), ``done()`` says whether
it finished, ``wait()`` waits without raising. Progress lines ("building environment",
"instance blue-1-0 ready") are kept on the poller and passed to a callback as they come.
The thread is not a daemon: a script that exits without waiting still lets the
operation finish, rather than leaving a deployment half-made.

``synchronous=True`` is Azure ML's ``local=True`` contract ("for local deployment, async
API is returned synchronously"): the operation runs to its end before ``begin_*``
returns, and a failure raises there, so a script that never calls ``result()`` still
sees the endpoint exist on its next line. ``result()`` stays harmless.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

T = TypeVar("T")

#: Receives each progress line as it happens.
ProgressCallback = Callable[[str], None]


def print_progress(line: str) -> None:
    """The default progress callback: one line on stderr, so stdout stays the result."""
    print(f"mlkube: {line}", file=sys.stderr, flush=True)


class LROPoller(Generic[T]):
    """A long-running operation in progress (Azure's ``LROPoller``)."""

    def __init__(self, operation: Callable[[ProgressCallback], T], *,
                 progress: ProgressCallback | None = print_progress,
                 description: str = "operation", synchronous: bool = False) -> None:
        self.description = description
        self.progress_lines: list[str] = []
        self._callback = progress
        self._result: T | None = None
        self._error: BaseException | None = None
        self._finished = threading.Event()
        if synchronous:
            self._run(operation)
            if self._error is not None:
                raise self._error
            return
        self._thread = threading.Thread(target=self._run, args=(operation,),
                                        name=f"mlkube-{description}", daemon=False)
        self._thread.start()

    def _report(self, line: str) -> None:
        self.progress_lines.append(line)
        if self._callback is not None:
            try:
                self._callback(line)
            except Exception:  # a broken printer must not break the operation
                pass

    def _run(self, operation: Callable[[ProgressCallback], T]) -> None:
        try:
            self._result = operation(self._report)
        except BaseException as error:  # re-raised from result()
            self._error = error
        finally:
            self._finished.set()

    def result(self, timeout: float | None = None) -> T:
        """The operation's value; its exception if it failed; ``TimeoutError`` if it is
        still running after ``timeout`` seconds (it keeps running)."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"The {self.description} is still running after {timeout}s; "
                               "call result() again to keep waiting.")
        if self._error is not None:
            raise self._error
        # Finished without an error: the operation's own value (None is a valid T).
        return cast(T, self._result)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the operation to end (successfully or not) without raising."""
        self._finished.wait(timeout)

    def done(self) -> bool:
        return self._finished.is_set()

    def status(self) -> str:
        """Azure's status words: InProgress, Succeeded or Failed."""
        if not self.done():
            return "InProgress"
        return "Failed" if self._error is not None else "Succeeded"
