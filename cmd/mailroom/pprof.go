package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves Go's profiling endpoints under /debug/pprof/ on addr
// ([debug] pprof) until stop is called.
//
// The handlers live on a ServeMux of their own: importing net/http/pprof
// also registers them on http.DefaultServeMux, which mailroom never
// serves, so they are reachable at addr and nowhere else, and nothing
// another package registers globally appears at addr either.
func startPprof(addr string, log *slog.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	// Index also serves the named profiles: heap, goroutine, allocs, block,
	// mutex, threadcreate.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)

	// Listening here, not in the goroutine, makes a taken port an error of
	// serve instead of a log line nobody reads.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen debug.pprof on %s: %w", addr, err)
	}
	if !loopbackAddr(addr) {
		log.Warn("pprof is reachable from other machines and has no authentication", "addr", ln.Addr().String())
	}
	// No WriteTimeout: /debug/pprof/profile?seconds=30 answers after 30 s,
	// and pprof refuses a duration longer than the server's WriteTimeout.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof", "addr", addr, "err", err)
		}
	}()
	return func() {
		// Close, not Shutdown: a CPU profile or trace in progress may run
		// for minutes, and shutting the mail server down must not wait
		// for it.
		srv.Close()
		<-done
	}, nil
}
