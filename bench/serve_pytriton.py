"""The PyTriton peer: Triton Inference Server's C++ HTTP front end and scheduler (the
binary ships in the nvidia-pytriton wheel) with a Python callable on the LightGBM booster.

Runs in its own virtualenv (requirements-pytriton.txt). Triton's dynamic batcher may hand
the callable several queued requests at once, up to the batch size the other batching
peers use.

    python serve_pytriton.py MODEL_DIR HTTP_PORT GRPC_PORT METRICS_PORT MAX_BATCH_SIZE

``POST /v2/models/iris/infer`` with one FP64 input ``input`` of shape (rows, 4); the
answer's ``output`` is (rows, 3).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

import lightgbm
import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig


def main(model_dir: str, http_port: str, grpc_port: str, metrics_port: str,
         max_batch_size: str) -> None:
    # Triton runs the callable's proxy in its Python stub, linked against libpython3.X by
    # soname: it must load this interpreter's libpython, not the system's (a patch release
    # whose C parts do not match this standard library fails in multiprocessing).
    libdir = sysconfig.get_config_var("LIBDIR")
    os.environ["LD_LIBRARY_PATH"] = os.pathsep.join(
        filter(None, [libdir, os.environ.get("LD_LIBRARY_PATH")]))
    booster = lightgbm.Booster(model_file=str(Path(model_dir) / "model.lgb"))

    @batch
    def infer(input: np.ndarray) -> dict[str, np.ndarray]:  # noqa: A002 (the tensor's name)
        return {"output": booster.predict(input)}

    config = TritonConfig(http_address="127.0.0.1", http_port=int(http_port),
                          grpc_address="127.0.0.1", grpc_port=int(grpc_port),
                          metrics_address="127.0.0.1", metrics_port=int(metrics_port))
    # Triton's model store in the server's work folder (the default, under ~/.cache, is
    # left behind when the benchmark stops the tree), fresh each start.
    workspace = Path.cwd() / "triton-workspace"
    shutil.rmtree(workspace, ignore_errors=True)
    with Triton(config=config, workspace=workspace) as triton:
        triton.bind(model_name="iris", infer_func=infer,
                    inputs=[Tensor(name="input", dtype=np.float64, shape=(4,))],
                    outputs=[Tensor(name="output", dtype=np.float64, shape=(3,))],
                    config=ModelConfig(max_batch_size=int(max_batch_size)))
        triton.serve()


if __name__ == "__main__":
    main(*sys.argv[1:])
