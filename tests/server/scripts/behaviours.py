# An entry script whose run() does what the request asks: raise, sleep, or return
# numpy / pandas / str values, to test how the server reports and serialises them.
import json
import time

import numpy as np
import pandas as pd

calls = {"init": 0}


def init():
    calls["init"] += 1


def run(raw_data):
    request = json.loads(raw_data)
    if "raise" in request:
        raise ValueError(request["raise"])
    if "sleep" in request:
        time.sleep(request["sleep"])
        return {"slept": request["sleep"]}
    kind = request.get("return")
    if kind == "numpy":
        return np.array([[1.5, 2.5], [3.5, 4.5]])
    if kind == "numpy_scalar":
        return np.float32(0.25)
    if kind == "pandas":
        return pd.DataFrame({"label": ["a", "b"], "score": [0.1, 0.9]})
    if kind == "series":
        return pd.Series([1, 2, 3])
    if kind == "string":
        return "plain text"
    if kind == "init_calls":
        return calls["init"]
    if kind == "object":
        return object()
    return {"echo": request}
