//go:build esptun_pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on the default mux
	"os"
	"runtime"
)

// Built with -tags esptun_pprof and run with ESPTUN_PPROF=ADDR, esptun
// serves net/http/pprof on ADDR (CPU, heap, allocation, mutex and block
// profiles of a running daemon). Ordinary builds have none of this.
func init() {
	addr := os.Getenv("ESPTUN_PPROF")
	if addr == "" {
		return
	}
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(100000)
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
