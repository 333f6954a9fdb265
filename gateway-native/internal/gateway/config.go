package gateway

// The gateway's config file, as src/mlkube/gateway/config.py defines it: the contract
// between a target and the endpoint's gateway. Loading is a pure function of the text
// that returns a Config or an *Error naming the field and the fix, with the Python
// gateway's messages; Digest is the Python gateway's digest of the same content, so
// targets and autoscalers that poll GET / see the same value whichever engine serves.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// request_settings defaults: Azure ML's, except 8 in flight per instance (mlkube.request_defaults).
const (
	DefaultRequestTimeoutMS     = 5000
	DefaultMaxConcurrentPerInst = 8
	DefaultMaxQueueWaitMS       = 500
)

var authModes = []string{"key", "aml_token"}

// states are Azure ML's provisioning states; only Succeeded means healthy.
var states = []string{"Succeeded", "Creating", "Updating", "Failed", "Deleting", "Canceled"}

var (
	topFields         = []string{"auth_mode", "deployments", "endpoint", "mirror_traffic", "traffic"}
	deploymentFields  = []string{"instance_count", "instances", "max_concurrent_requests_per_instance", "max_queue_wait_ms", "reason", "request_timeout_ms", "scale_to_zero", "state"}
	scaleToZeroFields = []string{"after_s", "held_limit", "kubernetes_deployment"}
)

// ScaleToZero marks a deployment that stops when idle and is started by a request.
type ScaleToZero struct {
	AfterS               float64
	HeldLimit            int
	KubernetesDeployment string // empty: the target starts instances
}

// Deployment is one deployment as the gateway sees it.
type Deployment struct {
	Name                 string
	Instances            []string
	RequestTimeoutMS     int
	MaxConcurrentPerInst int
	MaxQueueWaitMS       int
	State                string
	Reason               *string
	InstanceCount        *int // servers behind the URLs when one fronts several
	ScaleToZero          *ScaleToZero
}

// Capacity is the requests in flight at once before new ones queue, then get 429.
func (d *Deployment) Capacity() int {
	if len(d.Instances) == 0 {
		return 0
	}
	count := len(d.Instances)
	if d.InstanceCount != nil {
		count = *d.InstanceCount
	}
	return d.MaxConcurrentPerInst * count
}

// Config is what one endpoint's gateway routes. Traffic and mirror keep file order.
type Config struct {
	Endpoint    string
	AuthMode    string
	Traffic     []Weight
	Mirror      []Weight // only shares > 0
	Deployments []*Deployment
	byName      map[string]*Deployment
	digest      string
}

// Weight is a deployment's percent of traffic (or of mirrored copies).
type Weight struct {
	Name    string
	Percent int
}

// Deployment by name, or nil.
func (c *Config) Deployment(name string) *Deployment { return c.byName[name] }

// Digest is the Python gateway's GatewayConfig.digest of the same content.
func (c *Config) Digest() string { return c.digest }

// toDict is GatewayConfig.to_dict(), the content the digest hashes.
func (c *Config) toDict() map[string]any {
	deployments := map[string]any{}
	for _, d := range c.Deployments {
		instances := make([]any, len(d.Instances))
		for i, u := range d.Instances {
			instances[i] = u
		}
		entry := map[string]any{
			"instances":                            instances,
			"request_timeout_ms":                   d.RequestTimeoutMS,
			"max_concurrent_requests_per_instance": d.MaxConcurrentPerInst,
			"max_queue_wait_ms":                    d.MaxQueueWaitMS,
			"state":                                d.State,
			"reason":                               nil,
		}
		if d.Reason != nil {
			entry["reason"] = *d.Reason
		}
		if d.InstanceCount != nil {
			entry["instance_count"] = *d.InstanceCount
		}
		if s := d.ScaleToZero; s != nil {
			var target any
			if s.KubernetesDeployment != "" {
				target = s.KubernetesDeployment
			}
			entry["scale_to_zero"] = map[string]any{"after_s": pyFloatValue(s.AfterS),
				"held_limit": s.HeldLimit, "kubernetes_deployment": target}
		}
		deployments[d.Name] = entry
	}
	return map[string]any{
		"endpoint":       c.Endpoint,
		"auth_mode":      c.AuthMode,
		"traffic":        weightsDict(c.Traffic),
		"mirror_traffic": weightsDict(c.Mirror),
		"deployments":    deployments,
	}
}

