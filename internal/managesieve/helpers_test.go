package managesieve

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"mailroom/internal/server/servertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// errInternal is what the fake's "broken" and "flaky" users fail with; its
// text must never reach a client.
var errInternal = errors.New("db: connection refused to secret-host:5432")

const (
	fakeMaxScripts = 3
	fakeMaxSize    = 500
)

// fakeBackend keeps scripts in memory. Users: alice/secret, bob/hunter2,
// "weak" (ErrAuthTooWeak), "broken" (Authenticate fails with an internal
// error), "flaky"/flaky (logs in; every script method fails with an
// internal error). User names are case-insensitive; the owner is lower case.
//
// Scripts whose content contains "error" do not compile ("line 2: ..."),
// "errors" gives a message on two lines, "warn" compiles with a warning.
// Each user may have fakeMaxScripts scripts of at most fakeMaxSize octets.
type fakeBackend struct {
	mu    sync.Mutex
	users map[string]*fakeUser
	// authStarted, when set, receives a value when Authenticate is called.
	authStarted chan struct{}
	// authBlock, when set, is waited on (or ctx) by Authenticate.
	authBlock chan struct{}
}

type fakeUser struct {
	password string
	scripts  map[string]string
	active   string
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{users: map[string]*fakeUser{
		"alice": {password: "secret", scripts: map[string]string{}},
		"bob":   {password: "hunter2", scripts: map[string]string{}},
		"flaky": {password: "flaky", scripts: map[string]string{}},
	}}
}

func (b *fakeBackend) Extensions() []string {
	return []string{"fileinto", "vacation", "envelope"}
}

func (b *fakeBackend) Authenticate(ctx context.Context, username, password string) (Scripts, error) {
	if b.authStarted != nil {
		b.authStarted <- struct{}{}
	}
	if b.authBlock != nil {
		select {
		case <-b.authBlock:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	name := strings.ToLower(username)
	switch name {
	case "broken":
		return nil, errInternal
	case "weak":
		return nil, fmt.Errorf("user %s: %w", name, ErrAuthTooWeak)
	}
	b.mu.Lock()
	u := b.users[name]
	b.mu.Unlock()
	if u == nil || u.password != password {
		return nil, fmt.Errorf("user %q: %w", username, ErrAuthFailed)
	}
	return &fakeScripts{b: b, name: name, u: u}, nil
}

// put stores a script directly, for test setup.
func (b *fakeBackend) put(user, name, content string, active bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.users[user]
	u.scripts[name] = content
	if active {
		u.active = name
	}
}

func (b *fakeBackend) state(user string) (map[string]string, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.users[user]
	m := make(map[string]string, len(u.scripts))
	for k, v := range u.scripts {
		m[k] = v
	}
	return m, u.active
}

type fakeScripts struct {
	b    *fakeBackend
	name string
	u    *fakeUser
}

func (s *fakeScripts) Owner() string { return s.name }

func (s *fakeScripts) lock() (func(), error) {
	if s.name == "flaky" {
		return nil, errInternal
	}
	s.b.mu.Lock()
	return s.b.mu.Unlock, nil
}

func (s *fakeScripts) List(ctx context.Context) ([]ScriptInfo, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []ScriptInfo
	for name := range s.u.scripts {
		out = append(out, ScriptInfo{Name: name, Active: name == s.u.active})
	}
	slices.SortFunc(out, func(a, b ScriptInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *fakeScripts) Get(ctx context.Context, name string) (string, error) {
	unlock, err := s.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	c, ok := s.u.scripts[name]
	if !ok {
		return "", ErrNotFound
	}
	return c, nil
}

func check(content string) (string, error) {
	switch {
	case strings.Contains(content, "errors"):
		return "", &ScriptError{Message: "line 1: unknown command \"foo\"\r\nline 2: missing semicolon"}
	case strings.Contains(content, "error"):
		return "", &ScriptError{Message: "line 2: unknown test \"error\""}
	case strings.Contains(content, "warn"):
		return "line 1: warning: \"warn\" is deprecated", nil
	}
	return "", nil
}

func (s *fakeScripts) Check(ctx context.Context, content string) (string, error) {
	if _, err := s.lock(); err != nil {
		return "", err
	}
	s.b.mu.Unlock()
	return check(content)
}

func (s *fakeScripts) Put(ctx context.Context, name, content string) (string, error) {
	warnings, err := check(content)
	if err != nil {
		return "", err
	}
	if err := s.HaveSpace(ctx, name, int64(len(content))); err != nil {
		return "", err
	}
	unlock, err := s.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	s.u.scripts[name] = content
	return warnings, nil
}

func (s *fakeScripts) Delete(ctx context.Context, name string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, ok := s.u.scripts[name]; !ok {
		return ErrNotFound
	}
	if s.u.active == name {
		return ErrActive
	}
	delete(s.u.scripts, name)
	return nil
}

func (s *fakeScripts) Rename(ctx context.Context, from, to string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	c, ok := s.u.scripts[from]
	if !ok {
		return ErrNotFound
	}
	if _, ok := s.u.scripts[to]; ok {
		return ErrExists
	}
	delete(s.u.scripts, from)
	s.u.scripts[to] = c
	if s.u.active == from {
		s.u.active = to
	}
	return nil
}

func (s *fakeScripts) SetActive(ctx context.Context, name string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, ok := s.u.scripts[name]; !ok && name != "" {
		return ErrNotFound
	}
	s.u.active = name
	return nil
}

func (s *fakeScripts) HaveSpace(ctx context.Context, name string, size int64) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if size > fakeMaxSize {
		return ErrQuotaSize
	}
	if _, ok := s.u.scripts[name]; !ok && len(s.u.scripts) >= fakeMaxScripts {
		return ErrQuotaCount
	}
	return nil
}

type testServer struct {
	srv  *Server
	addr string
	logs *servertest.LogBuffer
	b    *fakeBackend
}

// startServer serves b on a loopback port until the test ends. Options
// left zero get test values: hostname sieve.example.org, no login delay.
func startServer(t testing.TB, b *fakeBackend, opts Options) *testServer {
	t.Helper()
	logs := &servertest.LogBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Hostname == "" {
		opts.Hostname = "sieve.example.org"
	}
	if opts.AuthFailDelay == 0 {
		opts.AuthFailDelay = -1
	}
	ts := &testServer{srv: New(b, opts), logs: logs, b: b}
	ts.addr = servertest.Serve(t, ts.srv)
	return ts
}

// client is a raw ManageSieve client.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	// greeting is the raw greeting.
	greeting string
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	g, err := c.response()
	if err != nil {
		t.Fatalf("reading greeting: %v (got %q)", err, g)
	}
	c.greeting = g
	return c
}

// send writes s followed by CRLF.
func (c *client) send(s string) {
	c.t.Helper()
	c.write(s + "\r\n")
}

func (c *client) write(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", abbrev(s), err)
	}
}

// line reads one logical line, with any literals it holds, raw.
func (c *client) line() (string, error) {
	var b strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			return b.String(), err
		}
		n, ok := literalAnnouncement([]byte(strings.TrimSuffix(l, "\n")))
		if !ok || n < 0 {
			return b.String(), nil
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return b.String(), err
		}
		b.Write(buf)
	}
}

