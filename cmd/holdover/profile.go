package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile of this run to $HOLDOVER_CPUPROFILE
// when it is set: the benchmarks (bench/*.sh -pprof) use it to show where
// a sync's time goes. The returned function stops it; it is a no-op when
// profiling is off.
func startProfile() (stop func()) {
	path := os.Getenv("HOLDOVER_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "holdover: HOLDOVER_CPUPROFILE: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "holdover: HOLDOVER_CPUPROFILE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
