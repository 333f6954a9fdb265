# The test cluster's networks (sourced by up.sh and down.sh).
#
# Everything the cluster talks on is made here and removed by down.sh:
# - the node's address ($NODE_IP) on a veth pair of its own: kubelet, the API server's
#   advertised address and CoreDNS live there, since loopback cannot be a node address
#   (pods could not reach it);
# - the pod bridge ($POD_BRIDGE, made by the CNI bridge plugin on the first pod) and its
#   range $POD_CIDR; Services on $SERVICE_CIDR (kube-proxy's iptables rules);
# - an egress guard: pods may reach pods, Services and this node only; anything they send
#   elsewhere is dropped (and counted), so no test can reach an address outside the
#   networks the run created, whatever a model's code tries.

EGRESS_CHAIN=MLKUBE-POD-EGRESS

make_node_interface() {
    if ! ip link show "$NODE_IFACE" >/dev/null 2>&1; then
        ip link add "$NODE_IFACE" type veth peer name "$NODE_PEER_IFACE"
    fi
    ip link set "$NODE_PEER_IFACE" up
    ip link set "$NODE_IFACE" up
    if ! ip -4 addr show dev "$NODE_IFACE" | grep -q "inet $NODE_IP/"; then
        ip addr add "$NODE_IP/$NODE_NET_PREFIX" dev "$NODE_IFACE"
    fi
}

enable_forwarding() {
    # Pods and Services need routing between the bridge and the node, and bridged pod
    # traffic must pass iptables so kube-proxy's Service rules apply to it.
    sysctl -qw net.ipv4.ip_forward=1
    sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null \
        || die "bridged traffic cannot pass iptables (no br_netfilter): Services would not work"
    # NodePorts on 127.0.0.1 (how tests reach the gateway) are DNAT-ed from loopback.
    sysctl -qw net.ipv4.conf.all.route_localnet=1
}

guard_pod_egress() {
    iptables -w -N "$EGRESS_CHAIN" 2>/dev/null || iptables -w -F "$EGRESS_CHAIN"
    # Pod to pod (directly, or to a Service after kube-proxy's DNAT) is accepted here:
    # Docker sets FORWARD's policy to DROP, and kube-proxy accepts only the traffic it
    # marked for masquerading, so without this only hairpin traffic would pass. Traffic
    # to this node's own addresses never crosses FORWARD (it is INPUT).
    iptables -w -A "$EGRESS_CHAIN" -d "$CLUSTER_CIDR" -j ACCEPT
    iptables -w -A "$EGRESS_CHAIN" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    iptables -w -A "$EGRESS_CHAIN" -j DROP
    # First in FORWARD, ahead of Docker's and kube-proxy's chains.
    iptables -w -C FORWARD -s "$CLUSTER_CIDR" -j "$EGRESS_CHAIN" 2>/dev/null \
        || iptables -w -I FORWARD 1 -s "$CLUSTER_CIDR" -j "$EGRESS_CHAIN"
}

remove_networks() {
    iptables -w -D FORWARD -s "$CLUSTER_CIDR" -j "$EGRESS_CHAIN" 2>/dev/null || true
    iptables -w -F "$EGRESS_CHAIN" 2>/dev/null || true
    iptables -w -X "$EGRESS_CHAIN" 2>/dev/null || true
    # kube-proxy's rules: every KUBE-* chain in the tables it writes.
    local table chain
    for table in nat filter mangle; do
        iptables -w -t "$table" -S 2>/dev/null | awk '/^-A .* -j KUBE-/ || /^-A KUBE-/' \
            | while read -r rule; do
                # shellcheck disable=SC2086
                iptables -w -t "$table" ${rule/-A/-D} 2>/dev/null || true
            done
        for chain in $(iptables -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
            iptables -w -t "$table" -F "$chain" 2>/dev/null || true
        done
        for chain in $(iptables -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
            iptables -w -t "$table" -X "$chain" 2>/dev/null || true
        done
    done
    ip link del "$POD_BRIDGE" 2>/dev/null || true
    ip link del "$NODE_IFACE" 2>/dev/null || true
}
