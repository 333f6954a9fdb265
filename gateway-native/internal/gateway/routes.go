package gateway

// The routes: everything derived from one (config, keys) pair, swapped whole when
// either file changes, so a request sees one consistent version. Unchanged
// deployments keep their pools (in-flight counts stay true); replaced pools are kept
// as retired until their requests finish, so GET / still counts them.

import (
	"fmt"
	"reflect"
	"strings"
)

// routes is everything derived from one (config, keys) pair, swapped whole on reload.
type routes struct {
	config          *Config
	keysFingerprint string
	table           *RoutingTable
	pools           map[string]*Pool
	poolList        []*Pool // in config order
	instances       map[string][]Instance
	auth            *Authenticator
}

// Reload re-reads both files and applies them if either changed and parsed.
func (g *Gateway) Reload() bool {
	configChanged, config, configOK := g.configFile.Poll()
	keysChanged, keys, keysOK := g.keysFile.Poll()
	for _, change := range []struct {
		name        string
		changed, ok bool
	}{{"config", configChanged, configOK}, {"keys", keysChanged, keysOK}} {
		if change.changed {
			outcome := "refused"
			if change.ok {
				outcome = "applied"
			}
			g.metrics.ObserveReload(change.name, outcome)
		}
	}
	if !configOK && !keysOK {
		return false
	}
	if configOK {
		g.config = config
	}
	if keysOK {
		g.keys = keys
	}
	previous := g.routes.Load()
	next := g.buildRoutes(previous)
	g.routes.Store(next)
	g.mu.Lock()
	for _, pool := range previous.poolList {
		if next.pools[pool.Route.Name] != pool && pool.Busy() > 0 {
			g.retired = append(g.retired, pool)
		}
	}
	g.mu.Unlock()
	g.activity.Track(g.config.Deployments)
	g.activity.Notify() // held requests look again: instances may have come
	if configOK {
		g.startScaler()
		g.logger.Logf(LevelInfo, "Applied config %s: traffic %s, mirror %s.", g.config.Digest(),
			pyWeights(g.config.Traffic), pyWeights(g.config.Mirror))
	}
	if keysOK {
		g.logger.Logf(LevelInfo, "Applied new keys; the previous keys no longer authenticate.")
	}
	return true
}

func pyWeights(weights []Weight) string {
	parts := make([]string, len(weights))
	for i, w := range weights {
		parts[i] = fmt.Sprintf("'%s': %d", w.Name, w.Percent)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (g *Gateway) buildRoutes(previous *routes) *routes {
	config := g.config
	next := &routes{config: config, keysFingerprint: g.keys.Fingerprint(), table: NewRoutingTable(config),
		pools: map[string]*Pool{}, instances: map[string][]Instance{},
		auth: NewAuthenticator(config.AuthMode, config.Endpoint, g.keys)}
	for _, d := range config.Deployments {
		var pool *Pool
		if previous != nil {
			// An unchanged deployment keeps its pool, so in-flight counts stay true.
			if old := previous.pools[d.Name]; old != nil && reflect.DeepEqual(*old.Route, *d) {
				pool = old
			}
		}
		if pool == nil {
			pool = NewPool(d, g.options.CoolDown, config.Endpoint)
		}
		next.pools[d.Name] = pool
		next.poolList = append(next.poolList, pool)
		instances := make([]Instance, len(d.Instances))
		for i, u := range d.Instances {
			instances[i] = NewInstance(u)
		}
		next.instances[d.Name] = instances
	}
	return next
}
