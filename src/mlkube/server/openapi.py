"""The OpenAPI document at ``/swagger.json``, and the v2 metadata of a signature.

OpenAPI 3 by default, Swagger 2.0 with ``?version=2`` (what Azure ML's tools read),
with a request example a user can paste: the model's saved input example, else one
synthesised from the signature. Pure functions over the signature and the example.
"""

from __future__ import annotations

import json
from typing import Any

from mlkube.server.signature import InputSignature

_EXAMPLE_VALUES = {"double": 0.0, "float": 0.0, "long": 0, "integer": 0, "boolean": False,
                   "string": "text", "binary": "", "datetime": "2024-01-01T00:00:00"}
_MLFLOW_TO_V2 = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32",
                 "boolean": "BOOL", "string": "BYTES", "binary": "BYTES", "datetime": "BYTES"}
_NUMPY_TO_V2 = {"float64": "FP64", "float32": "FP32", "float16": "FP16", "int64": "INT64",
                "int32": "INT32", "int16": "INT16", "int8": "INT8", "uint8": "UINT8",
                "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64", "bool": "BOOL"}


# Values a column or tensor of each type accepts, exactly as ``signature.py`` checks them:
# a float takes null (a missing value, NaN), never true/false; integers stay in range.
_VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    "double": {"type": "number", "format": "double", "nullable": True},
    "float": {"type": "number", "format": "float", "nullable": True},
    "long": {"type": "integer", "format": "int64", "minimum": -2**63, "maximum": 2**63 - 1},
    "integer": {"type": "integer", "format": "int32", "minimum": -2**31, "maximum": 2**31 - 1},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
}
_TENSOR_VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    "float64": _VALUE_SCHEMAS["double"], "float32": _VALUE_SCHEMAS["float"],
    "float16": {"type": "number", "nullable": True},
    "int64": _VALUE_SCHEMAS["long"], "int32": _VALUE_SCHEMAS["integer"],
    "int16": {"type": "integer", "minimum": -2**15, "maximum": 2**15 - 1},
    "int8": {"type": "integer", "minimum": -2**7, "maximum": 2**7 - 1},
    "uint8": {"type": "integer", "minimum": 0, "maximum": 2**8 - 1},
    "bool": {"type": "boolean"},
}


def request_schema(signature: InputSignature) -> dict[str, Any]:
    """JSON schema of the Azure ML no-code request for this signature.

    It says what the server accepts and no more, so a client (or a fuzzer) that follows
    it is never refused: row width, column names, value types and ranges, one row at
    least. Of the many formats every route takes, it describes Azure ML's
    ``input_data``; the others are listed in the error hint of a request that matches
    none."""
    if signature.kind == "columns":
        input_data = _split_schema(signature)
    elif signature.kind == "tensor":
        input_data = _tensor_schema(signature.tensors[0])
    else:
        input_data = {"description": "Any JSON the model accepts"}
    schema: dict[str, Any] = {"type": "object", "required": ["input_data"],
                              "additionalProperties": False,
                              "properties": {"input_data": input_data}}
    if signature.params:
        schema["properties"]["params"] = {
            "type": "object",
            "nullable": True,
            "additionalProperties": False,
            "properties": {p.name: _param_schema(p) for p in signature.params},
        }
    return schema


def _split_schema(signature: InputSignature) -> dict[str, Any]:
    columns = signature.columns
    names = [c.name for c in columns]
    types = {c.type for c in columns}
    width = len(columns)
    value: dict[str, Any]
    if len(types) == 1:
        value = dict(_VALUE_SCHEMAS.get(columns[0].type, {}))
        # One type for all: the columns may come in any order.
        column_names: dict[str, Any] = {
            "type": "array", "nullable": True, "items": {"type": "string", "enum": names},
            "minItems": width, "maxItems": width, "uniqueItems": True}
    else:
        # A row's values differ in type by position, which OpenAPI 3.0 cannot say per
        # position: the columns come in signature order and each value is one of them.
        value = {"anyOf": [_VALUE_SCHEMAS.get(t, {}) for t in sorted(types)]}
        column_names = {"type": "array", "nullable": True, "items": {"type": "string"},
                        "enum": [names]}
    if any(not c.required for c in columns) and "type" in value:
        value["nullable"] = True
    row = {"type": "array", "minItems": width, "maxItems": width, "items": value}
    return {
        "type": "object",
        "description": "Rows in pandas split orientation; columns: "
        + ", ".join(f"{c.name} ({c.type})" for c in columns),
        "required": ["data"],
        "additionalProperties": False,
        "properties": {
            "columns": {**column_names, "example": names},
            "index": {"type": "array", "nullable": True,
                      "items": {"anyOf": [_VALUE_SCHEMAS["long"], {"type": "string"}]}},
            # Rows, or one row given flat.
            "data": {"anyOf": [{"type": "array", "minItems": 1, "items": row}, row]},
        },
    }


