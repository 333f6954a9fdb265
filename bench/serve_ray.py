"""The Ray Serve peer: a local Ray instance of one CPU and one replica of a deployment
holding the MLflow pyfunc, behind Ray Serve's HTTP proxy.

Runs in its own virtualenv (requirements-ray.txt). Everything Ray starts (GCS, raylet,
workers, the Serve controller, proxy and replica) descends from this process and keeps
its temp folder under the given work folder's short /tmp twin, so stopping this process
tree stops all of Ray without touching any other Ray on the machine (no `ray stop`, which
kills every Ray process of the user). The benchmark signals the whole tree at once and
kills what outlives the grace period (Ray's agents do, reparented to init, unless the
tree was read before the signal); on SIGTERM this driver shuts Ray down and removes its
temp folder.

    python serve_ray.py MODEL_DIR PORT

``POST /score`` with ``{"data": [[...]]}``; the answer is a bare JSON array.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import threading

import ray
from ray import serve

# Ray's own floor is 75 MiB; one iris model needs none of the default 30 % of RAM.
OBJECT_STORE_BYTES = 100 * 1024 * 1024


@serve.deployment(num_replicas=1)
class Iris:
    def __init__(self, model_dir: str) -> None:
        import mlflow.pyfunc

        self.model = mlflow.pyfunc.load_model(model_dir)
        self.columns = self.model.metadata.get_input_schema().input_names()

    async def __call__(self, request) -> list:
        import numpy as np
        import pandas as pd

        rows = (await request.json())["data"]
        return np.asarray(self.model.predict(pd.DataFrame(rows, columns=self.columns))).tolist()


def main(model_dir: str, port: str) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Unix socket paths are limited to 107 bytes: a short folder of our own under /tmp.
    temp_dir = tempfile.mkdtemp(prefix="bench-ray-")
    ray.init(num_cpus=1, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             _temp_dir=temp_dir, log_to_driver=False, configure_logging=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": int(port)})
        serve.run(Iris.bind(model_dir), route_prefix="/score")
        print("ray serve ready", flush=True)
        stop.wait()
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
