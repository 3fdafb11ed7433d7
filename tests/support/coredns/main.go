// Command coredns is the cluster DNS of the hivekeeper test node: CoreDNS built from its Go module with only
// the plugins a one-node cluster without upstream DNS needs (Service and Pod names from the API server).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	// The order in which plugins handle a query; only these are compiled in (a full build takes every plugin
	// of CoreDNS, cloud back ends included, for no use here).
	dnsserver.Directives = []string{"bind", "errors", "log", "health", "ready", "cache", "kubernetes"}
}

func main() {
	coremain.Run()
}
