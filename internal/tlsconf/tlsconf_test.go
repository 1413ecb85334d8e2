package tlsconf

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func generate(t *testing.T, dir string, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	if err := GenerateSelfSigned(certFile, keyFile, hosts, time.Now()); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func pool(t *testing.T, certFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in", certFile)
	}
	return p
}

func TestGenerateSelfSigned(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := generate(t, dir, "localhost", "127.0.0.1", "::1", "mx.example.test", "localhost")
	c, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf()
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "mx.example.test"}) {
		t.Errorf("DNS names %q", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP addresses %v", leaf.IPAddresses)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v", fi.Mode(), err)
	}
	// Go's verifier accepts it as its own root for every name.
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "mx.example.test"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool(t, certFile)}); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if err := GenerateSelfSigned(certFile, keyFile, nil, time.Now()); err == nil {
		t.Error("no hosts: no error")
	}
}

// echoServer serves TLS with cfg and echoes lines back.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go io.Copy(c, c)
		}
	}()
	return l.Addr().String()
}

func dial(t *testing.T, addr string, roots *x509.CertPool) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func echo(t *testing.T, c *tls.Conn, r *bufio.Reader, line string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("echo %q: %q, %v", line, got, err)
	}
}

// TestReload: new files are read by Reload; the next handshake presents
// the new certificate while a connection made before keeps working.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := generate(t, dir, "localhost")
	oldRoots := pool(t, certFile)
	c, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	oldSerial := c.Leaf().SerialNumber
	addr := echoServer(t, ServerConfig(c))

	before := dial(t, addr, oldRoots)
	beforeR := bufio.NewReader(before)
	echo(t, before, beforeR, "one")

	// Replace the files, as certbot or an admin would, then reload.
	generate(t, dir, "localhost")
	newRoots := pool(t, certFile)
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if c.Leaf().SerialNumber.Cmp(oldSerial) == 0 {
		t.Fatal("Reload kept the old certificate")
	}
	after := dial(t, addr, newRoots)
	if got := after.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(c.Leaf().SerialNumber) != 0 {
		t.Fatalf("new handshake got serial %v, want %v", got, c.Leaf().SerialNumber)
	}
	echo(t, after, bufio.NewReader(after), "two")
	// The old connection is untouched.
	echo(t, before, beforeR, "three")
	// A client that trusts only the old certificate is refused now.
	if _, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: oldRoots, ServerName: "localhost"}); err == nil {
		t.Fatal("old trust anchor accepted the new certificate")
	}

	// A broken file is reported and the certificate in use stays.
	serial := c.Leaf().SerialNumber
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	if c.Leaf().SerialNumber.Cmp(serial) != 0 {
		t.Fatal("failed Reload replaced the certificate")
	}
	still := dial(t, addr, newRoots)
	echo(t, still, bufio.NewReader(still), "four")
}

func TestServerConfigRefusesOldTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := generate(t, dir, "localhost")
	c, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, ServerConfig(c))
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(t, certFile), ServerName: "localhost", MinVersion: v, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Errorf("%s accepted", tls.VersionName(v))
		}
	}
	conn := dial(t, addr, pool(t, certFile))
	if v := conn.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %s", tls.VersionName(v))
	}
}

// TLS 1.2 offers AEAD suites with forward secrecy only: a client that
// knows nothing else but CBC (or static RSA) is refused.
func TestServerConfigOnlyAEAD(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := generate(t, dir, "localhost")
	c, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, ServerConfig(c))
	for _, suite := range tls.CipherSuites() {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(t, certFile), ServerName: "localhost",
			MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite.ID}})
		want := slices.Contains(AEADSuites, suite.ID) && strings.Contains(suite.Name, "ECDSA")
		if err == nil {
			conn.Close()
		}
		if (err == nil) != want {
			t.Errorf("%s: handshake error %v, want success %v", suite.Name, err, want)
		}
	}
	for _, suite := range tls.InsecureCipherSuites() {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(t, certFile), ServerName: "localhost",
			MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite.ID}})
		if err == nil {
			conn.Close()
			t.Errorf("%s accepted", suite.Name)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.pem"), filepath.Join(dir, "key.pem")); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("Load(missing) = %v", err)
	}
	certFile, _ := generate(t, dir, "localhost")
	_, otherKey := generate(t, t.TempDir(), "localhost")
	if _, err := Load(certFile, otherKey); err == nil {
		t.Error("Load with a key of another certificate succeeded")
	}
}
