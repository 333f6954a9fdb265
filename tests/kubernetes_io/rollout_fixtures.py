"""The rollout situations the reader's tests read, as the API returned them.

``fixtures/recorded/`` holds what the real test cluster returned (written by
``tests/kubernetes_live/test_rollout_failures.py`` with ``MLKUBE_RECORD_FIXTURES=1``);
``fixtures/hand-made/`` only what that single-node cluster cannot produce (a private
registry's 401, a cluster autoscaler, a probe killing a slow start, a revision change
caught mid-way), shaped after the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = FIXTURES / "recorded"
HAND_MADE = FIXTURES / "hand-made"


def fixture_path(name: str) -> Path:
    recorded = RECORDED / f"{name}.json"
    return recorded if recorded.exists() else HAND_MADE / f"{name}.json"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_path(name).read_text())
    return data


def all_fixtures() -> list[Path]:
    return sorted([*RECORDED.glob("*.json"), *HAND_MADE.glob("*.json")])
