# init() raises: the server must stay up, not ready, with the cause.
def init():
    raise RuntimeError("model file corrupt: checksum mismatch")


def run(data):
    return data
