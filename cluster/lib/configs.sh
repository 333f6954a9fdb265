# The components' configuration files (sourced by up.sh), written on every start so that
# a change here takes effect with the next `make cluster`.

CONF_DIR="$STATE_DIR/conf"

# write_if_changed FILE: standard input to FILE, unless FILE holds exactly that already.
# kube-proxy exits when its config file is rewritten, even with the same bytes, so a
# second `make cluster` must leave unchanged files alone.
write_if_changed() {
    local file="$1" tmp
    tmp="$(mktemp "$file.XXXXXX")"
    cat >"$tmp"
    if [ -f "$file" ] && cmp -s "$tmp" "$file"; then
        rm -f "$tmp"
    else
        chmod 0644 "$tmp"
        mv -f "$tmp" "$file"
    fi
}

write_configs() {
    mkdir -p "$CONF_DIR" "$CONF_DIR/cni" "$CONF_DIR/certs.d/$REGISTRY" "$STATE_DIR/registry"

    # containerd: its own socket, root and state, apart from the one Docker may run, so
    # the cluster's images and containers never mix with Docker's. cgroupfs, not systemd:
    # these machines have no systemd.
    write_if_changed "$CONF_DIR/containerd.toml" <<TOML
version = 2
root = "$STATE_DIR/containerd"
state = "$RUN_DIR/containerd"
[grpc]
  address = "$CONTAINERD_SOCKET"
[ttrpc]
  address = "$CONTAINERD_SOCKET.ttrpc"
[debug]
  level = "info"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_unprivileged_ports = true
  # These machines drop CAP_SYS_RESOURCE from every process's bounding set, so no one
  # may lower an oom_score_adj below 0, and runc fails with "can't get final child's PID
  # from pipe" on the -998 kubelet asks for pause containers. Clamp to containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CONF_DIR/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$CONF_DIR/certs.d"
TOML

    # The cluster's registry speaks plain HTTP on loopback; containerd must be told.
    write_if_changed "$CONF_DIR/certs.d/$REGISTRY/hosts.toml" <<TOML
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
TOML

    write_if_changed "$CONF_DIR/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $STATE_DIR/registry}
  delete: {enabled: true}
http:
  addr: $REGISTRY
YAML

    # Pods on one bridge with host-local addresses; no masquerading: pods have nowhere
    # to go beyond this node (see network.sh's egress guard).
    write_if_changed "$CONF_DIR/cni/10-mlkube.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "mlkube",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$POD_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE_DIR/cni-ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON

    # Pods resolve through CoreDNS on the node address; nothing upstream.
    echo "nameserver $NODE_IP" >"$CONF_DIR/resolv.conf"

    write_if_changed "$CONF_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI_DIR/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI_DIR/kubelet-serving.crt
tlsPrivateKeyFile: $PKI_DIR/kubelet-serving.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
# These machines mount cgroup v1 hierarchies (no systemd): kubelet >= 1.35 refuses v1
# unless told, and must manage cgroups itself.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
clusterDNS: [$NODE_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $CONF_DIR/resolv.conf
# Tests roll deployments often: pull images in parallel, keep them (the disk is large),
# and evict only when the machine is truly short.
serializeImagePulls: false
imageGCHighThresholdPercent: 95
imageGCLowThresholdPercent: 90
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%}
# How soon a changed ConfigMap / Secret reaches mounted files (traffic changes, keys).
syncFrequency: 3s
configMapAndSecretChangeDetectionStrategy: Watch
nodeStatusUpdateFrequency: 5s
maxPods: 110
shutdownGracePeriod: 0s
# kubelet would give itself -999 (see containerd.toml: no CAP_SYS_RESOURCE here).
oomScoreAdj: 0
YAML

    write_if_changed "$CONF_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE_DIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $CLUSTER_CIDR
# NodePorts answer on loopback (how tests and users on this machine reach an endpoint's
# gateway) and on the node address, nowhere else.
nodePortAddresses: [127.0.0.1/32, $NODE_IP/32]
iptables: {localhostNodePorts: true, syncPeriod: 30s, minSyncPeriod: 0s}
conntrack: {maxPerCore: 0}
oomScoreAdj: 0   # not -999: no CAP_SYS_RESOURCE on these machines (see containerd.toml)
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
YAML

    write_if_changed "$CONF_DIR/Corefile" <<COREFILE
$CLUSTER_DOMAIN:53 in-addr.arpa:53 ip6.arpa:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:$DNS_HEALTH_PORT
    ready 127.0.0.1:$DNS_READY_PORT
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $STATE_DIR/coredns.kubeconfig mlkube
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
    loadbalance
}
COREFILE
}
