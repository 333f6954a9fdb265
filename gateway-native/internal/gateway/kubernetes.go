package gateway

// Scale to zero on Kubernetes (kubernetes_scaler.py): a HorizontalPodAutoscaler never
// goes below one replica and nothing else in a cluster sees the requests, so the
// gateway scales its own scale-to-zero Deployments to 0 and back, through the API
// server, as the endpoint's gateway ServiceAccount (whose Role allows only get, patch
// and update on those Deployments' deployments/scale).
//
// Every tick it reads each such Deployment's replicas. One at 0 is asleep: a request
// for it is held and wakes it (replicas = instance_count, or 1), then GET /ready is
// probed through its Service until an instance answers. One awake with no request for
// after_s and none in flight is scaled to 0, unless its pods report a predict count
// this replica has not seen within after_s (work another gateway replica sent them).

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AccountDir is where Kubernetes mounts a pod's ServiceAccount.
const AccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

const (
	scalerTick  = time.Second
	readyProbe  = 100 * time.Millisecond
	probeBudget = 2 * time.Second
)

// APIAccess is how this pod reaches its API server.
type APIAccess struct {
	BaseURL   string
	Namespace string
	// TokenFile, when set, is read again for each call (bearer); Token is the last
	// token read, or the only one.
	TokenFile string
	Token     string
	Client    *http.Client
	mu        sync.Mutex
}

// bearer is the pod's current token. The kubelet rewrites the mounted token file well
// before the token expires (a bound token lasts an hour where the API server does not
// extend it), so a gateway that read it once would lose its access after that hour: it
// is read for every call (about one a second), and the last one read stands in while
// the file cannot be read.
func (a *APIAccess) bearer() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.TokenFile != "" {
		if data, err := os.ReadFile(a.TokenFile); err == nil {
			if token := strings.TrimSpace(string(data)); token != "" {
				a.Token = token
			}
		}
	}
	return a.Token
}

