"""The OpenAPI document at ``/swagger.json``, and the v2 metadata of a signature.

OpenAPI 3 by default, Swagger 2.0 with ``?version=2`` (what Azure ML's tools read),
with a request example a user can paste: the model's saved input example, else one
synthesised from the signature. Pure functions over the signature and the example.
"""

from __future__ import annotations

import json
from typing import Any

from mlkube.server.signature import InputSignature

_JSON_SCHEMA_TYPES = {
    "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
    "long": {"type": "integer", "format": "int64"},
    "integer": {"type": "integer", "format": "int32"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "binary": {"type": "string", "format": "byte"},
    "datetime": {"type": "string", "format": "date-time"},
}
_EXAMPLE_VALUES = {"double": 0.0, "float": 0.0, "long": 0, "integer": 0, "boolean": False,
                   "string": "text", "binary": "", "datetime": "2024-01-01T00:00:00"}
_MLFLOW_TO_V2 = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32",
                 "boolean": "BOOL", "string": "BYTES", "binary": "BYTES", "datetime": "BYTES"}
_NUMPY_TO_V2 = {"float64": "FP64", "float32": "FP32", "float16": "FP16", "int64": "INT64",
                "int32": "INT32", "int16": "INT16", "int8": "INT8", "uint8": "UINT8",
                "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64", "bool": "BOOL"}


def request_schema(signature: InputSignature) -> dict[str, Any]:
    """JSON schema of the Azure ML no-code request for this signature."""
    if signature.kind == "columns":
        input_data: dict[str, Any] = {
            "type": "object",
            "description": "Rows in pandas split orientation; columns: "
            + ", ".join(f"{c.name} ({c.type})" for c in signature.columns),
            "required": ["data"],
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"},
                            "example": [c.name for c in signature.columns]},
                "index": {"type": "array", "items": {"type": "integer"}},
                "data": {"type": "array", "items": {"type": "array", "items": {}}},
            },
        }
    elif signature.kind == "tensor":
        spec = signature.tensors[0]
        input_data = {"type": "array", "items": {},
                      "description": f"Tensor of {spec.dtype}, shape {list(spec.shape)}"}
    else:
        input_data = {"description": "Any JSON the model accepts"}
    schema: dict[str, Any] = {"type": "object", "required": ["input_data"],
                              "properties": {"input_data": input_data}}
    if signature.params:
        schema["properties"]["params"] = {
            "type": "object",
            "properties": {
                p.name: {**_JSON_SCHEMA_TYPES.get(p.type, {}), "default": p.default}
                for p in signature.params
            },
        }
    return schema


def request_example(signature: InputSignature, input_example: Any) -> dict[str, Any] | None:
    """A ready-to-send request body: the saved input example, else synthesised."""
    if signature.kind == "columns":
        names = [c.name for c in signature.columns]
        if isinstance(input_example, dict) and "data" in input_example:
            columns = input_example.get("columns", names)
            data = input_example["data"]
        else:
            columns, data = names, [[_EXAMPLE_VALUES.get(c.type, None)
                                     for c in signature.columns]]
        return {"input_data": {"columns": columns, "index": list(range(len(data))),
                               "data": data}}
    if signature.kind == "tensor":
        if isinstance(input_example, dict) and "inputs" in input_example:
            input_example = input_example["inputs"]
        if isinstance(input_example, list):
            return {"input_data": input_example}
        spec = signature.tensors[0]
        inner = [0.0] * (spec.shape[-1] if spec.shape and spec.shape[-1] > 0 else 1)
        return {"input_data": [inner]}
    if input_example is not None:
        return {"input_data": input_example}
    return None


def response_schema() -> dict[str, Any]:
    return {"type": "array", "items": {}, "description": "The model's predictions"}


def v2_tensor_metadata(items: Any, *, unnamed: str = "input") -> list[dict[str, Any]]:
    """Open Inference Protocol ``inputs``/``outputs`` metadata from a signature part;
    unnamed tensors are called ``unnamed`` (``predict`` for outputs, as responses name
    them)."""
    if not items:
        return []
    if isinstance(items, str):
        items = json.loads(items)
    result = []
    for i, item in enumerate(items):
        if item.get("type") == "tensor":
            spec = item.get("tensor-spec", {})
            result.append({"name": item.get("name") or (unnamed if i == 0 else f"{unnamed}-{i}"),
                           "datatype": _NUMPY_TO_V2.get(str(spec.get("dtype")), "BYTES"),
                           "shape": list(spec.get("shape") or [-1])})
        else:
            result.append({"name": item.get("name", f"column-{i}"),
                           "datatype": _MLFLOW_TO_V2.get(str(item.get("type")), "BYTES"),
                           "shape": [-1]})
    return result


def build_document(
    *,
    title: str,
    request: dict[str, Any],
    example: dict[str, Any] | None,
    response: dict[str, Any],
    version: str = "3",
) -> dict[str, Any]:
    """The whole document; ``version`` "2" gives Swagger 2.0, anything else OpenAPI 3."""
    if example is not None:
        request = {**request, "example": example}
    error = {"type": "object", "properties": {
        "error": {"type": "string"}, "error_code": {"type": "string"},
        "message": {"type": "string"}, "hint": {"type": "string"}}}
    if version == "2":
        scoring = {
            "post": {
                "summary": "Score the model",
                "consumes": ["application/json", "text/csv"],
                "produces": ["application/json"],
                "parameters": [{"name": "body", "in": "body", "required": True,
                                "schema": {"$ref": "#/definitions/ServiceInput"}}],
                "responses": {"200": {"description": "Predictions",
                                      "schema": {"$ref": "#/definitions/ServiceOutput"}},
                              "default": {"description": "Error",
                                          "schema": {"$ref": "#/definitions/ErrorResponse"}}},
            }
        }
        return {
            "swagger": "2.0",
            "info": {"title": title, "version": "1.0"},
            "schemes": ["http"],
            "paths": {"/": _health_v2(), "/score": scoring},
            "definitions": {"ServiceInput": request, "ServiceOutput": response,
                            "ErrorResponse": error},
        }
    body: dict[str, Any] = {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ServiceInput"}}}}
    if example is not None:
        body["content"]["application/json"]["example"] = example
    scoring3 = {
        "post": {
            "summary": "Score the model",
            "requestBody": body,
            "responses": {
                "200": {"description": "Predictions", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ServiceOutput"}}}},
                "default": {"description": "Error", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}},
            },
        }
    }
    return {
        "openapi": "3.0.1",
        "info": {"title": title, "version": "1.0"},
        "paths": {"/": {"get": {"summary": "Liveness", "responses": {
                      "200": {"description": "Healthy"}}}},
                  "/score": scoring3, "/invocations": scoring3},
        "components": {"schemas": {"ServiceInput": request, "ServiceOutput": response,
                                   "ErrorResponse": error}},
    }


def _health_v2() -> dict[str, Any]:
    return {"get": {"summary": "Liveness", "produces": ["text/plain"],
                    "responses": {"200": {"description": "Healthy"}}}}
