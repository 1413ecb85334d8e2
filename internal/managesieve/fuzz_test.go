package managesieve

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailroom/internal/server/servertest"
)

// transcriptSeeds turns the transcript tests into client byte streams.
func transcriptSeeds() [][]byte {
	var seeds [][]byte
	for _, tc := range append(nonAuthTranscripts(), authTranscripts()...) {
		var b strings.Builder
		if tc.login != "" {
			b.WriteString(`AUTHENTICATE "PLAIN" "` + plain("", tc.login, passwords[tc.login]) + "\"\r\n")
		}
		for _, st := range tc.steps {
			switch st.send {
			case "":
			case emptyLine:
				b.WriteString("\r\n")
			default:
				b.WriteString(st.send + "\r\n")
			}
		}
		seeds = append(seeds, []byte(b.String()))
	}
	return seeds
}

var extraSeeds = []string{
	"STARTTLS\r\n\x16\x03\x01\x00\x05hello",
	"AUTHENTICATE \"PLAIN\"\r\n{5+}\r\nabc",
	"AUTHENTICATE \"PLAIN\" {10+}\r\nAGFsaWNl",
	"NOOP {9999999999+}\r\n",
	"PUTSCRIPT \"x\" {4+}\r\nkeep",
	"\r\n\r\n\x00\xff\r\n",
	"NOOP \"\\",
}

// FuzzParser feeds arbitrary bytes to the command parser and checks that
// it ends (every call consumes input or fails) without panicking, and that
// what it returns is within the limits.
func FuzzParser(f *testing.F) {
	for _, s := range transcriptSeeds() {
		f.Add(s)
	}
	for _, s := range extraSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p := parser{r: bufio.NewReaderSize(bytes.NewReader(in), 4096), scriptLimit: 1000}
		for range len(in) + 1 {
			cmd, err := p.readCommand()
			if err != nil {
				var se syntaxError
				if errors.As(err, &se) {
					continue
				}
				return
			}
			if cmd.name == "" || cmd.name != strings.ToUpper(cmd.name) {
				t.Fatalf("command name %q", cmd.name)
			}
			for _, a := range cmd.args {
				if int64(len(a.s)) > max(int64(MaxLineLength), MaxStringLength, p.scriptLimit) {
					t.Fatalf("argument of %d octets", len(a.s))
				}
			}
		}
		if _, err := p.r.ReadByte(); err != io.EOF {
			t.Fatalf("input left after %d commands", len(in)+1)
		}
	})
}

// FuzzSession feeds arbitrary bytes as a client session to a server (with
// STARTTLS on offer) and checks that it neither panics nor hangs: each
// session must end within a few seconds of the client closing its side.
// The seeds are the transcript tests and the files in
// testdata/fuzz/FuzzSession.
func FuzzSession(f *testing.F) {
	for _, s := range transcriptSeeds() {
		f.Add(s)
	}
	for _, s := range extraSeeds {
		f.Add([]byte(s))
	}

	f.Cleanup(servertest.CheckLeaks(f))
	watch := &servertest.PanicWatch{}
	cert, _, _ := selfSigned(f)
	b := newFakeBackend()
	b.put("alice", "main", "keep;", true)
	srv := New(b, Options{
		Hostname:       "sieve.example.org",
		Logger:         slog.New(watch),
		TLSConfig:      &tls.Config{Certificates: []tls.Certificate{cert}},
		MaxScriptSize:  2000,
		PreAuthTimeout: 2 * time.Second,
		IdleTimeout:    2 * time.Second,
		AuthFailDelay:  -1,
	})
	addr := servertest.Serve(f, srv)

	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzSession(t, addr, in)
		if p := watch.Take(); len(p) > 0 {
			t.Fatalf("server panicked: %q", p)
		}
	})
}

// fuzzSession writes in to a new connection, closes the writing side and
// reads until the server closes the connection.
func fuzzSession(t *testing.T, addr string, in []byte) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dial: %v", err)
		return
	}
	defer conn.Close()
	// The timeouts are 2 s; a session that still runs after 10 s hangs.
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		conn.Write(in) // may fail once the server has given up on us
		conn.(*net.TCPConn).CloseWrite()
	}()
	_, err = io.Copy(io.Discard, conn)
	<-wrote
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("session %q did not end: the server hangs", abbrev(string(in)))
	}
}

// TestFuzzCorpus checks that the stored corpus exists for both fuzz
// targets, so that plain "go test" runs them.
func TestFuzzCorpus(t *testing.T) {
	for _, name := range []string{"FuzzParser", "FuzzSession"} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*"))
		if err != nil || len(files) == 0 {
			t.Errorf("no corpus in testdata/fuzz/%s: %v", name, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil || !bytes.HasPrefix(data, []byte("go test fuzz v1\n")) {
				t.Errorf("%s: not a corpus file (%v)", f, err)
			}
		}
	}
}
