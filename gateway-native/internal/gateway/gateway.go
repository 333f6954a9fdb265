package gateway

// One request's path through the gateway (app.py's contract): GET / and GET /metrics
// without auth; otherwise exactly one Authorization (401 without a valid one; two are
// 400, as are two azureml-model-deployment headers), a body no larger than the limit
// (413 before a byte is read when Content-Length says so), a deployment by header or
// weight, a slot on one of its instances (429 past capacity and queue wait), the
// request upstream with path and query unchanged and without the credential, and the
// answer back with azureml-model-deployment and the request ids. Timeouts answer 504,
// a failed or unready deployment 424, a refused or broken connection 502; a request
// that provably never reached a model is tried once on each other instance. Unpinned
// POSTs are copied to mirror deployments after the answer, marked x-mlkube-mirror.

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxBodyBytes caps a request body: Azure ML's managed endpoints stop near 100 MB.
const DefaultMaxBodyBytes = 100 * 1024 * 1024

// MaxMirrorsInFlight bounds mirrored copies in the air; more are dropped and counted.
const MaxMirrorsInFlight = 1000

const maxRequestID = 100

// hopByHop headers describe one connection, not the message, so they never cross;
// bodies are buffered whole, so framing (content-length, expect) is the gateway's own.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Host": true,
	"Content-Length": true, "Expect": true,
}

var ownResponseHeaders = map[string]bool{
	"Azureml-Model-Deployment": true, "X-Request-Id": true, "X-Ms-Request-Id": true,
	"Server": true, "Date": true,
}

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

// Options of a gateway besides its two files.
type Options struct {
	ReloadInterval time.Duration
	MaxBodyBytes   int64
	CoolDown       time.Duration
	Draw           Draw
	AccessLog      io.Writer // nil: none
	Logger         *Logger
}

// Gateway serves one endpoint; it is an http.Handler.
type Gateway struct {
	configFile *WatchedFile[*Config]
	keysFile   *WatchedFile[Keys]
	config     *Config
	keys       Keys
	routes     atomic.Pointer[routes]
	options    Options
	client     *Client
	metrics    *Metrics
	accessLog  *AccessLog
	activity   *Activity
	logger     *Logger
	replica    string
	mirrors    atomic.Int64
	mu         sync.Mutex
	retired    []*Pool // pools a reload replaced, until their requests finish
	stop       chan struct{}
}

// New loads both files (an error names the bad one and the fix) and builds the gateway.
func New(configPath, keysPath string, options Options) (*Gateway, error) {
	if options.Draw == nil {
		options.Draw = rand.Float64
	}
	if options.CoolDown == 0 {
		options.CoolDown = DefaultCoolDown
	}
	if options.MaxBodyBytes == 0 {
		options.MaxBodyBytes = DefaultMaxBodyBytes
	}
	logger := options.Logger
	WarnIfReadableByOthers(keysPath, logger)
	g := &Gateway{
		configFile: NewWatchedFile(configPath, "config", LoadConfig, logger),
		keysFile:   NewWatchedFile(keysPath, "keys", LoadKeys, logger),
		options:    options,
		client:     NewClient(),
		metrics:    NewMetrics(),
		accessLog:  NewAccessLog(options.AccessLog),
		activity:   NewActivity(),
		logger:     logger,
		stop:       make(chan struct{}),
	}
	g.replica, _ = os.Hostname()
	var err error
	if g.config, err = g.configFile.Load(); err != nil {
		return nil, err
	}
	if g.keys, err = g.keysFile.Load(); err != nil {
		return nil, err
	}
	g.routes.Store(g.buildRoutes(nil))
	g.activity.Track(g.config.Deployments)
	g.warnAboutKubernetesScaling()
	return g, nil
}

// Start the reloader and the access-log flusher.
func (g *Gateway) Start() {
	names := make([]string, len(g.config.Deployments))
	for i, d := range g.config.Deployments {
		names[i] = d.Name
	}
	list := strings.Join(names, ", ")
	if list == "" {
		list = "none"
	}
	g.logger.Logf(LevelInfo, "Gateway for endpoint '%s' serving config %s (deployments: %s).",
		g.config.Endpoint, g.config.Digest(), list)
	go g.every(g.options.ReloadInterval, func() { g.Reload() })
	go g.every(FlushInterval, g.accessLog.Flush)
}

// Close stops the background work, flushes the access log, drops idle connections.
func (g *Gateway) Close() {
	close(g.stop)
	g.accessLog.Flush()
	g.client.Close()
}

