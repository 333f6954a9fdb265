"""``from azureml_inference_server_http.api.aml_response import AMLResponse`` without
Azure's server; the real package wins over this shim when installed."""

from mlkube.server.scorers.raw_response import AMLResponse

__all__ = ["AMLResponse"]
