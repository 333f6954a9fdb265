package gateway

// The instances of one deployment: admission control and load balancing (instances.py).
// A deployment admits max_concurrent_requests_per_instance x instances requests at once;
// one beyond waits in a FIFO queue up to max_queue_wait_ms, then gets 429 (Azure ML's
// semantics). An admitted request goes to the instance with the fewest in flight; ties
// rotate. An instance that refused a request or answered "model not ready" is avoided
// for a short cool-down, then tried again.

import (
	"container/list"
	"fmt"
	"sync"
	"time"
)

// DefaultCoolDown is how long an instance that failed a request is avoided.
const DefaultCoolDown = time.Second

// Pool holds the in-flight counts of one deployment's instances.
type Pool struct {
	Route    *Deployment
	Endpoint string

	mu           sync.Mutex
	inFlight     []int
	total        int
	capacity     int
	waiters      list.List // of chan int, oldest first
	rotation     int
	coolDown     time.Duration
	coolingUntil []time.Time
	cooling      int
}

// NewPool for route; endpoint names it in hints.
func NewPool(route *Deployment, coolDown time.Duration, endpoint string) *Pool {
	return &Pool{Route: route, Endpoint: endpoint, inFlight: make([]int, len(route.Instances)),
		capacity: route.Capacity(), coolDown: coolDown, coolingUntil: make([]time.Time, len(route.Instances))}
}

// Acquire is the index of the instance to use; the caller must Release it.
func (p *Pool) Acquire() (int, error) {
	if len(p.Route.Instances) == 0 {
		return 0, p.NoInstanceError()
	}
	p.mu.Lock()
	if p.total < p.capacity && p.waiters.Len() == 0 {
		index := p.take()
		p.mu.Unlock()
		return index, nil
	}
	wait := time.Duration(p.Route.MaxQueueWaitMS) * time.Millisecond
	if wait <= 0 {
		p.mu.Unlock()
		return 0, p.fullError()
	}
	slot := make(chan int, 1)
	element := p.waiters.PushBack(slot)
	p.mu.Unlock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case index := <-slot:
		return index, nil
	case <-timer.C:
		p.mu.Lock()
		defer p.mu.Unlock()
		select {
		case index := <-slot: // handed over at the deadline: it is ours
			return index, nil
		default:
			p.waiters.Remove(element)
			return 0, p.fullError()
		}
	}
}

// Release gives back a slot; the oldest waiter, if any, gets one at once.
func (p *Pool) Release(index int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight[index]--
	p.total--
	if front := p.waiters.Front(); front != nil {
		p.waiters.Remove(front)
		front.Value.(chan int) <- p.take()
	}
}

// Busy is the requests in flight or queued: 0 means a retired deployment may stop.
func (p *Pool) Busy() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total + p.waiters.Len()
}

// InFlight is a snapshot of the in-flight count per instance, and their total.
func (p *Pool) InFlight() ([]int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.inFlight...), p.total
}

// Capacity is the requests admitted at once.
func (p *Pool) Capacity() int { return p.capacity }

// CoolDown is how long a failed instance is avoided.
func (p *Pool) CoolDown() time.Duration { return p.coolDown }

// MarkUnhealthy avoids instance index for the cool-down; true if it was healthy.
func (p *Pool) MarkUnhealthy(index int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	newly := !p.isCooling(index)
	if p.coolingUntil[index].IsZero() {
		p.cooling++
	}
	p.coolingUntil[index] = time.Now().Add(p.coolDown)
	return newly
}

func (p *Pool) isCooling(index int) bool {
	until := p.coolingUntil[index]
	if until.IsZero() {
		return false
	}
	if until.After(time.Now()) {
		return true
	}
	p.coolingUntil[index] = time.Time{}
	p.cooling--
	return false
}

// Retarget moves this request's slot from index to an instance not in tried (healthy
// first, then least busy); ok is false when all were tried.
func (p *Pool) Retarget(index int, tried []int) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	size := len(p.inFlight)
	best := -1
	bestCooling := false
	for offset := 1; offset < size; offset++ {
		candidate := (index + offset) % size
		if containsInt(tried, candidate) {
			continue
		}
		cooling := p.isCooling(candidate)
		if best < 0 || (!cooling && bestCooling) ||
			(cooling == bestCooling && p.inFlight[candidate] < p.inFlight[best]) {
			best, bestCooling = candidate, cooling
		}
	}
	if best < 0 {
		return 0, false
	}
	p.inFlight[index]--
	p.inFlight[best]++
	return best, true
}

// take is called with mu held.
func (p *Pool) take() int {
	size := len(p.inFlight)
	start := p.rotation
	p.rotation = (start + 1) % size
	best := -1
	if p.cooling > 0 {
		for offset := 0; offset < size; offset++ {
			candidate := (start + offset) % size
			if !p.isCooling(candidate) && (best < 0 || p.inFlight[candidate] < p.inFlight[best]) {
				best = candidate
			}
		}
	}
	if best < 0 { // none cooling, or all: balance as if none were
		best = start
		for offset := 1; offset < size; offset++ {
			candidate := (start + offset) % size
			if p.inFlight[candidate] < p.inFlight[best] {
				best = candidate
			}
		}
	}
	p.inFlight[best]++
	p.total++
	return best
}

// NoInstanceError is the 424 of a deployment that cannot take requests.
func (p *Pool) NoInstanceError() *Error {
	reason := "it has no running instance"
	if p.Route.Reason != nil && *p.Route.Reason != "" {
		reason = *p.Route.Reason
	}
	return errModelContainer(
		fmt.Sprintf("Deployment '%s' cannot take requests: state %s, %s.", p.Route.Name, p.Route.State, reason),
		fmt.Sprintf("Check %s and its status; route traffic to a healthy deployment meanwhile.", logsCommand(p.Route.Name, p.Endpoint)))
}

func (p *Pool) fullError() *Error {
	r := p.Route
	return errTooManyRequests(
		fmt.Sprintf("Deployment '%s' has %d requests in flight (%d per instance x %d instances) and none finished within max_queue_wait_ms=%d.",
			r.Name, p.capacity, r.MaxConcurrentPerInst, p.capacity/r.MaxConcurrentPerInst, r.MaxQueueWaitMS),
		"Retry with backoff, or raise instance_count or request_settings.max_concurrent_requests_per_instance.")
}

func logsCommand(deployment, endpoint string) string {
	if endpoint == "" {
		return fmt.Sprintf("`mlkube online-deployment get-logs -n %s`", deployment)
	}
	return fmt.Sprintf("`mlkube online-deployment get-logs -n %s -e %s`", deployment, endpoint)
}

func containsInt(list []int, n int) bool {
	for _, item := range list {
		if item == n {
			return true
		}
	}
	return false
}