func (g *Gateway) every(interval time.Duration, work func()) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-ticker.C:
			work()
		}
	}
}

// ServeHTTP answers one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	header := w.Header()
	header["Date"] = nil // the upstream's own is not forwarded either
	if r.Method == "GET" && r.URL.Path == "/" {
		header["Content-Type"] = []string{"application/json"}
		writeBody(w, 200, g.health())
		return
	}
	if r.Method == "GET" && r.URL.Path == "/metrics" {
		// The replica lets a reader behind a Service keep one baseline per pod.
		header["Content-Type"] = []string{"text/plain; version=0.0.4"}
		header["X-Mlkube-Replica"] = []string{g.replica}
		writeBody(w, 200, []byte(g.renderMetrics()))
		return
	}

	var (
		authorization string
		hasAuth       bool
		pinned        string
		requestID     string
		repeated      string
		forward       = make([]Header, 0, len(r.Header)+2)
	)
	for name, values := range r.Header {
		switch name {
		case "Authorization": // checked here, never sent upstream or logged
			hasAuth = true
			authorization = values[len(values)-1]
			if len(values) > 1 {
				repeated = "Authorization"
			}
		case "X-Request-Id":
			requestID = values[len(values)-1]
		case "X-Ms-Request-Id":
		default:
			if hopByHop[name] {
				continue
			}
			if name == "Azureml-Model-Deployment" {
				if len(values) > 1 {
					repeated = "azureml-model-deployment"
				}
				pinned = strings.TrimSpace(values[len(values)-1])
			}
			for _, value := range values {
				forward = append(forward, Header{name, value})
			}
		}
	}
	if requestID == "" {
		requestID = newRequestID()
	}
	routes := g.routes.Load()
	deployment := ""
	var (
		mirrors  []string
		body     []byte
		bodyRead bool
		status   int
		payload  []byte
		length   string
		response *Response
	)
	target := r.RequestURI
	err := func() error {
		if repeated != "" {
			// Proxies and servers disagree on which of two values wins; a credential or
			// pin that means different things to them is refused, never guessed.
			return errMalformed(fmt.Sprintf("The request has more than one %s header.", repeated),
				fmt.Sprintf("Send exactly one %s header.", repeated))
		}
		if len(requestID) > maxRequestID {
			requestID = newRequestID()
			return errHeaderTooLarge(fmt.Sprintf("The x-request-id header is longer than %d characters.", maxRequestID),
				"Send a shorter request id (a UUID), or none to get one generated.")
		}
		forward = append(forward, Header{"x-request-id", requestID}, Header{"x-ms-request-id", requestID})
		if err := routes.auth.Check(authorization, hasAuth, time.Now()); err != nil {
			return err
		}
		var err error
		if deployment, err = routes.table.Choose(pinned, g.options.Draw); err != nil {
			return err
		}
		g.activity.Touch(deployment)
		if r.ContentLength > g.options.MaxBodyBytes {
			return g.tooLarge() // refused before a byte is read (and before "100 Continue")
		}
		if body, err = readBody(r, g.options.MaxBodyBytes); err != nil {
			if errors.Is(err, errBodyTooLarge) {
				return g.tooLarge()
			}
			return errClientGone
		}
		bodyRead = true
		if pinned == "" && r.Method == "POST" {
			mirrors = routes.table.Mirrors(deployment, g.options.Draw)
		}
		if routes, err = g.holdWhileAsleep(routes, deployment, started); err != nil {
			return err
		}
		g.activity.Begin(deployment)
		defer g.activity.End(deployment)
		response, err = g.forward(routes, deployment, r.Method, target, forward, body, started)
		return err
	}()
	if err == errClientGone {
		return
	}
	if err != nil {
		var gwErr *Error
		if !errors.As(err, &gwErr) {
			g.logger.Logf(LevelError, "Request %s failed inside the gateway: %v", requestID, err)
			gwErr = errInternal("The gateway failed to handle the request.",
				"Retry; if it persists, report it with the gateway's log.")
		}
		status, payload = gwErr.Status, gwErr.Body()
		header["Content-Type"] = []string{"application/json"}
	} else {
		status, payload = response.Status, response.Body
		for name, values := range response.Header {
			if !hopByHop[name] && !ownResponseHeaders[name] {
				header[name] = values
			}
		}
		if r.Method == "HEAD" {
			length = response.Header.Get("Content-Length")
		}
	}
	header["X-Request-Id"] = []string{requestID}
	header["X-Ms-Request-Id"] = []string{requestID}
	if deployment != "" {
		header["Azureml-Model-Deployment"] = []string{deployment}
	}
	if !bodyRead && (r.ContentLength > 0 || (r.ContentLength < 0 && len(r.TransferEncoding) > 0)) {
		// Answered before its body was read: a client that waited for "100 Continue"
		// will not send it, and a body over the limit is not drained just to keep the
		// connection, so the framing ends with the connection.
		if status == 413 || strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
			header["Connection"] = []string{"close"}
		}
	}
	if r.Method == "HEAD" {
		// No body, but the length a GET would get: the upstream's, or the gateway's own
		// error body's; none when the upstream said none.
		if length == "" && err != nil {
			length = strconv.Itoa(len(payload))
		}
		if length != "" {
			header["Content-Length"] = []string{length}
		}
		w.WriteHeader(status)
	} else {
		writeBody(w, status, payload)
	}
	for _, mirror := range mirrors {
		g.startMirror(routes, mirror, r.Method, target, forward, body)
	}
	if deployment != "" { // idle from the end of the last request
		g.activity.Touch(deployment)
	}
	seconds := time.Since(started).Seconds()
	g.metrics.ObserveRequest(deployment, status, seconds)
	g.accessLog.Write(requestID, r.Method, r.URL.Path, deployment, status, seconds)
}

