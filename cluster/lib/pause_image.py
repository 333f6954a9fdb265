#!/usr/bin/env python3
"""Write the pod sandbox image as a Docker-format image archive, for `ctr images import`.

The cluster's containerd needs a "pause" image before its first pod, and no registry is
reachable to pull one from. The image is one layer holding the static `pause` binary of
components/pause; writing the archive by hand (a layer tar, a config, a manifest) needs
neither Docker nor a registry, so the cluster starts on a machine with containerd alone.

Usage: pause_image.py PAUSE_BINARY IMAGE_NAME OUT.tar
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path


def _layer(binary: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        info = tarfile.TarInfo("pause")
        info.size = binary.stat().st_size
        info.mode = 0o755
        with binary.open("rb") as handle:
            layer.addfile(info, handle)
    return buffer.getvalue()


def write_archive(binary: Path, image: str, out: Path) -> None:
    layer = _layer(binary)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "mlkube cluster/components/pause"}],
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [image],
                            "Layers": ["layer.tar"]}]).encode()
    with tarfile.open(out, mode="w") as archive:
        for name, data in (("layer.tar", layer), (config_name, config),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: pause_image.py PAUSE_BINARY IMAGE_NAME OUT.tar")
    write_archive(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
