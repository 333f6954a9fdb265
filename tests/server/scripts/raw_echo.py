# An Azure ML raw-HTTP entry script, written as Azure's docs show it: it answers GET and
# POST itself, reads headers, query arguments and the body, and returns AMLResponse.
import json

from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request: AMLRequest):
    if request.method == "GET":
        return AMLResponse(request.full_path.encode(), 200, {"X-Seen-Method": "GET"})
    if request.method != "POST":
        return AMLResponse("bad request", 405)
    if request.args.get("fail") == "1":
        raise RuntimeError("asked to fail")
    if request.args.get("plain") == "1":
        return {"echo": request.get_data(as_text=True)}  # a plain value: encoded as JSON
    if request.files:
        upload = request.files["image"]
        return AMLResponse({"filename": upload.filename, "size": len(upload.read()),
                            "label": request.form.get("label")}, 200, json_str=True)
    if request.args.get("json") == "1":
        return AMLResponse(request.get_json(), 200, json_str=True)
    body = json.loads(request.get_data())
    answer = {
        "sum": sum(body["values"]),
        "scale": request.args.get("scale", type=float),
        "tags": request.args.getlist("tag"),
        "custom_header": request.headers.get("X-Custom-Header"),
        "content_type": request.headers["Content-Type"],
        "path": request.path,
    }
    return AMLResponse(answer, 201, {"X-Model-Version": "7"}, json_str=True)
