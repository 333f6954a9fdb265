package gateway

// Forwarding one request to a deployment's instances: a slot from the pool, the
// exchange, and a retry on each other instance (once) only while the request provably
// never reached a model (refused, reset before it was read, 503 MODEL_NOT_READY);
// then the status the caller gets when none took it.

import (
	"fmt"
	"strings"
	"time"
)

// forward sends the request to one of deployment's instances, retrying on each other
// instance (once) while the request provably never reached a model.
func (g *Gateway) forward(routes *routes, deployment, method, target string, headers []Header, body []byte, started time.Time) (*Response, error) {
	pool := routes.pools[deployment]
	route := pool.Route
	if route.State == "Failed" {
		return nil, pool.NoInstanceError()
	}
	index, err := pool.Acquire()
	if err != nil {
		return nil, err
	}
	defer func() { pool.Release(index) }()
	instances := routes.instances[deployment]
	budget := time.Duration(route.RequestTimeoutMS) * time.Millisecond
	timeout := budget
	var (
		tried    []int // built on the first failure only: lean hot path
		fresh    bool
		notReady string
		refused  error
	)
	for {
		response, err := g.client.Do(instances[index], method, target, headers, body, timeout, fresh)
		var reason string
		switch e := err.(type) {
		case nil:
			if response.Status != 503 {
				return response, nil
			}
			message, isNotReady := notReadyMessage(response.Body)
			if !isNotReady {
				return response, nil
			}
			notReady, reason = message, "not_ready"
		case *ConnectError:
			refused, reason = e, "refused"
		case *TimeoutError:
			return nil, errScoringTimeout(fmt.Sprintf("Deployment '%s' did not answer within request_timeout_ms=%d.", deployment, route.RequestTimeoutMS),
				"Raise request_settings.request_timeout_ms, or send smaller batches.")
		default:
			return nil, errBadGateway(fmt.Sprintf("Deployment '%s' failed while scoring: %v.", deployment, err),
				fmt.Sprintf("The inference server may have crashed; check %s.", logsCommand(deployment, pool.Endpoint)))
		}
		// The request provably never reached this instance's model: avoid the instance
		// for a while, and try each other one once, within the budget.
		if pool.MarkUnhealthy(index) {
			cause := notReady
			if reason == "refused" {
				cause = refused.Error()
			}
			g.logger.Logf(LevelInfo, "Instance %s of deployment '%s' is avoided for %.1f s: %s.",
				instances[index].URL, deployment, pool.CoolDown().Seconds(), cause)
		}
		tried = append(tried, index)
		timeout = budget - time.Since(started)
		following, ok := -1, false
		if timeout > 0 {
			following, ok = pool.Retarget(index, tried)
		}
		if !ok {
			return nil, allFailed(route, len(tried), notReady, refused, pool.Endpoint)
		}
		g.metrics.ObserveRetry(deployment, reason)
		// The same URL again (a Service fronting several pods): a new connection, so
		// the Service may pick another pod.
		fresh = false
		for _, i := range tried {
			if instances[i] == instances[following] {
				fresh = true
			}
		}
		index = following
	}
}

// notReadyMessage is the server's message if this 503 says its model is not loaded.
func notReadyMessage(body []byte) (string, bool) {
	parsed, ok := parseErrorBody(body)
	if !ok || parsed.code != "MODEL_NOT_READY" {
		return "", false
	}
	if parsed.message == "" {
		return "the model is not ready", true
	}
	return parsed.message, true
}

func allFailed(route *Deployment, count int, notReady string, refused error, endpoint string) *Error {
	which := "its instance"
	if count != 1 {
		which = fmt.Sprintf("all %d instances tried", count)
	}
	logs := logsCommand(route.Name, endpoint)
	if notReady != "" {
		return errModelNotReady(fmt.Sprintf("Deployment '%s' is not ready: %s answered that the model is not loaded (%s).", route.Name, which, strings.TrimRight(notReady, ".")),
			fmt.Sprintf("Retry in a few seconds while instances start; if it persists, check %s.", logs))
	}
	if route.State != "Succeeded" {
		reason := ""
		if route.Reason != nil && *route.Reason != "" {
			reason = ", " + *route.Reason
		}
		return errModelContainer(fmt.Sprintf("Deployment '%s' is not serving: state %s%s (%v).", route.Name, route.State, reason, refused),
			fmt.Sprintf("Wait for the deployment to finish, or check %s.", logs))
	}
	return errBadGateway(fmt.Sprintf("Deployment '%s' is not reachable: %s refused the request (%v).", route.Name, which, refused),
		fmt.Sprintf("Its inference servers may have crashed or be restarting; check %s and its status.", logs))
}