var (
	errClientGone   = errors.New("the client went away")
	errBodyTooLarge = errors.New("body over the limit")
)

func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > 0 {
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errBodyTooLarge
	}
	return body, nil
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (g *Gateway) tooLarge() *Error {
	return errTooLarge(fmt.Sprintf("The request body is larger than the gateway's limit of %d MB.", g.options.MaxBodyBytes/(1024*1024)),
		"Send smaller batches, or start the gateway with a larger --max-body-mb.")
}

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

// holdWhileAsleep returns the routes to forward with: these, or, for a deployment at
// zero instances, the routes once one is ready (the request is held meanwhile).
func (g *Gateway) holdWhileAsleep(current *routes, deployment string, started time.Time) (*routes, error) {
	route := current.pools[deployment].Route
	sleep := route.ScaleToZero
	if sleep == nil {
		return current, nil
	}
	ready := func() bool {
		pool := g.routes.Load().pools[deployment]
		return pool == nil || len(pool.Route.Instances) > 0 // removed: the usual errors answer
	}
	if ready() {
		return g.routes.Load(), nil
	}
	budget := time.Duration(route.RequestTimeoutMS)*time.Millisecond - time.Since(started)
	if err := g.activity.Hold(deployment, ready, sleep.HeldLimit, budget, route.RequestTimeoutMS); err != nil {
		return nil, err
	}
	latest := g.routes.Load()
	if latest.pools[deployment] == nil {
		return nil, current.pools[deployment].NoInstanceError()
	}
	return latest, nil
}

func (g *Gateway) warnAboutKubernetesScaling() {
	for _, d := range g.config.Deployments {
		if d.ScaleToZero != nil && d.ScaleToZero.KubernetesDeployment != "" {
			g.logger.Logf(LevelWarning, "Deployment '%s' scales to zero through Kubernetes, which the native gateway does not do yet: it will not be scaled (use the Python gateway for it).", d.Name)
		}
	}
}

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

func (g *Gateway) renderMetrics() string {
	routes := g.routes.Load()
	gauges := make([]Gauge, 0, len(routes.poolList))
	for _, pool := range routes.poolList {
		_, total := pool.InFlight()
		gauges = append(gauges, Gauge{pool.Route.Name, total, pool.Capacity()})
	}
	return g.metrics.Render(gauges, routes.config.Digest(), int(g.mirrors.Load()))
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
		g.warnAboutKubernetesScaling()
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

// newRequestID is a random RFC 4122 version-4 UUID; it needs uniqueness, not secrecy.
func newRequestID() string {
	var raw [16]byte
	a, b := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		raw[i], raw[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	raw[6] = raw[6]&0x0F | 0x40
	raw[8] = raw[8]&0x3F | 0x80
	var out [36]byte
	hex.Encode(out[0:8], raw[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], raw[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], raw[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], raw[8:10])
	out[23] = '-'
	hex.Encode(out[24:], raw[10:])
	return string(out[:])
}
