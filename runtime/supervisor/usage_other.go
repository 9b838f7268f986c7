//go:build !linux

package supervisor

type treeUsage struct {
	RSS, Anon int64
	CPU       float64
	Procs     int
}

// readTree knows nothing on this system.
func readTree(pid int) (treeUsage, bool) { return treeUsage{}, false }
