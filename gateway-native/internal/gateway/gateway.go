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
	"os"
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
	"connection": true, "keep-alive": true, "proxy-authenticate": true, "proxy-authorization": true,
	"te": true, "trailer": true, "transfer-encoding": true, "upgrade": true, "host": true,
	"content-length": true, "expect": true,
}

var ownResponseHeaders = map[string]bool{
	"azureml-model-deployment": true, "x-request-id": true, "x-ms-request-id": true,
	"server": true, "date": true,
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
	scaler     atomic.Pointer[KubernetesScaler] // set once the config names a Deployment
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
	g.startScaler() // before the reloader, the only other writer of the config
	go g.every(g.options.ReloadInterval, func() { g.Reload() })
	go g.every(FlushInterval, g.accessLog.Flush)
}

// Drain waits up to timeout for the requests in flight to finish.
func (g *Gateway) Drain(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		busy := 0
		for _, pool := range g.routes.Load().poolList {
			busy += pool.Busy()
		}
		if busy == 0 && g.mirrors.Load() == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// Serve answers one request (a Handler for Server).
func (g *Gateway) Serve(r *Request, respond func(*Answer)) {
	started := time.Now()
	if r.Method == "GET" && r.Path == "/" {
		respond(&Answer{Status: 200, Headers: []Header{{"content-type", "application/json"}}, Body: g.health()})
		return
	}
	if r.Method == "GET" && r.Path == "/metrics" {
		// The replica lets a reader behind a Service keep one baseline per pod.
		respond(&Answer{Status: 200, Headers: []Header{{"content-type", "text/plain; version=0.0.4"},
			{"x-mlkube-replica", g.replica}}, Body: []byte(g.renderMetrics())})
		return
	}

	var (
		authorization string
		hasAuth       bool
		pinned        string
		requestID     string
		repeated      string
		pins          int
		forward       = make([]Header, 0, len(r.Headers)+2)
	)
	for _, h := range r.Headers {
		switch h.Name {
		case "authorization": // checked here, never sent upstream or logged
			if hasAuth {
				repeated = "Authorization"
			}
			hasAuth, authorization = true, h.Value
		case "x-request-id":
			requestID = h.Value
		case "x-ms-request-id":
		default:
			if hopByHop[h.Name] {
				continue
			}
			if h.Name == "azureml-model-deployment" {
				if pins++; pins > 1 {
					repeated = "azureml-model-deployment"
				}
				pinned = strings.TrimSpace(h.Value)
			}
			forward = append(forward, h)
		}
	}
	generated := requestID == ""
	if generated {
		requestID = newRequestID()
	}
	routes := g.routes.Load()
	deployment := ""
	var (
		mirrors  []string
		body     []byte
		bodyRead bool
		response *Response
	)
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
		if err := routes.auth.Check(authorization, hasAuth, started); err != nil {
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
		if body, err = r.ReadBody(g.options.MaxBodyBytes); err != nil {
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
		response, err = g.forward(routes, deployment, r.Method, r.Target, forward, body, started)
		return err
	}()
	if err == errClientGone {
		return
	}
	answer := &Answer{}
	if err != nil {
		var gwErr *Error
		if !errors.As(err, &gwErr) {
			g.logger.Logf(LevelError, "Request %s failed inside the gateway: %v", requestID, err)
			gwErr = errInternal("The gateway failed to handle the request.",
				"Retry; if it persists, report it with the gateway's log.")
		}
		answer.Status, answer.Body = gwErr.Status, gwErr.Body()
		answer.Headers = append(make([]Header, 0, 4), Header{"content-type", "application/json"})
		answer.HeadLength = strconv.Itoa(len(answer.Body))
	} else {
		answer.Status, answer.Body = response.Status, response.Body
		answer.Headers = make([]Header, 0, len(response.Headers)+3)
		for _, h := range response.Headers {
			if h.Name == "content-length" {
				answer.HeadLength = h.Value // what a HEAD answer declares
			}
			if !hopByHop[h.Name] && !ownResponseHeaders[h.Name] {
				answer.Headers = append(answer.Headers, h)
			}
		}
	}
	answer.Headers = append(answer.Headers, Header{"x-request-id", requestID}, Header{"x-ms-request-id", requestID})
	if deployment != "" {
		answer.Headers = append(answer.Headers, Header{"azureml-model-deployment", deployment})
	}
	if !bodyRead && r.HasBody() && (r.Expect100 || answer.Status == 413) {
		// Answered before its body was read: a client that waited for "100 Continue"
		// will not send it, and a body over the limit is not drained just to keep the
		// connection, so the framing ends with the connection.
		answer.Close = true
	}
	respond(answer)
	for _, mirror := range mirrors {
		g.startMirror(routes, mirror, r.Method, r.Target, forward, body)
	}
	if deployment != "" { // idle from the end of the last request
		g.activity.Touch(deployment)
	}
	seconds := time.Since(started).Seconds()
	g.metrics.ObserveRequest(deployment, answer.Status, seconds)
	g.accessLog.Write(requestID, r.Method, r.Path, deployment, answer.Status, seconds)
}

var (
	errClientGone   = errors.New("the client went away")
	errBodyTooLarge = errors.New("body over the limit")
)

func (g *Gateway) tooLarge() *Error {
	return errTooLarge(fmt.Sprintf("The request body is larger than the gateway's limit of %d MB.", g.options.MaxBodyBytes/(1024*1024)),
		"Send smaller batches, or start the gateway with a larger --max-body-mb.")
}

// holdWhileAsleep returns the routes to forward with: these, or, for a deployment at
// zero instances, the routes once one is ready (the request is held meanwhile).
func (g *Gateway) holdWhileAsleep(current *routes, deployment string, started time.Time) (*routes, error) {
	route := current.pools[deployment].Route
	sleep := route.ScaleToZero
	if sleep == nil {
		return current, nil
	}
	scaler := g.scaler.Load()
	ready := func() bool {
		pool := g.routes.Load().pools[deployment]
		if pool == nil || len(pool.Route.Instances) == 0 {
			return pool == nil // removed meanwhile: let the usual errors answer
		}
		return scaler == nil || !scaler.Asleep(pool.Route)
	}
	if ready() {
		return g.routes.Load(), nil
	}
	if scaler != nil {
		scaler.Wake(route)
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

// startScaler starts scaling Kubernetes Deployments once the config names one (at
// start, or when a reload brings the first).
func (g *Gateway) startScaler() {
	if g.scaler.Load() != nil {
		return
	}
	named := false
	for _, d := range g.config.Deployments {
		named = named || kubernetesTarget(d) != ""
	}
	if !named {
		return
	}
	access := InCluster(AccountDir)
	if access == nil {
		g.logger.Logf(LevelWarning, "Deployments scale to zero through Kubernetes, but this gateway has no service account token: they will not be scaled.")
		return
	}
	scaler := NewKubernetesScaler(access, g.activity, g.logger)
	g.scaler.Store(scaler)
	go scaler.Run(func() []ScaledRoute {
		pools := g.routes.Load().poolList
		out := make([]ScaledRoute, len(pools))
		for i, pool := range pools {
			out[i] = ScaledRoute{pool.Route, pool.Busy()}
		}
		return out
	}, g.stop)
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
