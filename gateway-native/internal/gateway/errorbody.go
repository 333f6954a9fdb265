package gateway

// Reading an inference server's JSON error body (mlkube.errors.parse_error_body): the
// gateway retries a 503 only when its error_code says the model is not loaded yet.

import "encoding/json"

type errorBody struct {
	code    string
	message string
}

func parseErrorBody(body []byte) (errorBody, bool) {
	var data map[string]any
	if json.Unmarshal(body, &data) != nil {
		return errorBody{}, false
	}
	code, _ := data["error_code"].(string)
	message, _ := data["message"].(string)
	if message == "" {
		message, _ = data["error"].(string)
	}
	return errorBody{code, message}, true
}
