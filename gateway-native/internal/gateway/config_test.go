package gateway

import (
	"os"
	"strings"
	"testing"
)

// Digests computed by the Python gateway (mlkube.gateway.config) for the same text:
// both engines must report the same config_digest, which targets poll for.
func TestDigestMatchesThePythonGateway(t *testing.T) {
	text, err := os.ReadFile("testdata/full-config.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ text, digest string }{
		{string(text), "6872a940b83c7668"},
		{`{"endpoint":"e","deployments":{}}`, "3d08f30d9bffeb82"},
	} {
		config, err := LoadConfig([]byte(c.text), "cfg")
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		if config.Digest() != c.digest {
			t.Errorf("digest %s, the Python gateway's is %s", config.Digest(), c.digest)
		}
	}
}

func TestConfigKeepsOrderDefaultsAndDropsZeroMirrors(t *testing.T) {
	text, _ := os.ReadFile("testdata/full-config.json")
	config, err := LoadConfig(text, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if config.AuthMode != "aml_token" || len(config.Deployments) != 4 || config.Deployments[0].Name != "blue" {
		t.Fatalf("unexpected config %+v", config)
	}
	blue := config.Deployment("blue")
	if blue.Instances[0] != "http://127.0.0.1:5001" || blue.RequestTimeoutMS != 3000 ||
		blue.MaxConcurrentPerInst != 8 || blue.MaxQueueWaitMS != 500 || blue.Capacity() != 16 {
		t.Errorf("blue: %+v", blue)
	}
	if green := config.Deployment("green"); green.Capacity() != 24 || green.State != "Updating" {
		t.Errorf("green: %+v", green)
	}
	if red := config.Deployment("red"); red.Capacity() != 0 || red.ScaleToZero.HeldLimit != 4 {
		t.Errorf("red: %+v", red)
	}
	if len(config.Mirror) != 1 || config.Mirror[0] != (Weight{"red", 20}) {
		t.Errorf("mirror %v: a 0 %% share is dropped", config.Mirror)
	}
}

// The messages and hints are the Python gateway's, word for word.
func TestBadConfigsNameTheFieldAndTheFix(t *testing.T) {
	for _, c := range []struct{ text, message, hint string }{
		{`{"endpoint":"e","traffic":{"blue":60},"deployments":{"blue":{"instances":[]}}}`,
			"cfg: traffic adds up to 60 %", "make the weights add up to 100 (or all 0 to stop routing by weight)"},
		{`{"endpoint":"e","version":2}`,
			"cfg: version is not a gateway config field", "use only auth_mode, deployments, endpoint, mirror_traffic, traffic"},
		{`{"endpoint":"e","deployments":{"b":{"instances":["ftp://x"]}}}`,
			"cfg: deployments.b.instances has 'ftp://x', which is not an http://host:port URL", "give each instance as http://HOST:PORT"},
		{`{"endpoint":"e","deployments":{"b":{"request_timeout_ms":5.0}}}`,
			"cfg: deployments.b.request_timeout_ms is 5.0, not an integer >= 1", "set it to a whole number (Azure ML's default is 5000)"},
		{`{"endpoint":"e","deployments":{"b":{"max_queue_wait_ms":-1}}}`,
			"cfg: deployments.b.max_queue_wait_ms is -1, not an integer >= 0", "set it to a whole number (Azure ML's default is 500)"},
		{`{"endpoint":"e","deployments":{"b":{"scale_to_zero":{"after_s":0}}}}`,
			"cfg: deployments.b.scale_to_zero.after_s is 0, not a positive number", "give the idle seconds before the deployment stops"},
		{`{"endpoint":"e","traffic":{"x":100},"deployments":{"b":{}}}`,
			"cfg: traffic.x names a deployment the config lacks", "add it under deployments (known: b)"},
		{`{"endpoint":"e","auth_mode":"none"}`,
			"cfg: auth_mode is 'none', not one of ('key', 'aml_token')", `set "auth_mode" to "key" or "aml_token"`},
		{`[1]`, "cfg must hold one JSON object, not list", `Start from {"endpoint": "<name>", "traffic": {}, "deployments": {}}.`},
		{`{not json`, "cfg is not JSON", "the native gateway does not read YAML"},
	} {
		_, err := LoadConfig([]byte(c.text), "cfg")
		gwErr, ok := err.(*Error)
		if !ok {
			t.Errorf("%s: got %v, want a validation error", c.text, err)
			continue
		}
		if !strings.HasPrefix(gwErr.Message, c.message) || !strings.Contains(gwErr.Hint, c.hint) {
			t.Errorf("%s:\n got  %q | %q\n want %q | %q", c.text, gwErr.Message, gwErr.Hint, c.message, c.hint)
		}
		if gwErr.Status != 400 || gwErr.Code != "INVALID_PARAMETER_VALUE" {
			t.Errorf("%s: status %d code %s", c.text, gwErr.Status, gwErr.Code)
		}
	}
}

func TestPythonFloatRepr(t *testing.T) {
	for value, want := range map[float64]string{300: "300.0", 0.5: "0.5", 1e-5: "1e-05", 1e16: "1e+16",
		1234567.0: "1234567.0", 0.0001: "0.0001", 123.456: "123.456"} {
		if got := pyFloat(value); got != want {
			t.Errorf("pyFloat(%v) = %s, Python says %s", value, got, want)
		}
	}
}
