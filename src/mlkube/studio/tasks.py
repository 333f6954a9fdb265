"""Long-running operations started from a page (deploy, delete), followed by the page.

A task runs one function in a thread with a progress callback, the same callback the
operations' pollers call for the CLI's stderr lines ("building environment", "instance
blue-1-0 ready"). The page reads the lines as they come (Server-Sent Events) and, at the
end, the result or the failure's message and hint, as the CLI prints them.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlkube.errors import MlkubeError

#: Finished tasks kept for pages that reconnect; older ones are forgotten.
KEEP_FINISHED = 50

Progress = Callable[[str], None]


@dataclass
class Task:
    id: str
    description: str
    lines: list[str] = field(default_factory=list)
    state: str = "Running"  # Running, Succeeded, Failed
    error: str | None = None
    hint: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def report(self, line: str) -> None:
        with self.changed:
            self.lines.append(line)
            self.changed.notify_all()

    def finish(self, *, state: str, error: str | None = None, hint: str | None = None,
               result: dict[str, Any] | None = None) -> None:
        with self.changed:
            self.state, self.error, self.hint = state, error, hint
            self.result = result or {}
            self.changed.notify_all()

    def wait_past(self, seen: int, timeout: float) -> None:
        """Block until there are more than ``seen`` lines or the task ends."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.lines) > seen or self.state != "Running",
                                  timeout=timeout)

    def to_dict(self, *, since: int = 0) -> dict[str, Any]:
        with self.changed:
            return {"id": self.id, "description": self.description, "state": self.state,
                    "lines": self.lines[since:], "line_count": len(self.lines),
                    "error": self.error, "hint": self.hint, "result": self.result}


class Tasks:
    """The tasks of this studio process."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()

    def start(self, description: str,
              operation: Callable[[Progress], dict[str, Any] | None]) -> Task:
        task = Task(id=secrets.token_hex(8), description=description)
        with self._lock:
            self._tasks[task.id] = task
            finished = [t for t in self._tasks.values() if t.state != "Running"]
            for old in finished[:-KEEP_FINISHED]:
                del self._tasks[old.id]

        def run() -> None:
            try:
                result = operation(task.report)
            except MlkubeError as error:
                task.finish(state="Failed", error=error.message, hint=error.hint)
            except Exception as error:  # shown on the page, as the CLI prints it
                task.finish(state="Failed", error=f"{type(error).__name__}: {error}",
                            hint="See the studio's log for the traceback.")
                raise
            else:
                task.finish(state="Succeeded", result=result)

        threading.Thread(target=run, name=f"studio-{description}", daemon=True).start()
        return task

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)
