package gateway

// Which deployment answers a request and which ones get a mirrored copy (routing.py):
// the azureml-model-deployment header pins a deployment whatever the weights (and a
// pinned request is never mirrored); otherwise one is drawn by traffic weight; each
// mirror deployment gets its share of unpinned requests unless it is the one answering.

import (
	"fmt"
	"sort"
	"strings"
)

// Draw returns a float uniformly drawn from [0, 1).
type Draw func() float64

// RoutingTable is built once per config load, not per request.
type RoutingTable struct {
	endpoint   string
	known      map[string]bool
	cumulative []int
	weighted   []string
	mirrors    []Weight
}

// NewRoutingTable for config; deployments with weight 0 never win the draw.
func NewRoutingTable(config *Config) *RoutingTable {
	t := &RoutingTable{endpoint: config.Endpoint, known: map[string]bool{}, mirrors: config.Mirror}
	for _, d := range config.Deployments {
		t.known[d.Name] = true
	}
	running := 0
	for _, w := range config.Traffic {
		if w.Percent > 0 {
			running += w.Percent
			t.cumulative = append(t.cumulative, running)
			t.weighted = append(t.weighted, w.Name)
		}
	}
	return t
}

// Choose is the deployment that answers: pinned if given, else one drawn by weight.
func (t *RoutingTable) Choose(pinned string, draw Draw) (string, error) {
	if pinned != "" {
		if !t.known[pinned] {
			names := make([]string, 0, len(t.known))
			for name := range t.known {
				names = append(names, name)
			}
			sort.Strings(names)
			known := strings.Join(names, ", ")
			if known == "" {
				known = "none"
			}
			return "", errNotFound(fmt.Sprintf("Endpoint '%s' has no deployment '%s' (azureml-model-deployment header). Known deployments: %s.", t.endpoint, pinned, known),
				"Name one of the known deployments in the azureml-model-deployment header, or drop the header to route by traffic weights.")
		}
		return pinned, nil
	}
	if len(t.weighted) == 0 {
		return "", errNotFound(fmt.Sprintf("Endpoint '%s' has no deployment with traffic.", t.endpoint),
			fmt.Sprintf("Give a deployment traffic (e.g. `mlkube online-endpoint update -n %s --traffic blue=100`), or pick one with the azureml-model-deployment header.", t.endpoint))
	}
	// The first cumulative weight above the draw (bisect_right).
	point := draw() * float64(t.cumulative[len(t.cumulative)-1])
	index := sort.Search(len(t.cumulative), func(i int) bool { return float64(t.cumulative[i]) > point })
	return t.weighted[min(index, len(t.weighted)-1)], nil
}

// Mirrors are the deployments that get a copy of this unpinned request.
func (t *RoutingTable) Mirrors(primary string, draw Draw) []string {
	var out []string
	for _, m := range t.mirrors {
		if m.Name != primary && draw() < float64(m.Percent)/100 {
			out = append(out, m.Name)
		}
	}
	return out
}
