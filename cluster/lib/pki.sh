# The test cluster's certificates and kubeconfigs (sourced by up.sh).
#
# One CA signs everything: the API server's serving certificate, a client certificate per
# component (its identity for RBAC: system:kube-controller-manager, system:node:<node>,
# ...), the kubelet's and metrics-server's serving certificates, the API server's
# front-proxy client, and the admin's (group system:masters). Keys
# are EC P-256: they take milliseconds to make, so a fresh cluster never waits on them.
# Made once per state folder; files are 0600 where they hold a key.

PKI_DIR="$STATE_DIR/pki"

_new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# issue_cert NAME SUBJECT USAGE [SAN...]: NAME.crt / NAME.key signed by the CA, for
# USAGE serverAuth, clientAuth or both ("serverAuth,clientAuth").
issue_cert() {
    local name="$1" subject="$2" usage="$3"; shift 3
    [ -f "$PKI_DIR/$name.crt" ] && return
    _new_key "$PKI_DIR/$name.key"
    local ext="$PKI_DIR/$name.ext"
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$usage"
        if [ "$#" -gt 0 ]; then
            local sans="" san
            for san in "$@"; do
                if [[ "$san" =~ ^[0-9.]+$ ]]; then sans+="IP:$san,"; else sans+="DNS:$san,"; fi
            done
            echo "subjectAltName=${sans%,}"
        fi
    } >"$ext"
    openssl req -new -key "$PKI_DIR/$name.key" -subj "$subject" -out "$PKI_DIR/$name.csr" 2>/dev/null
    openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/ca.crt" -CAkey "$PKI_DIR/ca.key" \
        -CAcreateserial -days 3650 -extfile "$ext" -out "$PKI_DIR/$name.crt" 2>"$PKI_DIR/$name.err" \
        || { cat "$PKI_DIR/$name.err" >&2; die "cannot sign the $name certificate"; }
    rm -f "$PKI_DIR/$name.err"
    rm -f "$PKI_DIR/$name.csr" "$ext"
}

# write_kubeconfig FILE USER CERT_NAME: a kubeconfig for identity CERT_NAME on the API
# server at 127.0.0.1 (every component runs on this machine), certificates inline so the
# file can be copied elsewhere as it is.
write_kubeconfig() {
    local file="$1" user="$2" cert="$3"
    [ -f "$file" ] && return
    local ca crt key
    ca="$(base64 -w0 <"$PKI_DIR/ca.crt")"
    crt="$(base64 -w0 <"$PKI_DIR/$cert.crt")"
    key="$(base64 -w0 <"$PKI_DIR/$cert.key")"
    umask 077
    cat >"$file" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: mlkube
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $ca
users:
- name: $user
  user:
    client-certificate-data: $crt
    client-key-data: $key
contexts:
- name: mlkube
  context: {cluster: mlkube, user: $user}
current-context: mlkube
KUBECONFIG
    umask 022
}

make_pki() {
    mkdir -p "$PKI_DIR"
    chmod 700 "$PKI_DIR"
    if [ ! -f "$PKI_DIR/ca.crt" ]; then
        _new_key "$PKI_DIR/ca.key"
        openssl req -x509 -new -key "$PKI_DIR/ca.key" -subj "/CN=mlkube-cluster-ca" \
            -days 3650 -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
            -out "$PKI_DIR/ca.crt" 2>/dev/null
    fi
    issue_cert apiserver "/CN=kube-apiserver" serverAuth \
        127.0.0.1 localhost "$NODE_IP" "$KUBERNETES_SERVICE_IP" kubernetes kubernetes.default \
        kubernetes.default.svc "kubernetes.default.svc.$CLUSTER_DOMAIN"
    issue_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
    issue_cert admin "/O=system:masters/CN=mlkube-admin" clientAuth
    issue_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
    issue_cert scheduler "/CN=system:kube-scheduler" clientAuth
    issue_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
    issue_cert kubelet-serving "/CN=$NODE_NAME" serverAuth "$NODE_NAME" "$NODE_IP"
    issue_cert kube-proxy "/CN=system:kube-proxy" clientAuth
    issue_cert coredns "/CN=mlkube:coredns" clientAuth
    # The aggregation layer: kube-apiserver proxies metrics.k8s.io to metrics-server as
    # front-proxy-client (the only name allowed to assert X-Remote-User, see up.sh), and
    # checks metrics-server's serving certificate for its Service's name.
    issue_cert front-proxy-client "/CN=front-proxy-client" clientAuth
    issue_cert metrics-server "/CN=system:metrics-server" clientAuth
    issue_cert metrics-server-serving "/CN=metrics-server" serverAuth \
        metrics-server.kube-system.svc "metrics-server.kube-system.svc.$CLUSTER_DOMAIN" "$NODE_IP"
    # Service-account tokens are signed with this key pair (kube-apiserver issues them,
    # the controller-manager makes the token Secrets some workloads still read).
    if [ ! -f "$PKI_DIR/sa.key" ]; then
        _new_key "$PKI_DIR/sa.key"
        openssl pkey -in "$PKI_DIR/sa.key" -pubout -out "$PKI_DIR/sa.pub" 2>/dev/null
    fi
    write_kubeconfig "$ADMIN_KUBECONFIG" mlkube-admin admin
    write_kubeconfig "$STATE_DIR/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
    write_kubeconfig "$STATE_DIR/scheduler.kubeconfig" system:kube-scheduler scheduler
    write_kubeconfig "$STATE_DIR/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet
    write_kubeconfig "$STATE_DIR/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
    write_kubeconfig "$STATE_DIR/coredns.kubeconfig" mlkube:coredns coredns
    write_kubeconfig "$STATE_DIR/metrics-server.kubeconfig" system:metrics-server metrics-server
}
