#!/usr/bin/env bash
# Starts the single-node Kubernetes cluster the tests run on (idempotent), and prints
# exactly two lines on stdout, for `eval "$(make -s cluster)"`:
#   export KUBECONFIG=<admin kubeconfig>
#   export MLKUBE_TEST_K8S_REGISTRY=<host:port of the registry the node pulls from>
# Progress and errors go to stderr.
#
# What runs (all on this machine, as root): etcd, kube-apiserver (RBAC + the default
# admission plugins), kube-controller-manager, kube-scheduler, kubelet on the cluster's
# own containerd (cgroup v1, cgroupfs), kube-proxy (iptables), CoreDNS, metrics-server
# (the metrics.k8s.io API HPAs read; lib/metrics_server.sh), and a docker-registry on
# 127.0.0.1. Components are built from their Go modules (lib/build.sh, cached);
# containerd, runc, the CNI plugins and the registry are Debian's.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib/common.sh"
source "$here/lib/pki.sh"
source "$here/lib/network.sh"
source "$here/lib/configs.sh"
source "$here/lib/processes.sh"
source "$here/lib/metrics_server.sh"

started=$SECONDS

preflight() {
    [ "$(id -u)" = 0 ] || die "the cluster runs a kubelet and containerd, which need root: run as root (sudo make cluster)"
    local missing=() command
    for command in containerd containerd-shim-runc-v2 runc iptables conntrack openssl docker-registry ctr ip python3; do
        command -v "$command" >/dev/null || missing+=("$command")
    done
    [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/portmap ] \
        || missing+=("CNI plugins in /usr/lib/cni")
    [ "${#missing[@]}" = 0 ] || die "missing: ${missing[*]}: apt-get install containerd runc containernetworking-plugins iptables conntrack openssl docker-registry iproute2 python3"
    local subsystem
    for subsystem in cpu cpuacct cpuset memory pids; do
        grep -qw "$subsystem" <(awk '$3 == "cgroup" {print $4}' /proc/mounts | tr ',' '\n') \
            || [ -f /sys/fs/cgroup/cgroup.controllers ] \
            || die "cgroup controller $subsystem is not mounted: kubelet needs cpu, cpuacct, cpuset, memory and pids"
    done
}

# Each component's binary folder, from the build cache (building what is missing).
load_binaries() {
    local line
    while IFS='=' read -r name dir; do
        case "$name" in
            kubernetes) K8S_BIN="$dir" ;;
            etcd) ETCD_BIN="$dir" ;;
            coredns) COREDNS_BIN="$dir" ;;
            pause) PAUSE_BIN="$dir" ;;
            metrics-server) METRICS_SERVER_BIN="$dir" ;;
        esac
    done < <(bash "$here/lib/build.sh" pause etcd coredns kubernetes metrics-server)
    export PATH="$K8S_BIN:$PATH"
}

kubectl_admin() { "$K8S_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

start_etcd() {
    start_daemon etcd "$ETCD_BIN/etcd" --name "$NODE_NAME" --data-dir "$STATE_DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
        --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "$NODE_NAME=http://127.0.0.1:$ETCD_PEER_PORT" \
        --listen-metrics-urls "" --log-level warn \
        --unsafe-no-fsync   # a test cluster: losing the last writes on a power cut is fine
    wait_for "etcd" 30 "$LOG_DIR/etcd.log" \
        curl -fsS "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
}

start_apiserver() {
    start_daemon kube-apiserver "$K8S_BIN/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
        --bind-address 0.0.0.0 --secure-port "$API_PORT" --advertise-address "$NODE_IP" \
        --service-cluster-ip-range "$SERVICE_CIDR" \
        --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
        --client-ca-file "$PKI_DIR/ca.crt" \
        --tls-cert-file "$PKI_DIR/apiserver.crt" --tls-private-key-file "$PKI_DIR/apiserver.key" \
        --kubelet-client-certificate "$PKI_DIR/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$PKI_DIR/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority "$PKI_DIR/ca.crt" \
        --kubelet-preferred-address-types InternalIP \
        --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
        --service-account-key-file "$PKI_DIR/sa.pub" \
        --service-account-signing-key-file "$PKI_DIR/sa.key" \
        --allow-privileged=true --profiling=false --anonymous-auth=false \
        --service-node-port-range 30000-32767 \
        --requestheader-client-ca-file "$PKI_DIR/ca.crt" \
        --requestheader-allowed-names front-proxy-client \
        --requestheader-username-headers X-Remote-User \
        --requestheader-group-headers X-Remote-Group \
        --requestheader-extra-headers-prefix X-Remote-Extra- \
        --proxy-client-cert-file "$PKI_DIR/front-proxy-client.crt" \
        --proxy-client-key-file "$PKI_DIR/front-proxy-client.key" \
        --enable-aggregator-routing=true --v 1
    wait_for "kube-apiserver" 90 "$LOG_DIR/kube-apiserver.log" \
        kubectl_admin get --raw /readyz
}

# What the control plane's own identities need beyond the bootstrap roles: CoreDNS reads
# Services, EndpointSlices, Namespaces and Pods cluster-wide.
bootstrap_rbac() {
    kubectl_admin apply --server-side --field-manager mlkube-cluster -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "mlkube:coredns", labels: {app.kubernetes.io/part-of: mlkube-test-cluster}}
rules:
- apiGroups: [""]
  resources: [services, endpoints, namespaces, pods]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "mlkube:coredns", labels: {app.kubernetes.io/part-of: mlkube-test-cluster}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "mlkube:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "mlkube:coredns"}]
YAML
}