def _tensor_schema(spec: Any) -> dict[str, Any]:
    """Rows of the tensor (the first dimension is the batch), or one row without it."""
    value = dict(_TENSOR_VALUE_SCHEMAS.get(spec.dtype, {}))
    inner: dict[str, Any] = value
    for size in reversed(spec.shape[1:]):
        inner = {"type": "array", "items": inner,
                 **({"minItems": size, "maxItems": size} if size >= 0 else {"minItems": 1})}
    rows = {"type": "array", "minItems": 1, "items": inner}
    description = f"Tensor of {spec.dtype}, shape {list(spec.shape)}"
    if len(spec.shape) < 2:
        return {**rows, "description": description}
    return {"description": description, "anyOf": [rows, inner]}


def _param_schema(param: Any) -> dict[str, Any]:
    if param.shape is not None:
        return {"type": "array", "items": {}, "default": param.default}
    value = {k: v for k, v in _VALUE_SCHEMAS.get(param.type, {}).items() if k != "nullable"}
    return {**value, "default": param.default}


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
    """``/score``'s answer: the predictions as the model returns them (a list for most
    models; an object for named outputs)."""
    return {"description": "The model's predictions"}


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


_ERROR = {
    "type": "object",
    "required": ["error", "error_code", "message", "hint"],
    "properties": {
        "error": {"type": "string"}, "error_code": {"type": "string"},
        "message": {"type": "string"}, "hint": {"type": "string", "nullable": True}},
}


def build_document(
    *,
    title: str,
    request: dict[str, Any],
    example: dict[str, Any] | None,
    response: dict[str, Any],
    version: str = "3",
) -> dict[str, Any]:
    """The whole document; ``version`` "2" gives Swagger 2.0, anything else OpenAPI 3.

    ``/score`` answers the predictions bare, ``/invocations`` wraps them as
    ``{"predictions": ...}``, as MLflow does; every error has the one error shape, whose
    ``hint`` may be null."""
    if example is not None:
        request = {**request, "example": example}
    invocations = {"type": "object", "required": ["predictions"],
                   "properties": {"predictions": response}}
    if version == "2":
        return _swagger2(title, request, response, invocations)
    body: dict[str, Any] = {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ServiceInput"}}}}
    if example is not None:
        body["content"]["application/json"]["example"] = example

    def scoring(output: str) -> dict[str, Any]:
        return {"post": {
            "summary": "Score the model",
            "requestBody": body,
            "responses": {
                "200": {"description": "Predictions", "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{output}"}}}},
                "default": _error_response3(),
            },
        }}

    return {
        "openapi": "3.0.1",
        "info": {"title": title, "version": "1.0"},
        "paths": {
            "/": {"get": {"summary": "Liveness and readiness (as Azure ML's server)",
                          "responses": {
                              "200": {"description": "Healthy", "content": {"text/plain": {
                                  "schema": {"type": "string"}}}},
                              "default": _error_response3()}}},
            "/score": scoring("ServiceOutput"),
            "/invocations": scoring("InvocationsOutput"),
        },
        "components": {"schemas": {"ServiceInput": request, "ServiceOutput": response,
                                   "InvocationsOutput": invocations,
                                   "ErrorResponse": _ERROR}},
    }


def _error_response3() -> dict[str, Any]:
    return {"description": "Error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}


def _swagger2(title: str, request: dict[str, Any], response: dict[str, Any],
              invocations: dict[str, Any]) -> dict[str, Any]:
    def scoring(output: str) -> dict[str, Any]:
        return {"post": {
            "summary": "Score the model",
            "consumes": ["application/json", "text/csv"],
            "produces": ["application/json"],
            "parameters": [{"name": "body", "in": "body", "required": True,
                            "schema": {"$ref": "#/definitions/ServiceInput"}}],
            "responses": {"200": {"description": "Predictions",
                                  "schema": {"$ref": f"#/definitions/{output}"}},
                          "default": {"description": "Error",
                                      "schema": {"$ref": "#/definitions/ErrorResponse"}}},
        }}

    return {
        "swagger": "2.0",
        "info": {"title": title, "version": "1.0"},
        "schemes": ["http"],
        "paths": {"/": _health_v2(), "/score": scoring("ServiceOutput"),
                  "/invocations": scoring("InvocationsOutput")},
        "definitions": {"ServiceInput": swagger2_schema(request),
                        "ServiceOutput": swagger2_schema(response),
                        "InvocationsOutput": swagger2_schema(invocations),
                        "ErrorResponse": swagger2_schema(_ERROR)},
    }


def swagger2_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema in Swagger 2.0's dialect: ``nullable`` is ``x-nullable``, and
    ``anyOf`` (which 2.0 lacks) is dropped, leaving the looser schema around it."""
    if isinstance(schema, list):
        return [swagger2_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {}
    for key, value in schema.items():
        if key == "anyOf":
            continue
        if key == "nullable":
            converted["x-nullable"] = value
        elif key in ("example", "default", "enum"):
            converted[key] = value
        else:
            converted[key] = swagger2_schema(value)
    return converted


def _health_v2() -> dict[str, Any]:
    return {"get": {"summary": "Liveness", "produces": ["text/plain"],
                    "responses": {"200": {"description": "Healthy"}}}}
