package servertest

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
)

// PanicWatch is a slog handler that remembers the log lines about panics
// (the server core, or a library such as go-smtp, recovers them and logs
// them) with their attributes, and discards the rest. Fuzz targets serve
// with it and fail when Take returns anything.
type PanicWatch struct {
	mu     sync.Mutex
	panics []string
}

// Enabled, WithAttrs, WithGroup and Handle make PanicWatch a slog.Handler
// that sees every record.
func (p *PanicWatch) Enabled(context.Context, slog.Level) bool { return true }
func (p *PanicWatch) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *PanicWatch) WithGroup(string) slog.Handler            { return p }

func (p *PanicWatch) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "panic") {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	p.mu.Lock()
	p.panics = append(p.panics, b.String())
	p.mu.Unlock()
	return nil
}

// Take returns the panic lines logged since the last Take.
func (p *PanicWatch) Take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.panics
	p.panics = nil
	return out
}

// HeapInUse returns the live heap after a collection, for tests that bound
// what hostile clients leave behind.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// LogBuffer collects log output; it is safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
