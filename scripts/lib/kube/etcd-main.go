// The etcd server binary of Warden's local cluster (scripts/lib/kube/build.sh copies this file into the
// wrapper module as cmd/etcd): etcd's own main package lives in a module whose go.mod replaces its
// sibling modules with relative paths, so it cannot be built from the module proxy; its server module's
// etcdmain package can, at the version Kubernetes itself pins.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
