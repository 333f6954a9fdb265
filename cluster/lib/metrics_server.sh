# metrics-server, the resource metrics API HPAs and `kubectl top` read (sourced by up.sh,
# which defines kubectl_admin and METRICS_SERVER_BIN before calling start_metrics_server).
#
# metrics-server on the host (no image of it exists here), registered as the aggregated
# API metrics.k8s.io: a Service without selector whose EndpointSlice is the node address,
# which kube-apiserver dials directly (--enable-aggregator-routing) and verifies against
# the cluster CA. metrics-server scrapes kubelet's /metrics/resource and verifies the
# kubelet's serving certificate (node address in its SANs) against the same CA.
start_metrics_server() {
    local ca_bundle
    ca_bundle="$(base64 -w0 <"$PKI_DIR/ca.crt")"
    kubectl_admin apply --server-side --field-manager mlkube-cluster -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:metrics-server", labels: {app.kubernetes.io/part-of: mlkube-test-cluster}}
rules:
- apiGroups: [""]
  resources: [nodes/metrics]
  verbs: [get]
- apiGroups: [""]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:metrics-server", labels: {app.kubernetes.io/part-of: mlkube-test-cluster}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:metrics-server"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
# As every aggregated API server: it asks the API server who a caller is and what it may do.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "metrics-server:system:auth-delegator", labels: {app.kubernetes.io/part-of: mlkube-test-cluster}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: metrics-server-auth-reader, namespace: kube-system, labels: {app.kubernetes.io/part-of: mlkube-test-cluster}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
# Who may read pod and node metrics: whoever may view, edit or administer a namespace.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "system:aggregated-metrics-reader"
  labels:
    app.kubernetes.io/part-of: mlkube-test-cluster
    rbac.authorization.k8s.io/aggregate-to-view: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
rules:
- apiGroups: [metrics.k8s.io]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system, labels: {app.kubernetes.io/part-of: mlkube-test-cluster}}
spec:
  type: ClusterIP
  ports: [{name: https, port: 443, targetPort: $METRICS_PORT, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: metrics-server
  namespace: kube-system
  labels:
    app.kubernetes.io/part-of: mlkube-test-cluster
    kubernetes.io/service-name: metrics-server
    endpointslice.kubernetes.io/managed-by: mlkube-cluster
addressType: IPv4
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
ports: [{name: https, port: $METRICS_PORT, protocol: TCP}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io, labels: {app.kubernetes.io/part-of: mlkube-test-cluster}}
spec:
  group: metrics.k8s.io
  version: v1beta1
  service: {name: metrics-server, namespace: kube-system, port: 443}
  caBundle: $ca_bundle
  groupPriorityMinimum: 100
  versionPriority: 100
YAML
    local kubeconfig="$STATE_DIR/metrics-server.kubeconfig"
    start_daemon metrics-server "$METRICS_SERVER_BIN/metrics-server" \
        --kubeconfig "$kubeconfig" \
        --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
        --bind-address "$NODE_IP" --secure-port "$METRICS_PORT" \
        --tls-cert-file "$PKI_DIR/metrics-server-serving.crt" \
        --tls-private-key-file "$PKI_DIR/metrics-server-serving.key" \
        --kubelet-certificate-authority "$PKI_DIR/ca.crt" \
        --kubelet-preferred-address-types InternalIP --kubelet-use-node-status-port \
        --metric-resolution "$METRIC_RESOLUTION" --kubelet-request-timeout 5s \
        --profiling=false --v 1
    # The API answers once metrics-server has scraped the node twice (a CPU rate needs two
    # samples): a test that reads an HPA right after `make cluster` finds numbers.
    wait_for "the metrics API (metrics-server)" 90 "$LOG_DIR/metrics-server.log" \
        kubectl_admin get --raw "/apis/metrics.k8s.io/v1beta1/nodes/$NODE_NAME"
}
