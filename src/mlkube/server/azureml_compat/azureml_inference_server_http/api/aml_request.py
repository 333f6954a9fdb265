"""``from azureml_inference_server_http.api.aml_request import AMLRequest, rawhttp``
(the import path newer Azure scripts use) without Azure's server; the real package,
a regular package, wins over this namespace portion when installed."""

from mlkube.server.scorers.raw_request import AMLRequest, rawhttp

__all__ = ["AMLRequest", "rawhttp"]
