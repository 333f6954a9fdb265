// Command coredns is the test cluster's DNS server: CoreDNS with only the plugins a
// single-node cluster needs, so that Services resolve by name (the endpoint gateway
// reaches its deployments as <service>.<namespace>.svc.cluster.local).
//
// CoreDNS's own main links every plugin (cloud DNS providers, etcd, ...), which would
// add minutes to each cold build of the cluster; a custom main with a short plugin
// list is the build CoreDNS documents for this. There is no `forward` plugin on
// purpose: pods here must not reach any address outside the networks the run creates,
// so names outside the cluster get REFUSED instead of being sent upstream.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// directives keeps CoreDNS's execution order (core/dnsserver/zdirectives.go) for the
// plugins linked above; a Corefile naming any other plugin fails at start.
var directives = []string{"bind", "ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes"}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
