#!/usr/bin/env bash
# Stops the test cluster and removes its state: every pod's containers, the daemons,
# mounts under the state folder, the pods' cgroups, the networks and iptables rules the
# cluster made. The build cache (binaries) is kept. Safe to run when nothing is up.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib/common.sh"
source "$here/lib/network.sh"
source "$here/lib/processes.sh"

[ "$(id -u)" = 0 ] || die "run as root (the cluster's state is root's)"

# The kubelet first, so that it does not restart what is stopped next.
stop_daemon kubelet
if running containerd; then
    # Every container of every pod: tasks killed, then the shims exit with them.
    for task in $(ctr --address "$CONTAINERD_SOCKET" -n k8s.io tasks ls -q 2>/dev/null); do
        ctr --address "$CONTAINERD_SOCKET" -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
    done
fi
for name in metrics-server kube-proxy coredns kube-scheduler kube-controller-manager kube-apiserver etcd registry containerd; do
    stop_daemon "$name"
done
# Shims outlive containerd by design; they belong to this cluster when they name its socket.
pkill -9 -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCKET" 2>/dev/null || true

# Secret / ConfigMap volumes, container root filesystems and pod network namespaces are
# mounts below the state and run folders; unmount deepest first.
for folder in "$STATE_DIR" "$RUN_DIR"; do
    awk -v prefix="$folder/" 'index($2, prefix) == 1 {print $2}' /proc/mounts | sort -r \
        | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
done
for netns in /var/run/netns/cni-*; do
    [ -e "$netns" ] || continue
    umount -l "$netns" 2>/dev/null || true
    rm -f "$netns"
done

# The pods' cgroups (kubelet's "kubepods" tree in each v1 hierarchy, or under cgroup2).
for hierarchy in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    [ -d "$hierarchy/kubepods" ] || continue
    find "$hierarchy/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

remove_networks
rm -rf "$STATE_DIR" "$RUN_DIR"
log "down: state removed ($STATE_DIR); binaries kept in $CACHE_DIR"
