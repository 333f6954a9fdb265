package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiServer stands in for the API server's deployments/scale subresource of one
// Deployment, over TLS, checking the bearer token.
type apiServer struct {
	mu       sync.Mutex
	replicas int
	patches  []int
}

func (a *apiServer) current() (int, []int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.replicas, append([]int(nil), a.patches...)
}

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer pod-token" ||
		r.URL.Path != "/apis/apps/v1/namespaces/ns/deployments/blue-dep/scale" {
		w.WriteHeader(403)
		_, _ = io.WriteString(w, `{"message":"forbidden"}`)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Method == "PATCH" {
		var body struct {
			Spec struct {
				Replicas int `json:"replicas"`
			} `json:"spec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		a.replicas = body.Spec.Replicas
		a.patches = append(a.patches, a.replicas)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"spec": map[string]int{"replicas": a.replicas}})
}

func TestScalerWakesASleepingDeploymentAndPutsAnIdleOneToSleep(t *testing.T) {
	api := &apiServer{replicas: 0}
	cluster := httptest.NewTLSServer(api)
	defer cluster.Close()
	service := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			_, _ = io.WriteString(w, "mlkube_predict_duration_seconds_count 7\n")
		}
	}))
	defer service.Close()
	three := 3
	route := &Deployment{Name: "blue", Instances: []string{service.URL}, InstanceCount: &three,
		ScaleToZero: &ScaleToZero{AfterS: 0.2, HeldLimit: 1, KubernetesDeployment: "blue-dep"}}
	activity := NewActivity()
	var logged bytes.Buffer
	scaler := NewKubernetesScaler(&APIAccess{BaseURL: cluster.URL, Namespace: "ns", Token: "pod-token",
		Client: cluster.Client()}, activity, NewLogger(&logged, LevelInfo))

	if err := scaler.tick(ScaledRoute{route, 0}, "blue-dep"); err != nil {
		t.Fatal(err)
	}
	if !scaler.Asleep(route) {
		t.Fatal("a Deployment at 0 replicas is not reported asleep")
	}
	scaler.Wake(route)
	waitFor(t, func() bool { return !scaler.Asleep(route) }, "the deployment to wake")
	if _, patches := api.current(); len(patches) == 0 || patches[0] != 3 {
		t.Errorf("woken to %v replicas, want its instance_count 3", patches)
	}

	// Idle past after_s, nothing in flight, and its pods' count unchanged: asleep.
	activity.Touch("blue")
	deadline := time.Now().Add(5 * time.Second)
	for replicas, _ := api.current(); replicas != 0 && time.Now().Before(deadline); replicas, _ = api.current() {
		if err := scaler.tick(ScaledRoute{route, 0}, "blue-dep"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if replicas, _ := api.current(); replicas != 0 {
		t.Fatalf("an idle deployment stayed at %d replicas", replicas)
	}
	// It waited one after_s on its first look at the count, and said so, without
	// claiming work another replica never sent (the count stayed 7).
	if text := logged.String(); !strings.Contains(text, "just started watching its pods' predict count") ||
		strings.Contains(text, "another gateway replica sent them") {
		t.Errorf("log does not say why the idle deployment waited:\n%s", text)
	}
}

func TestScalerReportsTheApiServersRefusal(t *testing.T) {
	cluster := httptest.NewTLSServer(&apiServer{})
	defer cluster.Close()
	scaler := NewKubernetesScaler(&APIAccess{BaseURL: cluster.URL, Namespace: "ns", Token: "stolen",
		Client: cluster.Client()}, NewActivity(), NewLogger(io.Discard, LevelError))
	_, err := scaler.getReplicas("blue-dep")
	if err == nil || !strings.Contains(err.Error(), "403 forbidden") {
		t.Errorf("got %v, want the API server's 403 and message", err)
	}
}

func TestScalerUsesTheTokenTheKubeletRotatedIn(t *testing.T) {
	cluster := httptest.NewTLSServer(&apiServer{replicas: 2})
	defer cluster.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("expired-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scaler := NewKubernetesScaler(&APIAccess{BaseURL: cluster.URL, Namespace: "ns", TokenFile: tokenFile,
		Token: "expired-token", Client: cluster.Client()}, NewActivity(), NewLogger(io.Discard, LevelError))
	if _, err := scaler.getReplicas("blue-dep"); err == nil {
		t.Fatal("the stand-in API server took the expired token")
	}

	// The kubelet writes the refreshed token into the mounted file (atomically).
	if err := os.WriteFile(tokenFile+".new", []byte("pod-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tokenFile+".new", tokenFile); err != nil {
		t.Fatal(err)
	}
	replicas, err := scaler.getReplicas("blue-dep")
	if err != nil || replicas != 2 {
		t.Fatalf("after the rotation got %d, %v; want 2 replicas read with the new token", replicas, err)
	}
	// A file that cannot be read for a moment: the last token read stands in.
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	if _, err := scaler.getReplicas("blue-dep"); err != nil {
		t.Errorf("with the token file briefly gone: %v", err)
	}
}

func waitFor(t *testing.T, condition func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
