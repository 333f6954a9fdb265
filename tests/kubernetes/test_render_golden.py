"""The rendered manifests of each scenario match their golden file, byte for byte.

Regenerate after an intended change with ``MLKUBE_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import difflib
import os

import pytest

from mlkube.targets.kubernetes.render import dump_manifests
from tests.kubernetes.scenarios import GOLDEN, SCENARIOS


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rendered_manifests_match_golden_file(name: str) -> None:
    rendered = dump_manifests(SCENARIOS[name].render())
    golden = GOLDEN / f"{name}.yaml"
    if os.environ.get("MLKUBE_UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert golden.is_file(), f"{golden} is missing; run with MLKUBE_UPDATE_GOLDEN=1 once"
    expected = golden.read_text()
    diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True),
                                        rendered.splitlines(keepends=True),
                                        fromfile=str(golden), tofile="rendered"))
    assert rendered == expected, f"rendered manifests differ from {golden.name}:\n{diff}"
