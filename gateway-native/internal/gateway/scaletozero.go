package gateway

// Holding requests for a deployment that scaled to zero, and the activity that decides
// it (scale_to_zero.py). The gateway keeps per deployment when the last request came
// (idle_s), how many requests it holds because no instance runs (held), and the
// integral of its requests in flight over time (busy_s); GET / reports them and the
// local autoscaler scales from them. A held request waits, never longer than its
// request_timeout_ms, until an instance serves; past held_limit it gets 429, at the
// deadline 503 DEPLOYMENT_STARTING.

import (
	"fmt"
	"sync"
	"time"
)

type forwarding struct {
	count    float64
	since    time.Time
	integral float64
}

// Activity is per deployment: last request, held requests, time-integrated load.
type Activity struct {
	mu         sync.Mutex
	started    time.Time
	last       map[string]time.Time
	held       map[string]int
	forwarding map[string]*forwarding
	changed    chan struct{}
}

// NewActivity starting now.
func NewActivity() *Activity {
	return &Activity{started: time.Now(), last: map[string]time.Time{}, held: map[string]int{},
		forwarding: map[string]*forwarding{}, changed: make(chan struct{})}
}

// Touch records that a request reached deployment now.
func (a *Activity) Touch(deployment string) {
	a.mu.Lock()
	a.last[deployment] = time.Now()
	a.mu.Unlock()
}

// Begin and End bracket a forwarded request (held time is not load).
func (a *Activity) Begin(deployment string) { a.step(deployment, 1) }
func (a *Activity) End(deployment string)   { a.step(deployment, -1) }

func (a *Activity) step(deployment string, change float64) {
	now := time.Now()
	a.mu.Lock()
	f := a.forwarding[deployment]
	if f == nil {
		f = &forwarding{since: now}
		a.forwarding[deployment] = f
	}
	f.integral += f.count * now.Sub(f.since).Seconds()
	f.count += change
	f.since = now
	a.mu.Unlock()
}

// BusyS is the integral of requests in flight over time, running ones included.
func (a *Activity) BusyS(deployment string) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.forwarding[deployment]
	if f == nil {
		return 0
	}
	return f.integral + f.count*time.Since(f.since).Seconds()
}

// Track makes deployments new to the routes idle from now, not from the start.
func (a *Activity) Track(deployments []*Deployment) {
	now := time.Now()
	a.mu.Lock()
	for _, d := range deployments {
		if _, ok := a.last[d.Name]; !ok {
			a.last[d.Name] = now
		}
	}
	a.mu.Unlock()
}

// IdleS is the seconds since the last request (since it joined, if none came).
func (a *Activity) IdleS(deployment string) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	last, ok := a.last[deployment]
	if !ok {
		last = a.started
	}
	return time.Since(last).Seconds()
}

// Held is the requests held for deployment now.
func (a *Activity) Held(deployment string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held[deployment]
}

// Notify wakes holders to look again (a reload may have brought instances).
func (a *Activity) Notify() {
	a.mu.Lock()
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

// Hold returns once ready() is true; 429 past heldLimit, 503 past timeout.
func (a *Activity) Hold(deployment string, ready func() bool, heldLimit int, timeout time.Duration, requestTimeoutMS int) error {
	if ready() {
		return nil
	}
	a.mu.Lock()
	if a.held[deployment] >= heldLimit {
		a.mu.Unlock()
		return errTooManyRequests(
			fmt.Sprintf("Deployment '%s' is starting from zero instances and already holds %d requests (its held_limit).", deployment, heldLimit),
			"Retry with backoff in a few seconds; the deployment is starting.")
	}
	a.held[deployment]++
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.held[deployment]--
		a.mu.Unlock()
	}()
	deadline := time.Now().Add(timeout)
	for !ready() {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return errDeploymentStarting(
				fmt.Sprintf("Deployment '%s' had scaled to zero instances and no instance became ready within request_timeout_ms=%d.", deployment, requestTimeoutMS),
				"Retry in a few seconds (it is starting); raise request_settings.request_timeout_ms above its start time, or keep min_instances at 1 for it.")
		}
		a.mu.Lock()
		changed := a.changed
		a.mu.Unlock()
		timer := time.NewTimer(min(remaining, 500*time.Millisecond))
		select {
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
	return nil
}
