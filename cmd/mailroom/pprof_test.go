package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// getPprof fetches path from a pprof address and returns the status and
// body.
func getPprof(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// TestPprofServe: with [debug] pprof set, the running binary serves the
// profiling endpoints at that address, of this very process, and says
// where in its log.
func TestPprofServe(t *testing.T) {
	in := newInstance(t, "", "")
	addr := freePort(t)
	cfg := append(mustRead(t, in.config), fmt.Sprintf("\n[debug]\npprof = %q\n", addr)...)
	if err := os.WriteFile(in.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	in.start()

	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/debug/pprof/", http.StatusOK, "goroutine"},
		{"/debug/pprof/heap?debug=1", http.StatusOK, "heap profile"},
		// The command line proves the profiles are the server's own.
		{"/debug/pprof/cmdline", http.StatusOK, "serve\x00--config\x00" + in.config},
		{"/", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := getPprof(t, addr, tt.path)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("GET %s: %d, want %d with %q\n%.500s", tt.path, status, tt.status, tt.want, body)
			}
		})
	}
	if logs := in.logs.String(); !strings.Contains(logs, "pprof listening") || !strings.Contains(logs, addr) {
		t.Errorf("the log does not say where pprof listens:\n%s", logs)
	}
	in.stop()
}

var registerGlobal sync.Once

// TestPprofPrivateMux: startPprof serves the profiling handlers and
// nothing registered on http.DefaultServeMux, and stop frees the address.
func TestPprofPrivateMux(t *testing.T) {
	const global = "/debug/registered-globally"
	registerGlobal.Do(func() {
		http.HandleFunc(global, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "global") })
	})
	addr := freePort(t)
	log := slog.New(slog.DiscardHandler)
	stop, err := startPprof(addr, log)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		status int
	}{
		{"/debug/pprof/", http.StatusOK},
		{"/debug/pprof/goroutine?debug=1", http.StatusOK},
		{"/debug/pprof/cmdline", http.StatusOK},
		{"/debug/pprof/symbol", http.StatusOK},
		{"/debug/pprof/profile?seconds=1", http.StatusOK},
		{global, http.StatusNotFound},
		{"/", http.StatusNotFound},
	}
	for _, tt := range tests {
		if status, body := getPprof(t, addr, tt.path); status != tt.status {
			t.Errorf("GET %s: %d, want %d\n%.300s", tt.path, status, tt.status, body)
		}
	}

	// A taken address is an error at start, not a silent absence.
	if stop2, err := startPprof(addr, log); err == nil {
		stop2()
		t.Errorf("second startPprof on %s succeeded, want an error", addr)
	} else if !strings.Contains(err.Error(), "debug.pprof") {
		t.Errorf("second startPprof on %s = %v, want an error naming debug.pprof", addr, err)
	}

	stop()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after stop", addr)
	}
	// The address is free again: a restart can use it.
	stop, err = startPprof(addr, log)
	if err != nil {
		t.Fatalf("startPprof after stop: %v", err)
	}
	stop()
}