start_controllers() {
    start_daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" \
        --kubeconfig "$STATE_DIR/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$STATE_DIR/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$STATE_DIR/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
        --root-ca-file "$PKI_DIR/ca.crt" --service-account-private-key-file "$PKI_DIR/sa.key" \
        --cluster-signing-cert-file "$PKI_DIR/ca.crt" --cluster-signing-key-file "$PKI_DIR/ca.key" \
        --allocate-node-cidrs=true --cluster-cidr "$CLUSTER_CIDR" --node-cidr-mask-size 24 \
        --service-cluster-ip-range "$SERVICE_CIDR" \
        --horizontal-pod-autoscaler-sync-period "$HPA_SYNC_PERIOD" --v 1
    start_daemon kube-scheduler "$K8S_BIN/kube-scheduler" \
        --kubeconfig "$STATE_DIR/scheduler.kubeconfig" \
        --authentication-kubeconfig "$STATE_DIR/scheduler.kubeconfig" \
        --authorization-kubeconfig "$STATE_DIR/scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --leader-elect=false --v 1
}

start_registry() {
    start_daemon registry docker-registry serve "$CONF_DIR/registry.yml"
    wait_for "the image registry on $REGISTRY" 30 "$LOG_DIR/registry.log" \
        curl -fsS "http://$REGISTRY/v2/"
}

start_containerd() {
    start_daemon containerd containerd --config "$CONF_DIR/containerd.toml"
    wait_for "containerd" 30 "$LOG_DIR/containerd.log" \
        ctr --address "$CONTAINERD_SOCKET" version
    if ! ctr --address "$CONTAINERD_SOCKET" -n k8s.io images check "name==$PAUSE_IMAGE" 2>/dev/null \
            | grep -q "$PAUSE_IMAGE"; then
        python3 "$here/lib/pause_image.py" "$PAUSE_BIN/pause" "$PAUSE_IMAGE" "$RUN_DIR/pause.tar"
        ctr --address "$CONTAINERD_SOCKET" -n k8s.io images import "$RUN_DIR/pause.tar" >/dev/null
        rm -f "$RUN_DIR/pause.tar"
        log "pause image: imported $PAUSE_IMAGE"
    fi
}

start_kubelet() {
    start_daemon kubelet "$K8S_BIN/kubelet" --config "$CONF_DIR/kubelet.yaml" \
        --kubeconfig "$STATE_DIR/kubelet.kubeconfig" --hostname-override "$NODE_NAME" \
        --node-ip "$NODE_IP" --root-dir "$STATE_DIR/kubelet" --v 1
}

# The node is up when this kubelet is alive and healthy and the node reports Ready. The
# Ready condition alone is not enough: after a restart it still shows the previous
# kubelet's last report until the controller-manager's grace period (40 s) runs out. And
# for a moment after containerd's socket serves, its CRI plugin answers "server is not
# initialized yet" (it recovers its containers first) and the kubelet exits on that, as
# it would under systemd, which restarts it: so a kubelet found dead is started again.
node_ready() {
    if ! running kubelet; then
        start_kubelet 2>/dev/null
        return 1
    fi
    curl -fsS "http://127.0.0.1:10248/healthz" >/dev/null \
        && kubectl_admin wait --for condition=Ready "node/$NODE_NAME" --timeout 2s
}

start_node() {
    start_kubelet
    wait_for "node $NODE_NAME (kubelet)" 120 "$LOG_DIR/kubelet.log" node_ready
    start_daemon kube-proxy "$K8S_BIN/kube-proxy" --config "$CONF_DIR/kube-proxy.yaml" --v 1
    start_daemon coredns "$COREDNS_BIN/coredns" -conf "$CONF_DIR/Corefile"
    wait_for "CoreDNS" 60 "$LOG_DIR/coredns.log" \
        curl -fsS "http://127.0.0.1:$DNS_READY_PORT/ready"
    wait_for "kube-proxy" 60 "$LOG_DIR/kube-proxy.log" \
        curl -fsS "http://127.0.0.1:10256/healthz"
    # Pods can be created once the default ServiceAccount exists (the controller-manager
    # makes it); a test that raced it would fail with "serviceaccount not found".
    wait_for "the default ServiceAccount" 60 "$LOG_DIR/kube-controller-manager.log" \
        kubectl_admin get serviceaccount default -n default
}

preflight
mkdir -p "$STATE_DIR" "$RUN_DIR" "$LOG_DIR"
load_binaries
make_node_interface
enable_forwarding
guard_pod_egress
make_pki
write_configs
start_etcd
start_apiserver
bootstrap_rbac
start_controllers
start_registry
start_containerd
start_node
start_metrics_server
log "up in $((SECONDS - started)) s: $("$K8S_BIN/kubectl" version --kubeconfig "$ADMIN_KUBECONFIG" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])') on node $NODE_NAME ($NODE_IP); kubectl: $K8S_BIN/kubectl"
echo "export KUBECONFIG=$ADMIN_KUBECONFIG"
echo "export MLKUBE_TEST_K8S_REGISTRY=$REGISTRY"
