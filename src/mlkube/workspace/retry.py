"""Retrying the database calls that fail only because another process holds the database.

Many CLI processes share the embedded SQLite store: writers queue on its lock, and
MLflow already waits up to its busy timeout. Under heavier contention (or a PostgreSQL
serialisation failure) MLflow reports the failure as TEMPORARILY_UNAVAILABLE; those calls
are safe to repeat, so they are retried with exponential backoff and jitter before the
user sees anything.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

ATTEMPTS = 8
FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0


def is_transient(error: BaseException) -> bool:
    """True for database errors that mean "busy, try again" rather than "wrong"."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE, ErrorCode

    if isinstance(error, MlflowException):
        return error.error_code == ErrorCode.Name(TEMPORARILY_UNAVAILABLE)
    try:
        import sqlalchemy.exc
    except ImportError:  # pragma: no cover - mlflow depends on sqlalchemy
        return False
    return isinstance(error, sqlalchemy.exc.OperationalError)


def retrying(call: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """Run ``call``; on a transient database error wait (backoff + jitter) and run it again."""
    delay = FIRST_DELAY_S
    for attempt in range(attempts):
        try:
            return call()
        except Exception as error:
            if attempt == attempts - 1 or not is_transient(error):
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, MAX_DELAY_S)
    raise AssertionError("unreachable")  # pragma: no cover
