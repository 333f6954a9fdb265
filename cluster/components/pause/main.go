// Command pause is the test cluster's pod sandbox process: the first process of every
// pod, which holds the pod's network namespace open while its containers come and go.
//
// No registry is reachable from these machines, so the usual registry.k8s.io/pause image
// cannot be pulled; this is the same job in a few lines, built static and imported into
// the cluster's containerd. As PID 1 of a pod with a shared process namespace it also
// reaps orphaned children, and it exits on SIGINT / SIGTERM so pods stop at once.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("mlkube pause 1\n")
		return
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			// Reap every exited child; -1 = any child, WNOHANG = do not block.
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