// InCluster is the access Kubernetes mounts into the pod, or nil outside a cluster.
func InCluster(accountDir string) *APIAccess {
	host := os.Getenv("KUBERNETES_SERVICE_HOST")
	port := os.Getenv("KUBERNETES_SERVICE_PORT")
	if port == "" {
		port = "443"
	}
	token, err1 := os.ReadFile(filepath.Join(accountDir, "token"))
	namespace, err2 := os.ReadFile(filepath.Join(accountDir, "namespace"))
	ca, err3 := os.ReadFile(filepath.Join(accountDir, "ca.crt"))
	if host == "" || err1 != nil || err2 != nil || err3 != nil {
		return nil
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	return &APIAccess{BaseURL: "https://" + net.JoinHostPort(host, port),
		Namespace: strings.TrimSpace(string(namespace)), TokenFile: filepath.Join(accountDir, "token"),
		Token: strings.TrimSpace(string(token)), Client: client}
}

// KubernetesScaler puts this endpoint's scale-to-zero Deployments to sleep and wakes them.
type KubernetesScaler struct {
	access   *APIAccess
	activity *Activity
	probe    *Client
	logger   *Logger
	mu       sync.Mutex
	replicas map[string]int
	counts   map[string]map[float64]time.Time
	// The count of the first look per Deployment, which says nothing about recent work.
	firstCounts map[string]float64
	waking      map[string]bool
	staying     map[string]string
}

// NewKubernetesScaler over access, reporting to activity.
func NewKubernetesScaler(access *APIAccess, activity *Activity, logger *Logger) *KubernetesScaler {
	return &KubernetesScaler{access: access, activity: activity, probe: NewClient(), logger: logger,
		replicas: map[string]int{}, counts: map[string]map[float64]time.Time{},
		firstCounts: map[string]float64{},
		waking:      map[string]bool{}, staying: map[string]string{}}
}

func kubernetesTarget(route *Deployment) string {
	if route.ScaleToZero == nil {
		return ""
	}
	return route.ScaleToZero.KubernetesDeployment
}

// Asleep tells whether a request for route must be held (and wake it).
func (s *KubernetesScaler) Asleep(route *Deployment) bool {
	target := kubernetesTarget(route)
	if target == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	replicas, known := s.replicas[target]
	return (known && replicas == 0) || s.waking[target]
}

// Wake starts waking route's Deployment unless that is under way.
func (s *KubernetesScaler) Wake(route *Deployment) {
	target := kubernetesTarget(route)
	if target == "" || len(route.Instances) == 0 {
		return
	}
	s.mu.Lock()
	if s.waking[target] {
		s.mu.Unlock()
		return
	}
	s.waking[target] = true
	s.mu.Unlock()
	go s.wake(route, target)
}

func (s *KubernetesScaler) wake(route *Deployment, target string) {
	defer func() {
		s.mu.Lock()
		delete(s.waking, target)
		s.mu.Unlock()
		s.activity.Notify()
	}()
	replicas := 1
	if route.InstanceCount != nil {
		replicas = *route.InstanceCount
	}
	if err := s.setReplicas(target, replicas); err != nil {
		// Held requests time out with 503; the next one tries again.
		s.logger.Logf(LevelError, "Waking deployment '%s' (%s) failed: %v", route.Name, target, err)
		return
	}
	s.logger.Logf(LevelInfo, "Deployment '%s' woke up: %s scaled to %d.", route.Name, target, replicas)
	service := NewInstance(route.Instances[0])
	for probes := 1; ; probes++ {
		answer, err := s.probe.Do(service, "GET", "/ready", nil, nil, probeBudget, true)
		if err == nil && answer.Status == 200 {
			return
		}
		if probes%10 == 0 {
			if current, err := s.getReplicas(target); err == nil && current == 0 {
				// Another gateway replica scaled it down meanwhile: wake it again.
				_ = s.setReplicas(target, replicas)
			}
		}
		time.Sleep(readyProbe)
	}
}

// ScaledRoute is a deployment as the scaler sees it: its route and requests in flight.
type ScaledRoute struct {
	Route *Deployment
	Busy  int
}

// Run forever: read each Deployment's replicas; scale the idle ones to 0.
func (s *KubernetesScaler) Run(routes func() []ScaledRoute, stop <-chan struct{}) {
	ticker := time.NewTicker(scalerTick)
	defer ticker.Stop()
	for {
		for _, r := range routes() {
			if target := kubernetesTarget(r.Route); target != "" {
				if err := s.tick(r, target); err != nil { // the API may be briefly away
					s.logger.Logf(LevelWarning, "Cannot read or scale %s: %v", target, err)
				}
			}
		}
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
	}
}

func (s *KubernetesScaler) tick(r ScaledRoute, target string) error {
	name, after := r.Route.Name, r.Route.ScaleToZero.AfterS
	s.mu.Lock()
	waking := s.waking[target]
	s.mu.Unlock()
	if !waking {
		replicas, err := s.getReplicas(target)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.replicas[target] = replicas
		s.mu.Unlock()
	}
	s.mu.Lock()
	replicas := s.replicas[target]
	s.mu.Unlock()
	if replicas == 0 {
		s.forgetCounts(target)
		return nil
	}
	if waking || r.Busy != 0 || s.activity.Held(name) != 0 || s.activity.IdleS(name) < after {
		return nil
	}
	staying := s.podsBusy(r.Route, target, after)
	if staying == "" {
		if err := s.setReplicas(target, 0); err != nil {
			return err
		}
		s.forgetCounts(target)
		delete(s.staying, target)
		s.logger.Logf(LevelInfo, "Deployment '%s' scaled to zero after %.0f s without a request.", name, after)
	} else if s.staying[target] != staying {
		// Said once per cause: why an idle deployment is not asleep.
		s.staying[target] = staying
		s.logger.Logf(LevelInfo, "Deployment '%s' has had no request here for %.0f s but stays up: %s.", name, s.activity.IdleS(name), staying)
	}
	return nil
}

// podsBusy is why the deployment must stay up although this replica sent it nothing
// ("" when it may sleep): its pods reported a predict count not seen before within
// after_s, or their count cannot be read.
func (s *KubernetesScaler) podsBusy(route *Deployment, target string, after float64) string {
	now := time.Now()
	seen := s.counts[target]
	if seen == nil {
		seen = map[float64]time.Time{}
		s.counts[target] = seen
	}
	count, ok := s.predictCount(route)
	if !ok {
		return "its pods' predict count cannot be read through its Service"
	}
	if _, known := seen[count]; !known {
		seen[count] = now
	}
	firstCount, looked := s.firstCounts[target]
	if !looked {
		firstCount = count
		s.firstCounts[target] = count
	}
	window := time.Duration(after * float64(time.Second))
	recent, recentWork := false, false
	for value, first := range seen {
		if now.Sub(first) > 4*window {
			delete(seen, value)
		} else if now.Sub(first) < window {
			recent = true
			recentWork = recentWork || value != firstCount
		}
	}
	if recentWork {
		return fmt.Sprintf("its pods scored requests within the last %.0f s (another gateway replica sent them)", after)
	}
	if recent {
		// Only the first look so far: no sign of work, but no proof of idleness either.
		return fmt.Sprintf("this replica has just started watching its pods' predict count, and waits %.0f s for it to stay unchanged (another gateway replica may be sending them requests)", after)
	}
	return ""
}

func (s *KubernetesScaler) forgetCounts(target string) {
	delete(s.counts, target)
	delete(s.firstCounts, target)
}

func (s *KubernetesScaler) predictCount(route *Deployment) (float64, bool) {
	if len(route.Instances) == 0 {
		return 0, false
	}
	answer, err := s.probe.Do(NewInstance(route.Instances[0]), "GET", "/metrics", nil, nil, probeBudget, true)
	if err != nil || answer.Status != 200 {
		return 0, false
	}
	for _, line := range strings.Split(string(answer.Body), "\n") {
		if strings.HasPrefix(line, "mlkube_predict_duration_seconds_count") {
			fields := strings.Fields(line)
			value, err := strconv.ParseFloat(fields[len(fields)-1], 64)
			return value, err == nil
		}
	}
	return 0, false
}

func (s *KubernetesScaler) scalePath(target string) string {
	return fmt.Sprintf("/apis/apps/v1/namespaces/%s/deployments/%s/scale", s.access.Namespace, target)
}

func (s *KubernetesScaler) getReplicas(target string) (int, error) {
	var scale struct {
		Spec struct {
			Replicas int `json:"replicas"`
		} `json:"spec"`
	}
	if err := s.call("GET", s.scalePath(target), nil, &scale); err != nil {
		return 0, err
	}
	return scale.Spec.Replicas, nil
}

func (s *KubernetesScaler) setReplicas(target string, replicas int) error {
	body := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
	if err := s.call("PATCH", s.scalePath(target), body, nil); err != nil {
		return err
	}
	s.mu.Lock()
	s.replicas[target] = replicas
	s.mu.Unlock()
	return nil
}

func (s *KubernetesScaler) call(method, path string, body []byte, into any) error {
	request, err := http.NewRequest(method, s.access.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	request.Header.Set("Authorization", "Bearer "+s.access.bearer())
	request.Header.Set("Accept", "application/json")
	request.Header.Set("Content-Type", "application/merge-patch+json")
	response, err := s.access.Client.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	data, err := io.ReadAll(io.LimitReader(response.Body, 1<<20))
	if err != nil {
		return err
	}
	if response.StatusCode >= 300 {
		var status struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &status)
		return fmt.Errorf("%s %s: %d %s", method, path, response.StatusCode, status.Message)
	}
	if into != nil && len(data) > 0 {
		return json.Unmarshal(data, into)
	}
	return nil
}
