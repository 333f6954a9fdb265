# init() blocks until the test creates a release file: a model that loads slowly.
import os
import time


def init():
    release = os.environ["MLKUBE_TEST_RELEASE_FILE"]
    deadline = time.monotonic() + 60
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.02)


def run(data):
    return "loaded"
