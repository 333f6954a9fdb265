# Shared settings and helpers of the test cluster's scripts (sourced, not run).
#
# Every path, address and port the cluster uses is here, each overridable from the
# environment, so that the scripts agree and a reader finds them in one place.

# Binaries (built by build.sh) live outside the checkout and survive `make cluster-down`.
CACHE_DIR="${MLKUBE_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlkube-cluster}"
# State: certificates, kubeconfigs, etcd data, images, pod folders, logs.
STATE_DIR="${MLKUBE_CLUSTER_STATE:-/var/lib/mlkube-cluster}"
# Sockets and pid files (cleared by a reboot, as a real node's are).
RUN_DIR="${MLKUBE_CLUSTER_RUN:-/run/mlkube-cluster}"
LOG_DIR="$STATE_DIR/logs"

NODE_NAME="${MLKUBE_CLUSTER_NODE:-mlkube-node}"
# The node's own address, on a veth pair the run creates: kubelet and the API server
# must not advertise loopback (pods could not reach it), and nothing here may use an
# address of a network the run did not create.
NODE_IP="${MLKUBE_CLUSTER_NODE_IP:-10.201.0.1}"
NODE_NET_PREFIX=24
NODE_IFACE=mlkube-node
NODE_PEER_IFACE=mlkube-nodep
POD_CIDR="${MLKUBE_CLUSTER_POD_CIDR:-10.244.0.0/24}"
POD_GATEWAY="${POD_CIDR%.*}.1"
CLUSTER_CIDR="${MLKUBE_CLUSTER_CIDR:-10.244.0.0/16}"
SERVICE_CIDR="${MLKUBE_CLUSTER_SERVICE_CIDR:-10.96.0.0/16}"
_service_net="${SERVICE_CIDR%/*}"
# The API server's own Service takes the range's first address (10.96.0.0/16 -> 10.96.0.1).
KUBERNETES_SERVICE_IP="${_service_net%.*}.1"
POD_BRIDGE=mlkube-cni0
CLUSTER_DOMAIN=cluster.local

API_PORT="${MLKUBE_CLUSTER_API_PORT:-6443}"
ETCD_CLIENT_PORT="${MLKUBE_CLUSTER_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${MLKUBE_CLUSTER_ETCD_PEER_PORT:-23800}"
REGISTRY_PORT="${MLKUBE_CLUSTER_REGISTRY_PORT:-5100}"
REGISTRY="127.0.0.1:$REGISTRY_PORT"
# metrics-server's secure port, on the node address (the API server proxies to it there).
METRICS_PORT="${MLKUBE_CLUSTER_METRICS_PORT:-4443}"
# How often metrics-server scrapes the kubelet (its minimum) and the HPA controller acts:
# short, so a test sees an autoscaler act within a minute, not the defaults' 60 s + 15 s.
METRIC_RESOLUTION=10s
HPA_SYNC_PERIOD=5s
# CoreDNS's health / readiness ports (loopback only).
DNS_HEALTH_PORT=18080
DNS_READY_PORT=18181

CONTAINERD_SOCKET="$RUN_DIR/containerd.sock"
PAUSE_IMAGE="mlkube.local/pause:1"
ADMIN_KUBECONFIG="$STATE_DIR/admin.kubeconfig"

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: error: $*" >&2; exit 1; }

# wait_for DESCRIPTION DEADLINE_S LOGFILE COMMAND...: poll COMMAND until it succeeds; past
# the deadline, show the component's log tail and fail naming what did not come up.
wait_for() {
    local what="$1" deadline="$2" logfile="$3"; shift 3
    local started=$SECONDS
    until "$@" >/dev/null 2>&1; do
        if (( SECONDS - started >= deadline )); then
            [ -f "$logfile" ] && tail -n 40 "$logfile" >&2
            die "$what did not come up within ${deadline}s (log: $logfile)"
        fi
        sleep 0.5
    done
}
