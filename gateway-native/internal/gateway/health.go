package gateway

// GET / (no auth): which engine ("native" here, "python" in the Python gateway) and
// replica answer, the config digest and keys fingerprint it serves, and what autoscalers read (src/mlkube/targets/local/autoscaler.py): requests
// in flight or queued per deployment (retired ones included, so a deployment that lost
// its traffic may be stopped once it reaches 0), per instance URL, requests held for a
// deployment at zero instances, idle_s and busy_s.

import (
	"math"
	"strconv"
	"strings"
)

func (g *Gateway) health() []byte {
	routes := g.routes.Load()
	g.mu.Lock()
	kept := g.retired[:0]
	for _, pool := range g.retired {
		if pool.Busy() > 0 {
			kept = append(kept, pool)
		}
	}
	g.retired = kept
	retired := append([]*Pool(nil), kept...)
	g.mu.Unlock()

	var busyNames, instanceURLs []string
	busy := map[string]int{}
	perInstance := map[string]int{}
	for _, pool := range append(append([]*Pool(nil), routes.poolList...), retired...) {
		name := pool.Route.Name
		if _, seen := busy[name]; !seen {
			busyNames = append(busyNames, name)
		}
		busy[name] += pool.Busy()
		counts, _ := pool.InFlight()
		for i, u := range pool.Route.Instances {
			if _, seen := perInstance[u]; !seen {
				instanceURLs = append(instanceURLs, u)
			}
			perInstance[u] += counts[i]
		}
	}
	var b strings.Builder
	b.WriteString(`{"status":"Healthy","engine":"native","endpoint":`)
	writeJSONString(&b, routes.config.Endpoint, false)
	b.WriteString(`,"replica":`)
	writeJSONString(&b, g.replica, false)
	b.WriteString(`,"config_digest":"` + routes.config.Digest() + `","keys_fingerprint":"` + routes.keysFingerprint + `"`)
	writeWeights(&b, "traffic", routes.config.Traffic)
	writeWeights(&b, "mirror_traffic", routes.config.Mirror)
	writeCounts(&b, "in_flight", busyNames, busy)
	writeCounts(&b, "instance_in_flight", instanceURLs, perInstance)
	names := make([]string, len(routes.poolList))
	held := map[string]int{}
	for i, pool := range routes.poolList {
		names[i] = pool.Route.Name
		held[names[i]] = g.activity.Held(names[i])
	}
	writeCounts(&b, "held", names, held)
	b.WriteString(`,"idle_s":{`)
	for i, name := range names {
		writeFloatEntry(&b, i, name, math.Round(g.activity.IdleS(name)*1e3)/1e3)
	}
	b.WriteString(`},"busy_s":{`)
	for i, name := range names {
		writeFloatEntry(&b, i, name, math.Round(g.activity.BusyS(name)*1e6)/1e6)
	}
	b.WriteString("}}")
	return []byte(b.String())
}

func writeWeights(b *strings.Builder, key string, weights []Weight) {
	b.WriteString(`,"` + key + `":{`)
	for i, w := range weights {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, w.Name, false)
		b.WriteString(":" + strconv.Itoa(w.Percent))
	}
	b.WriteByte('}')
}

func writeCounts(b *strings.Builder, key string, names []string, counts map[string]int) {
	b.WriteString(`,"` + key + `":{`)
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, name, false)
		b.WriteString(":" + strconv.Itoa(counts[name]))
	}
	b.WriteByte('}')
}

func writeFloatEntry(b *strings.Builder, i int, name string, value float64) {
	if i > 0 {
		b.WriteByte(',')
	}
	writeJSONString(b, name, false)
	b.WriteString(":" + pyFloat(value))
}
