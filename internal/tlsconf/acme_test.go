package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestACMEWithPebble gets a certificate from Pebble, Let's Encrypt's test
// CA (Debian package pebble), answering its http-01 challenge with the
// handler ACME returns, then serves TLS with it.
func TestACMEWithPebble(t *testing.T) {
	pebble, err := exec.LookPath("pebble")
	challtestsrv, err2 := exec.LookPath("pebble-challtestsrv")
	if err != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pebble is not installed")
		}
		t.Skip("pebble is not installed")
	}
	dir := t.TempDir()
	// Pebble's own HTTPS endpoint needs a certificate; the client trusts it.
	caCert, caKey := filepath.Join(dir, "pebble.pem"), filepath.Join(dir, "pebble.key")
	if err := GenerateSelfSigned(caCert, caKey, []string{"localhost", "127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	apiAddr, httpPort := freeAddr(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  apiAddr,
		"managementListenAddress":        freeAddr(t),
		"certificate":                    caCert,
		"privateKey":                     caKey,
		"httpPort":                       httpPort,
		"tlsPort":                        freePort(t),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	data, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	os.WriteFile(cfgFile, data, 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Pebble resolves the names it validates through a fake DNS server
	// that answers 127.0.0.1 for everything.
	dnsAddr := freeAddr(t)
	dns := exec.CommandContext(ctx, challtestsrv, "-dns01", dnsAddr, "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", freeAddr(t), "-defaultIPv6", "")
	dnsOut := &syncWriter{}
	dns.Stdout, dns.Stderr = dnsOut, dnsOut
	if err := dns.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); dns.Wait() }()
	cmd := exec.CommandContext(ctx, pebble, "-config", cfgFile, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_VA_NOSLEEP=1")
	out := &syncWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	waitListening(t, apiAddr, out)

	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(caCert)
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}

	conf, handler := ACME(ACMEOptions{
		Hosts:        []string{"mail.example.test"},
		CacheDir:     filepath.Join(dir, "acme"),
		DirectoryURL: "https://" + apiAddr + "/dir",
		HTTPClient:   client,
	})
	// The CA validates http-01 on mail.example.test (127.0.0.1):httpPort.
	hl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: handler}
	go hs.Serve(hl)
	defer hs.Close()

	tl, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Write([]byte("hello\n"))
				c.Close()
			}()
		}
	}()
	if _, err := conf.GetCertificate(&tls.ClientHelloInfo{ServerName: "mail.example.test"}); err != nil {
		t.Fatalf("obtaining the certificate: %v\npebble:\n%s\ndns:\n%s", err, out, dnsOut)
	}
	// The first handshake obtains the certificate from the CA.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 60 * time.Second}, "tcp", tl.Addr().String(),
		&tls.Config{ServerName: "mail.example.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake: %v\npebble:\n%s", err, out)
	}
	leaf := c.ConnectionState().PeerCertificates[0]
	c.Close()
	if leaf.Issuer.CommonName == leaf.Subject.CommonName {
		t.Fatalf("self-signed certificate served, not the CA's: %v", leaf.Issuer)
	}
	if err := leaf.VerifyHostname("mail.example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme", "mail.example.test")); err != nil {
		t.Fatalf("certificate not cached: %v", err)
	}
	// A name outside Hosts gets no certificate.
	if _, err := tls.Dial("tcp", tl.Addr().String(), &tls.Config{ServerName: "other.example", InsecureSkipVerify: true}); err == nil {
		t.Fatal("handshake for a host outside the policy succeeded")
	}
}

type syncWriter struct {
	ch chan struct{}
	b  []byte
}

func (w *syncWriter) Write(p []byte) (int, error) {
	if w.ch == nil {
		w.ch = make(chan struct{}, 1)
	}
	w.ch <- struct{}{}
	w.b = append(w.b, p...)
	<-w.ch
	return len(p), nil
}

func (w *syncWriter) String() string { return string(w.b) }

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func freePort(t *testing.T) int {
	_, p, _ := net.SplitHostPort(freeAddr(t))
	var n int
	fmt.Sscan(p, &n)
	return n
}

func waitListening(t *testing.T, addr string, out fmt.Stringer) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pebble did not start:\n%s", out)
}
