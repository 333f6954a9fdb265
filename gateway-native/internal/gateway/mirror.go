package gateway

// Mirroring: unpinned POSTs copied to mirror_traffic deployments after the answer is
// sent, marked x-mlkube-mirror: true, through the mirror deployment's own capacity and
// queue; a copy's outcome is only counted (and logged when it failed), never waited for.

import (
	"strconv"
	"time"
)

// startMirror copies a request to a mirror deployment, in the background.
func (g *Gateway) startMirror(routes *routes, deployment, method, target string, headers []Header, body []byte) {
	if g.mirrors.Load() >= MaxMirrorsInFlight {
		g.metrics.ObserveMirror(deployment, "dropped")
		return
	}
	g.mirrors.Add(1)
	copied := append(append(make([]Header, 0, len(headers)+1), headers...), Header{"x-mlkube-mirror", "true"})
	go func() {
		defer g.mirrors.Add(-1)
		g.metrics.ObserveMirror(deployment, g.mirror(routes, deployment, method, target, copied, body))
	}()
}

func (g *Gateway) mirror(routes *routes, deployment, method, target string, headers []Header, body []byte) string {
	pool := routes.pools[deployment]
	if pool.Route.State == "Failed" || len(pool.Route.Instances) == 0 {
		return "unavailable"
	}
	index, err := pool.Acquire()
	if err != nil {
		return "rejected"
	}
	defer pool.Release(index)
	response, err := g.client.Do(routes.instances[deployment][index], method, target, headers, body,
		time.Duration(pool.Route.RequestTimeoutMS)*time.Millisecond, false)
	if err != nil {
		g.logger.Logf(LevelInfo, "Mirrored request to '%s' failed: %v", deployment, err)
		switch err.(type) {
		case *TimeoutError:
			return "timeout"
		case *ConnectError:
			return "unreachable"
		}
		return "broken"
	}
	return strconv.Itoa(response.Status)
}
