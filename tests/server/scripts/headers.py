# run() takes request_headers, as Azure ML passes them.
def init():
    pass


def run(data, request_headers):
    return {"data": data, "custom": request_headers.get("X-Custom-Header"),
            "content_type": request_headers.get("Content-Type")}
