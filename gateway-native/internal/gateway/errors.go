// Package gateway is the native engine of an mlkube endpoint gateway: the same config
// file, keys file, routes, status codes and JSON error bodies as the Python gateway
// (src/mlkube/gateway/), at a fraction of its CPU per request.
package gateway

import "strings"

// Error is an answer the gateway gives itself, in mlkube's one JSON error shape
// {"error", "error_code", "message", "hint"} (mlkube.errors.error_body). It never
// carries the payload or a credential.
type Error struct {
	Status  int
	Code    string
	Message string
	Hint    string // empty means null
}

func (e *Error) Error() string { return e.Message }

// Body is the JSON error body, with the fields in the Python gateway's order.
func (e *Error) Body() []byte {
	var b strings.Builder
	b.WriteString(`{"error":`)
	writeJSONString(&b, e.Message, false)
	b.WriteString(`,"error_code":`)
	writeJSONString(&b, e.Code, false)
	b.WriteString(`,"message":`)
	writeJSONString(&b, e.Message, false)
	b.WriteString(`,"hint":`)
	if e.Hint == "" {
		b.WriteString("null")
	} else {
		writeJSONString(&b, e.Hint, false)
	}
	b.WriteString("}")
	return []byte(b.String())
}

// The error kinds the gateway answers with; status and code as in mlkube.errors.
func errValidation(msg, hint string) *Error {
	return &Error{400, "INVALID_PARAMETER_VALUE", msg, hint}
}
func errArtifactsNotFound(msg, hint string) *Error {
	return &Error{400, "REQUIRED_ARTIFACTS_NOT_FOUND", msg, hint}
}
func errMalformed(msg, hint string) *Error    { return &Error{400, "BAD_REQUEST", msg, hint} }
func errUnauthorized(msg, hint string) *Error { return &Error{401, "UNAUTHORIZED", msg, hint} }
func errNotFound(msg, hint string) *Error {
	return &Error{404, "RESOURCE_DOES_NOT_EXIST", msg, hint}
}
func errTooLarge(msg, hint string) *Error { return &Error{413, "PAYLOAD_TOO_LARGE", msg, hint} }
func errModelContainer(msg, hint string) *Error {
	return &Error{424, "MODEL_CONTAINER_ERROR", msg, hint}
}
func errTooManyRequests(msg, hint string) *Error {
	return &Error{429, "TOO_MANY_REQUESTS", msg, hint}
}
func errHeaderTooLarge(msg, hint string) *Error {
	return &Error{431, "REQUEST_HEADER_TOO_LARGE", msg, hint}
}
func errInternal(msg, hint string) *Error      { return &Error{500, "INTERNAL_ERROR", msg, hint} }
func errBadGateway(msg, hint string) *Error    { return &Error{502, "BAD_GATEWAY", msg, hint} }
func errModelNotReady(msg, hint string) *Error { return &Error{503, "MODEL_NOT_READY", msg, hint} }
func errDeploymentStarting(msg, hint string) *Error {
	return &Error{503, "DEPLOYMENT_STARTING", msg, hint}
}
func errTooManyConnections(msg, hint string) *Error {
	return &Error{503, "TOO_MANY_CONNECTIONS", msg, hint}
}
func errScoringTimeout(msg, hint string) *Error { return &Error{504, "SCORING_TIMEOUT", msg, hint} }