func weightsDict(weights []Weight) map[string]any {
	out := map[string]any{}
	for _, w := range weights {
		out[w.Name] = w.Percent
	}
	return out
}

// LoadConfig parses and validates a config file's text; source names it in errors.
func LoadConfig(text []byte, source string) (*Config, error) {
	data, err := parseMapping(text, source)
	if err != nil {
		return nil, err
	}
	if unknown := unknownFields(data, topFields); unknown != "" {
		return nil, invalid(source, unknown, "is not a gateway config field",
			"use only "+strings.Join(topFields, ", "))
	}
	endpointValue, _ := data.get("endpoint")
	endpoint, ok := endpointValue.(string)
	if !ok || endpoint == "" {
		return nil, invalid(source, "endpoint", "must be the endpoint's name (a non-empty string)",
			`add "endpoint": "<name>"`)
	}
	authMode := "key"
	if v, ok := data.get("auth_mode"); ok {
		mode, _ := v.(string)
		if !contains(authModes, mode) {
			return nil, invalid(source, "auth_mode",
				fmt.Sprintf("is %s, not one of ('key', 'aml_token')", pyRepr(v)),
				`set "auth_mode" to "key" or "aml_token"`)
		}
		authMode = mode
	}
	config := &Config{Endpoint: endpoint, AuthMode: authMode, byName: map[string]*Deployment{}}
	rawDeployments := any(&object{values: map[string]any{}})
	if v, ok := data.get("deployments"); ok {
		rawDeployments = v
	}
	deployments, ok := rawDeployments.(*object)
	if !ok {
		return nil, invalid(source, "deployments", "must map deployment names to their settings",
			`write "deployments": {"blue": {"instances": ["http://127.0.0.1:5001"]}}`)
	}
	for _, name := range deployments.keys {
		d, err := loadDeployment(name, deployments.values[name], source)
		if err != nil {
			return nil, err
		}
		config.Deployments = append(config.Deployments, d)
		config.byName[name] = d
	}
	traffic, err := loadPercentages(data, "traffic", config, source)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, w := range traffic {
		total += w.Percent
	}
	if total != 0 && total != 100 {
		return nil, invalid(source, "traffic", fmt.Sprintf("adds up to %d %%", total),
			"make the weights add up to 100 (or all 0 to stop routing by weight)")
	}
	config.Traffic = traffic
	mirror, err := loadPercentages(data, "mirror_traffic", config, source)
	if err != nil {
		return nil, err
	}
	for _, w := range mirror {
		if w.Percent > 0 {
			config.Mirror = append(config.Mirror, w)
		}
	}
	var canonical strings.Builder
	writeCanonical(&canonical, config.toDict())
	sum := sha256.Sum256([]byte(canonical.String()))
	config.digest = hex.EncodeToString(sum[:])[:16]
	return config, nil
}

func parseMapping(text []byte, source string) (*object, error) {
	value, err := decodeOrdered(text)
	if err != nil {
		// The Python gateway also reads YAML; targets write JSON, and so must a person
		// writing a file for this engine.
		return nil, errValidation(fmt.Sprintf("%s is not JSON: %v", source, err),
			"Write the gateway config as a JSON object (see mlkube.gateway.config); the "+
				"native gateway does not read YAML.")
	}
	data, ok := value.(*object)
	if !ok {
		return nil, errValidation(fmt.Sprintf("%s must hold one JSON object, not %s", source, pyTypeName(value)),
			`Start from {"endpoint": "<name>", "traffic": {}, "deployments": {}}.`)
	}
	return data, nil
}

