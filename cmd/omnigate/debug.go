package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// debugListenEnv names the environment variable that turns on the profiling listener
// (net/http/pprof). It is off unless set, never on the public listener, and refused on
// anything but a loopback address: profiles show request contents in memory.
const debugListenEnv = "OMNIGATE_DEBUG_LISTEN"

// startDebug serves /debug/pprof/ on the loopback address in $OMNIGATE_DEBUG_LISTEN.
// It returns a function that stops it; with the variable unset it does nothing.
func startDebug(log *slog.Logger) (func(), error) {
	addr := os.Getenv(debugListenEnv)
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", debugListenEnv, addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s=%q: the profiling listener must be on a loopback address (127.0.0.1:PORT)", debugListenEnv, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", debugListenEnv, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Warn("profiling listener on (net/http/pprof)", "listen", ln.Addr().String(), "env", debugListenEnv)
	return func() { srv.Close() }, nil
}
