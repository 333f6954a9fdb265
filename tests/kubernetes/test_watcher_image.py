"""The registry watcher's image is mlkube's control plane as installed on this machine:
every requirement of ``mlkube[all]`` pinned to the version here, and the wheel and CA
bundle its own builds need, named where mlkube looks for them."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from mlkube.targets.kubernetes.watcher_image import watcher_build_context, watcher_requirements


def test_the_watcher_environment_pins_the_control_plane_to_this_machines_versions():
    pinned = dict(line.split("==") for line in watcher_requirements())
    for name in ("mlflow", "kubernetes", "docker", "httpx", "psycopg[binary]"):
        assert pinned[name] == version(name.split("[")[0])
    assert not any(name.startswith("mlkube") for name in pinned)


def test_the_watcher_image_names_its_wheel_and_ca_bundle_and_runs_the_watcher(tmp_path: Path):
    wheel = tmp_path / "mlkube-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(b"bundle")
    context = watcher_build_context(wheel, ca_bundle=bundle)
    assert context.environment["MLKUBE_SERVER_WHEEL"] == \
        "/opt/mlkube/build/mlkube-0.1.0-py3-none-any.whl"
    assert context.environment["MLKUBE_CA_BUNDLE"] == "/opt/mlkube/build/ca-bundle.pem"
    assert context.dockerfile.rstrip().endswith('CMD ["mlkube", "watch-registry"]')