func loadDeployment(name string, raw any, source string) (*Deployment, error) {
	where := "deployments." + name
	spec, err := checkObject(raw, deploymentFields, where, "deployment", source, `{"instances": ["http://..."]}`)
	if err != nil {
		return nil, err
	}
	d := &Deployment{Name: name, State: "Succeeded"}
	if v, ok := spec.get("instances"); ok {
		list, isList := v.([]any)
		if !isList {
			return nil, invalid(source, where+".instances", "must be a list of URLs", `["http://127.0.0.1:5001"]`)
		}
		for _, item := range list {
			u, isString := item.(string)
			if !isString {
				return nil, invalid(source, where+".instances", "must be a list of URLs", `["http://127.0.0.1:5001"]`)
			}
			d.Instances = append(d.Instances, u)
		}
	}
	for i, u := range d.Instances {
		if err := checkInstanceURL(u, where+".instances", source); err != nil {
			return nil, err
		}
		d.Instances[i] = strings.TrimRight(u, "/")
	}
	if v, ok := spec.get("state"); ok {
		state, _ := v.(string)
		if !contains(states, state) {
			return nil, invalid(source, where+".state",
				fmt.Sprintf("is %s, not one of ('Succeeded', 'Creating', 'Updating', 'Failed', 'Deleting', 'Canceled')", pyRepr(v)),
				"use an Azure ML provisioning state")
		}
		d.State = state
	}
	if v, ok := spec.get("reason"); ok && v != nil {
		reason, isString := v.(string)
		if !isString {
			return nil, invalid(source, where+".reason", "must be a string or null",
				"describe why the deployment is not Succeeded")
		}
		d.Reason = &reason
	}
	if d.RequestTimeoutMS, err = positiveInt(spec, "request_timeout_ms", DefaultRequestTimeoutMS, where, source, false); err != nil {
		return nil, err
	}
	if d.MaxConcurrentPerInst, err = positiveInt(spec, "max_concurrent_requests_per_instance", DefaultMaxConcurrentPerInst, where, source, false); err != nil {
		return nil, err
	}
	if d.MaxQueueWaitMS, err = positiveInt(spec, "max_queue_wait_ms", DefaultMaxQueueWaitMS, where, source, true); err != nil {
		return nil, err
	}
	if v, ok := spec.get("instance_count"); ok && v != nil {
		count, err := positiveInt(spec, "instance_count", 1, where, source, false)
		if err != nil {
			return nil, err
		}
		d.InstanceCount = &count
	}
	if v, ok := spec.get("scale_to_zero"); ok && v != nil {
		if d.ScaleToZero, err = loadScaleToZero(v, where, source); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func loadScaleToZero(raw any, where, source string) (*ScaleToZero, error) {
	where += ".scale_to_zero"
	spec, err := checkObject(raw, scaleToZeroFields, where, "scale_to_zero", source, `{"after_s": 300, "held_limit": 4}`)
	if err != nil {
		return nil, err
	}
	afterValue, _ := spec.get("after_s")
	after, ok := asNumber(afterValue)
	if !ok || after <= 0 {
		return nil, invalid(source, where+".after_s", fmt.Sprintf("is %s, not a positive number", pyRepr(afterValue)),
			"give the idle seconds before the deployment stops")
	}
	s := &ScaleToZero{AfterS: after}
	if v, ok := spec.get("kubernetes_deployment"); ok && v != nil {
		target, isString := v.(string)
		if !isString || target == "" {
			return nil, invalid(source, where+".kubernetes_deployment",
				fmt.Sprintf("is %s, not a Deployment name", pyRepr(v)), "give the Deployment's name")
		}
		s.KubernetesDeployment = target
	}
	if s.HeldLimit, err = positiveInt(spec, "held_limit", 1, where, source, false); err != nil {
		return nil, err
	}
	return s, nil
}

func checkObject(raw any, fields []string, where, kind, source, example string) (*object, error) {
	obj, ok := raw.(*object)
	if !ok {
		return nil, invalid(source, where, "must be an object", example)
	}
	if unknown := unknownFields(obj, fields); unknown != "" {
		return nil, invalid(source, where+"."+unknown, "is not a "+kind+" field",
			"use only "+strings.Join(fields, ", "))
	}
	return obj, nil
}

// unknownFields is the first (sorted) key of obj not in fields, or "".
func unknownFields(obj *object, fields []string) string {
	var unknown []string
	for _, key := range obj.keys {
		if !contains(fields, key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) == 0 {
		return ""
	}
	sort.Strings(unknown)
	return unknown[0]
}

func checkInstanceURL(raw, where, source string) error {
	parts, err := url.Parse(raw)
	if err != nil || parts.Scheme != "http" || parts.Hostname() == "" {
		return invalid(source, where, fmt.Sprintf("has %s, which is not an http://host:port URL", pyRepr(raw)),
			"give each instance as http://HOST:PORT (the gateway speaks plain HTTP "+
				"to inference servers; TLS ends at the gateway or the ingress)")
	}
	if port := parts.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return invalid(source, where, fmt.Sprintf("has %s, whose port is not a number 1-65535", pyRepr(raw)),
				"give each instance as http://HOST:PORT")
		}
	} else if strings.HasSuffix(parts.Host, ":") {
		return invalid(source, where, fmt.Sprintf("has %s, whose port is not a number 1-65535", pyRepr(raw)),
			"give each instance as http://HOST:PORT")
	}
	if parts.RawQuery != "" || parts.Fragment != "" || strings.ContainsAny(raw, "?#") {
		return invalid(source, where, fmt.Sprintf("has %s with a query or fragment", pyRepr(raw)),
			"give only scheme, host, port and an optional path prefix")
	}
	return nil
}

func positiveInt(spec *object, key string, fallback int, where, source string, allowZero bool) (int, error) {
	low := int64(1)
	if allowZero {
		low = 0
	}
	v, ok := spec.get(key)
	if !ok {
		return fallback, nil
	}
	n, isInt := asInt(v)
	if !isInt || n < low {
		return 0, invalid(source, where+"."+key, fmt.Sprintf("is %s, not an integer >= %d", pyRepr(v), low),
			fmt.Sprintf("set it to a whole number (Azure ML's default is %d)", fallback))
	}
	return int(n), nil
}

func loadPercentages(data *object, key string, config *Config, source string) ([]Weight, error) {
	raw, ok := data.get(key)
	if !ok {
		return nil, nil
	}
	obj, isObject := raw.(*object)
	if !isObject {
		return nil, invalid(source, key, "must map deployment names to percentages",
			fmt.Sprintf(`write "%s": {"blue": 100}`, key))
	}
	var out []Weight
	for _, name := range obj.keys {
		v := obj.values[name]
		pct, isInt := asInt(v)
		if !isInt || pct < 0 || pct > 100 {
			return nil, invalid(source, key+"."+name, fmt.Sprintf("is %s, not a whole percent 0-100", pyRepr(v)),
				"give an integer between 0 and 100")
		}
		if config.byName[name] == nil {
			known := make([]string, 0, len(config.Deployments))
			for _, d := range config.Deployments {
				known = append(known, d.Name)
			}
			sort.Strings(known)
			list := strings.Join(known, ", ")
			if list == "" {
				list = "none"
			}
			return nil, invalid(source, key+"."+name, "names a deployment the config lacks",
				fmt.Sprintf("add it under deployments (known: %s)", list))
		}
		out = append(out, Weight{name, int(pct)})
	}
	return out, nil
}

func invalid(source, where, problem, fix string) *Error {
	return errValidation(fmt.Sprintf("%s: %s %s", source, where, problem), fix)
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

func pyTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case string:
		return "str"
	case []any:
		return "list"
	case *object:
		return "dict"
	}
	if _, ok := asInt(v); ok {
		return "int"
	}
	return "float"
}
