"""Kubernetes quantities are read as Kubernetes reads them, so limits compare correctly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mlkube.entities.deployment_settings import ResourceRequirementsSettings, quantity_value
from mlkube.errors import ValidationError


@pytest.mark.parametrize(("quantity", "value"), [
    ("500m", Decimal("0.5")), ("2", Decimal(2)), ("0.1", Decimal("0.1")),
    ("1Gi", Decimal(2**30)), ("1G", Decimal(10**9)), ("1e3", Decimal(1000)),
    ("128Mi", Decimal(128 * 2**20)),
])
def test_quantities_mean_what_kubernetes_says(quantity: str, value: Decimal) -> None:
    assert quantity_value(quantity) == value


def test_a_request_in_other_units_than_its_limit_is_compared_by_value() -> None:
    ResourceRequirementsSettings(requests={"cpu": "500m", "memory": "1000Mi"},
                                 limits={"cpu": "1", "memory": "1Gi"})
    with pytest.raises(ValidationError, match=r"requests.memory \(1100Mi\) is above"):
        ResourceRequirementsSettings(requests={"memory": "1100Mi"}, limits={"memory": "1Gi"})
