package gateway

// The gateway's counters at GET /metrics, with the Python gateway's names, labels and
// text format (metrics.py, mlkube.prometheus). Requests answered before a deployment
// was chosen (401, 404) carry deployment="".

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Buckets are the latency bounds in seconds: fine below 100 ms.
var Buckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0}

type histogram struct {
	counts []int64
	total  float64
	count  int64
}

func (h *histogram) observe(v float64) {
	// bisect_left: the first bound >= v.
	h.counts[sort.SearchFloat64s(Buckets, v)]++
	h.total += v
	h.count++
}

type pair struct{ a, b string }

// Metrics counts answered requests, mirrored copies, retries and reloads.
type Metrics struct {
	mu       sync.Mutex
	requests map[pair]int64 // (deployment, status)
	latency  map[string]*histogram
	mirrored map[pair]int64
	reloads  map[pair]int64
	retries  map[pair]int64
}

// NewMetrics, all zero.
func NewMetrics() *Metrics {
	return &Metrics{requests: map[pair]int64{}, latency: map[string]*histogram{},
		mirrored: map[pair]int64{}, reloads: map[pair]int64{}, retries: map[pair]int64{}}
}

// ObserveRequest counts one answer.
func (m *Metrics) ObserveRequest(deployment string, status int, seconds float64) {
	m.mu.Lock()
	m.requests[pair{deployment, strconv.Itoa(status)}]++
	h := m.latency[deployment]
	if h == nil {
		h = &histogram{counts: make([]int64, len(Buckets)+1)}
		m.latency[deployment] = h
	}
	h.observe(seconds)
	m.mu.Unlock()
}

// ObserveMirror counts a mirrored copy's outcome (its status, or why it got none).
func (m *Metrics) ObserveMirror(deployment, outcome string) { m.add(m.mirrored, deployment, outcome) }

// ObserveRetry counts a request sent to another instance (refused or not_ready).
func (m *Metrics) ObserveRetry(deployment, reason string) { m.add(m.retries, deployment, reason) }

// ObserveReload counts a file reload (applied or refused).
func (m *Metrics) ObserveReload(file, outcome string) { m.add(m.reloads, file, outcome) }

func (m *Metrics) add(counter map[pair]int64, a, b string) {
	m.mu.Lock()
	counter[pair{a, b}]++
	m.mu.Unlock()
}

// Gauge is one deployment's in flight and capacity at render time.
type Gauge struct {
	Deployment         string
	InFlight, Capacity int
}

// Render is the Prometheus text exposition.
func (m *Metrics) Render(gauges []Gauge, digest string, mirrorsInFlight int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	family := func(name, kind, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
	}
	counter := func(name, first, second string, values map[pair]int64, numeric bool) {
		keys := make([]pair, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].a != keys[j].a {
				return keys[i].a < keys[j].a
			}
			if numeric { // Python sorts (deployment, int status)
				x, _ := strconv.Atoi(keys[i].b)
				y, _ := strconv.Atoi(keys[j].b)
				return x < y
			}
			return keys[i].b < keys[j].b
		})
		for _, k := range keys {
			fmt.Fprintf(&b, "%s{%s=\"%s\",%s=\"%s\"} %d\n", name, first, k.a, second, k.b, values[k])
		}
	}
	name := "mlkube_gateway_requests_total"
	family(name, "counter", "Requests answered, by deployment and status.")
	counter(name, "deployment", "code", m.requests, true)
	name = "mlkube_gateway_request_duration_seconds"
	family(name, "histogram", "Time from request to answer.")
	deployments := make([]string, 0, len(m.latency))
	for d := range m.latency {
		deployments = append(deployments, d)
	}
	sort.Strings(deployments)
	for _, d := range deployments {
		h := m.latency[d]
		running := int64(0)
		for i, bound := range Buckets {
			running += h.counts[i]
			fmt.Fprintf(&b, "%s_bucket{deployment=\"%s\",le=\"%s\"} %d\n", name, d, bucketText(bound), running)
		}
		fmt.Fprintf(&b, "%s_bucket{deployment=\"%s\",le=\"+Inf\"} %d\n", name, d, h.count)
		fmt.Fprintf(&b, "%s_sum{deployment=\"%s\"} %s\n", name, d, pyFloat(h.total))
		fmt.Fprintf(&b, "%s_count{deployment=\"%s\"} %d\n", name, d, h.count)
	}
	name = "mlkube_gateway_mirrored_requests_total"
	family(name, "counter", "Mirrored copies, by outcome.")
	counter(name, "deployment", "outcome", m.mirrored, false)
	name = "mlkube_gateway_retries_total"
	family(name, "counter", "Requests sent to another instance after one provably did not take them, by reason.")
	counter(name, "deployment", "reason", m.retries, false)
	sort.Slice(gauges, func(i, j int) bool { return gauges[i].Deployment < gauges[j].Deployment })
	family("mlkube_gateway_in_flight", "gauge", "Requests in flight per deployment.")
	for _, g := range gauges {
		fmt.Fprintf(&b, "mlkube_gateway_in_flight{deployment=\"%s\"} %d\n", g.Deployment, g.InFlight)
	}
	family("mlkube_gateway_capacity", "gauge", "Requests a deployment admits at once.")
	for _, g := range gauges {
		fmt.Fprintf(&b, "mlkube_gateway_capacity{deployment=\"%s\"} %d\n", g.Deployment, g.Capacity)
	}
	name = "mlkube_gateway_config_reloads_total"
	family(name, "counter", "Config and keys file reloads.")
	counter(name, "file", "outcome", m.reloads, false)
	family("mlkube_gateway_config_info", "gauge", "The config the gateway is serving.")
	fmt.Fprintf(&b, "mlkube_gateway_config_info{digest=\"%s\"} 1\n", digest)
	// Native only: mirrored copies still in the air (the Python gateway keeps them as
	// tasks a test can see; here a scrape tells).
	family("mlkube_gateway_mirrors_in_flight", "gauge", "Mirrored copies not yet answered.")
	fmt.Fprintf(&b, "mlkube_gateway_mirrors_in_flight %d\n", mirrorsInFlight)
	return b.String()
}

func bucketText(bound float64) string {
	if bound == float64(int64(bound)) {
		return strconv.FormatInt(int64(bound), 10)
	}
	return pyFloat(bound)
}
