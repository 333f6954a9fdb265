# A raw-HTTP script written for newer Azure servers: imports from
# azureml_inference_server_http.api, takes request_headers too, and answers text.
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request, request_headers):
    names = sorted(name for name, _ in request.headers)
    text = f"{request.method} {request_headers.get('X-Token')} {','.join(names)}"
    return AMLResponse(text, 200, {"Content-Type": "text/plain"})