// response reads lines up to and including an OK, NO or BYE line, raw.
func (c *client) response() (string, error) {
	var b strings.Builder
	for {
		l, err := c.line()
		b.WriteString(l)
		if err != nil {
			return b.String(), err
		}
		for _, s := range []string{"OK", "NO", "BYE"} {
			if l == s+"\r\n" || strings.HasPrefix(l, s+" ") {
				return b.String(), nil
			}
		}
	}
}

// expect reads what the server sends until it has as many octets as
// want's lines, each ended by CRLF, and checks that they are the same.
func (c *client) expect(want ...string) string {
	c.t.Helper()
	w := crlf(want...)
	var got strings.Builder
	for got.Len() < len(w) {
		l, err := c.line()
		got.WriteString(l)
		if err != nil {
			c.t.Fatalf("reading response: %v (got %q, want %q)", err, got.String(), w)
		}
	}
	if got.String() != w {
		c.t.Fatalf("response\n got %q\nwant %q", got.String(), w)
	}
	return got.String()
}

// expectPrefix reads a response and checks that it starts with prefix.
func (c *client) expectPrefix(prefix string) string {
	c.t.Helper()
	got, err := c.response()
	if err != nil {
		c.t.Fatalf("reading response: %v (got %q, want prefix %q)", err, got, prefix)
	}
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("response %q, want prefix %q", got, prefix)
	}
	return got
}

// expectClosed checks that the server closes the connection, after at
// most one more response.
func (c *client) expectClosed() {
	c.t.Helper()
	for range 2 {
		got, err := c.response()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isConnReset(err) {
				return
			}
			c.t.Fatalf("waiting for the server to close: %v (got %q)", err, got)
		}
	}
	c.t.Fatalf("server did not close the connection")
}

// login authenticates with PLAIN and an initial response.
func (c *client) login(user, pass string) {
	c.t.Helper()
	c.send(`AUTHENTICATE "PLAIN" "` + plain("", user, pass) + `"`)
	c.expect(`OK "Logged in"`)
}

func crlf(lines ...string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

func lit(s string) string { return "{" + strconv.Itoa(len(s)) + "+}\r\n" + s }

func isConnReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

func abbrev(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// selfSigned returns a certificate for localhost and 127.0.0.1, and a
// pool that trusts it, and the certificate in PEM.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, pemBytes
}
