package main

// End-to-end TLS tests: the binary with a [tls] certificate, reached by
// clients no one here wrote (openssl, curl, Python's imaplib and poplib)
// over STARTTLS and implicit TLS, plaintext logins refused outside the
// trusted networks, and the certificate reloaded on SIGHUP.

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailroom/internal/tlsconf"
)

// tlsInstance is an instance with a self-signed certificate, imaps and
// pop3s listeners, and trusted_networks = [] so that every plaintext login
// is refused, loopback included.
type tlsInstance struct {
	*instance
	imaps, pop3s      string
	certFile, keyFile string
}

func newTLSInstance(t *testing.T) *tlsInstance {
	t.Helper()
	in := &instance{t: t, dir: t.TempDir(), smtp: freePort(t), lmtp: freePort(t), imap: freePort(t), sieve: freePort(t), pop3: freePort(t)}
	ti := &tlsInstance{instance: in, imaps: freePort(t), pop3s: freePort(t)}
	ti.certFile, ti.keyFile = filepath.Join(in.dir, "certs", "cert.pem"), filepath.Join(in.dir, "certs", "key.pem")
	ti.newCertificate()
	in.config = filepath.Join(in.dir, "mailroom.toml")
	cfg := fmt.Sprintf(`hostname = "mx.example.test"
data_dir = "data"
[listen]
smtp = %q
lmtp = %q
imap = %q
imaps = %q
pop3 = %q
pop3s = %q
managesieve = %q
[tls]
cert = "certs/cert.pem"
key = "certs/key.pem"
[auth]
trusted_networks = []
`, in.smtp, in.lmtp, in.imap, ti.imaps, in.pop3, ti.pop3s, in.sieve)
	if err := os.WriteFile(in.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	in.ok("domain", "add", "example.test")
	in.okStdin("secret-alice\n", "user", "add", "alice@example.test", "--password-stdin")
	return ti
}

// newCertificate writes a new self-signed certificate over the files.
func (ti *tlsInstance) newCertificate() {
	ti.t.Helper()
	if err := tlsconf.GenerateSelfSigned(ti.certFile, ti.keyFile, []string{"localhost", "127.0.0.1", "::1"}, time.Now()); err != nil {
		ti.t.Fatal(err)
	}
}

// clientTLS trusts the certificate now in the files.
func (ti *tlsInstance) clientTLS() *tls.Config {
	ti.t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(mustRead(ti.t, ti.certFile)) {
		ti.t.Fatal("no certificate in", ti.certFile)
	}
	return &tls.Config{RootCAs: roots, ServerName: "localhost"}
}

// deliver hands a message to alice over LMTP.
func (ti *tlsInstance) deliver(subject, body string) {
	ti.t.Helper()
	c := dial(ti.t, ti.lmtp)
	c.cmd("LHLO client.example.org", "250")
	c.cmd("MAIL FROM:<sender@example.org>", "250")
	c.cmd("RCPT TO:<alice@example.test>", "250")
	c.cmd("DATA", "354")
	c.send(strings.TrimSuffix(dotStuff(message(subject, body)), "\r\n"))
	c.expect("250")
}

// needTool finds a program; without it the test is skipped, except under
// CI=true where every tool must be there.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true requires it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

func runTool(t *testing.T, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
		}
	}()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dialIMAPS logs in to the imaps listener with Go's TLS client.
func (ti *tlsInstance) dialIMAPS(cfg *tls.Config) (*imapConn, *tls.Conn) {
	ti.t.Helper()
	tc, err := tls.Dial("tcp", ti.imaps, cfg)
	if err != nil {
		ti.t.Fatal(err)
	}
	ti.t.Cleanup(func() { tc.Close() })
	ic := &imapConn{t: ti.t, c: tc, r: bufio.NewReader(tc)}
	if g := ic.line(); !strings.HasPrefix(g, "* OK [CAPABILITY ") || strings.Contains(g, "STARTTLS") || !strings.Contains(g, "AUTH=PLAIN") {
		ti.t.Fatalf("imaps greeting %q", g)
	}
	ic.do(`LOGIN "alice@example.test" "secret-alice"`)
	return ic, tc
}

// TestTLSPlaintextRefused: with trusted_networks = [] no password crosses
// a plain connection, and every listener offers TLS instead.
func TestTLSPlaintextRefused(t *testing.T) {
	ti := newTLSInstance(t)
	ti.start()

	// IMAP: LOGINDISABLED, no AUTH=PLAIN, LOGIN refused (RFC 9051 §6.2.3).
	c, err := net.Dial("tcp", ti.imap)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ic := &imapConn{t: t, c: c, r: bufio.NewReader(c)}
	if g := ic.line(); !strings.Contains(g, "STARTTLS") || !strings.Contains(g, "LOGINDISABLED") || strings.Contains(g, "AUTH=PLAIN") {
		t.Fatalf("imap greeting %q", g)
	}
	fmt.Fprintf(c, "a LOGIN \"alice@example.test\" \"secret-alice\"\r\n")
	if l := ic.line(); !strings.HasPrefix(l, "a NO [PRIVACYREQUIRED]") {
		t.Fatalf("plain LOGIN: %q", l)
	}
	fmt.Fprintf(c, "b AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQtYWxpY2U=\r\n")
	if l := ic.line(); !strings.HasPrefix(l, "b NO [PRIVACYREQUIRED]") {
		t.Fatalf("plain AUTHENTICATE: %q", l)
	}

	// POP3: STLS offered, USER and SASL PLAIN withheld and refused (SASL
	// lists only SCRAM-SHA-256, which sends no password).
	p, err := net.Dial("tcp", ti.pop3)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetDeadline(time.Now().Add(20 * time.Second))
	pr := bufio.NewReader(p)
	pr.ReadString('\n')
	fmt.Fprintf(p, "CAPA\r\nUSER alice@example.test\r\n")
	var capa []string
	for {
		l, err := pr.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l = strings.TrimRight(l, "\r\n"); l == "." {
			break
		}
		capa = append(capa, l)
	}
	if caps := strings.Join(capa, "|"); !strings.Contains(caps, "|STLS|") || strings.Contains(caps, "USER") || !strings.Contains(caps, "|SASL SCRAM-SHA-256|") {
		t.Fatalf("pop3 CAPA %q", caps)
	}
	if l, _ := pr.ReadString('\n'); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Fatalf("plain USER: %q", l)
	}

	// ManageSieve: STARTTLS offered, PLAIN answered ENCRYPT-NEEDED
	// (RFC 5804 §1.3).
	m, err := net.Dial("tcp", ti.sieve)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.SetDeadline(time.Now().Add(20 * time.Second))
	mr := bufio.NewReader(m)
	var greeting []string
	for {
		l, err := mr.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		greeting = append(greeting, l)
		if strings.HasPrefix(l, "OK") {
			break
		}
	}
	if !strings.Contains(strings.Join(greeting, ""), `"STARTTLS"`) {
		t.Fatalf("managesieve greeting %q", greeting)
	}
	fmt.Fprintf(m, "AUTHENTICATE \"PLAIN\" \"AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQtYWxpY2U=\"\r\n")
	if l, _ := mr.ReadString('\n'); !strings.Contains(l, "ENCRYPT-NEEDED") {
		t.Fatalf("managesieve plain AUTHENTICATE: %q", l)
	}

	// SMTP offers STARTTLS; LMTP on loopback does not.
	for _, tt := range []struct {
		addr, hello string
		want        bool
	}{{ti.smtp, "EHLO", true}, {ti.lmtp, "LHLO", false}} {
		s := dial(t, tt.addr)
		s.send(tt.hello + " client.example.org")
		var lines []string
		for {
			l, err := s.r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, strings.TrimRight(l, "\r\n"))
			if len(l) >= 4 && l[3] == ' ' {
				break
			}
		}
		if got := strings.Contains(strings.Join(lines, "\n"), "STARTTLS"); got != tt.want {
			t.Errorf("%s answer %q: STARTTLS %v, want %v", tt.hello, lines, got, tt.want)
		}
	}
}

// TestTLSOpenSSL: openssl s_client verifies the certificate and logs in,
// over STARTTLS on imap and pop3 and over imaps and pop3s.
func TestTLSOpenSSL(t *testing.T) {
	openssl := needTool(t, "openssl")
	ti := newTLSInstance(t)
	ti.start()
	ti.deliver("openssl", "read by s_client")
	imapSession := "a LOGIN alice@example.test secret-alice\nb SELECT INBOX\nc FETCH 1 BODY[TEXT]\nd LOGOUT\n"
	pop3Session := "USER alice@example.test\nPASS secret-alice\nRETR 1\nQUIT\n"
	tests := []struct {
		name, addr, session string
		args                []string
	}{
		{"imap starttls", ti.imap, imapSession, []string{"-starttls", "imap"}},
		{"imaps", ti.imaps, imapSession, nil},
		{"pop3 stls", ti.pop3, pop3Session, []string{"-starttls", "pop3"}},
		{"pop3s", ti.pop3s, pop3Session, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"s_client", "-connect", tt.addr, "-CAfile", ti.certFile,
				"-verify_return_error", "-verify_ip", "127.0.0.1", "-crlf", "-quiet"}, tt.args...)
			out, err := runTool(t, tt.session, openssl, args...)
			if err != nil || !strings.Contains(out, "read by s_client") {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
			if strings.Contains(tt.session, "LOGOUT") && !strings.Contains(out, "a OK") {
				t.Fatalf("no login:\n%s", out)
			}
		})
	}
	// A client that does not trust the certificate is refused by its own
	// verification.
	other := filepath.Join(t.TempDir(), "other.pem")
	if err := tlsconf.GenerateSelfSigned(other, filepath.Join(t.TempDir(), "k.pem"), []string{"localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if out, err := runTool(t, "", openssl, "s_client", "-connect", ti.imaps, "-CAfile", other, "-verify_return_error", "-quiet"); err == nil {
		t.Fatalf("openssl trusted a certificate it was not given:\n%s", out)
	}
}

// TestTLSCurl: curl reads a message over imaps, pop3s, and imap and pop3
// with STARTTLS required; without TLS its login is refused.
func TestTLSCurl(t *testing.T) {
	curl := needTool(t, "curl")
	ti := newTLSInstance(t)
	ti.start()
	ti.deliver("curl over tls", "fetched by curl")
	user := []string{"--user", "alice@example.test:secret-alice", "--cacert", ti.certFile}
	for _, url := range []string{
		"imaps://" + ti.imaps + "/INBOX;UID=1",
		"pop3s://" + ti.pop3s + "/1",
	} {
		out, err := runTool(t, "", curl, append([]string{"-sS", "--url", url}, user...)...)
		if err != nil || !strings.Contains(out, "fetched by curl") {
			t.Fatalf("curl %s: %v\n%s", url, err, out)
		}
	}
	for _, url := range []string{
		"imap://" + ti.imap + "/INBOX;UID=1",
		"pop3://" + ti.pop3 + "/1",
	} {
		out, err := runTool(t, "", curl, append([]string{"-sS", "--ssl-reqd", "--url", url}, user...)...)
		if err != nil || !strings.Contains(out, "fetched by curl") {
			t.Fatalf("curl --ssl-reqd %s: %v\n%s", url, err, out)
		}
		// Plain text: the server refuses the password.
		out, err = runTool(t, "", curl, append([]string{"-sS", "--url", url}, user...)...)
		if err == nil || strings.Contains(out, "fetched by curl") {
			t.Fatalf("curl %s without TLS logged in:\n%s", url, out)
		}
	}
	// -k for a client that does not check, as a quick test would.
	out, err := runTool(t, "", curl, "-sS", "-k", "--url", "imaps://"+ti.imaps+"/INBOX;UID=1", "--user", "alice@example.test:secret-alice")
	if err != nil || !strings.Contains(out, "fetched by curl") {
		t.Fatalf("curl -k: %v\n%s", err, out)
	}
}

// TestTLSPython: Python's imaplib and poplib, with an SSL context that
// trusts the certificate and checks the host name.
func TestTLSPython(t *testing.T) {
	python := needTool(t, "python3")
	ti := newTLSInstance(t)
	ti.start()
	ti.deliver("python", "read by imaplib and poplib")
	host, imaps, _ := net.SplitHostPort(ti.imaps)
	_, pop3s, _ := net.SplitHostPort(ti.pop3s)
	_, imapPort, _ := net.SplitHostPort(ti.imap)
	_, pop3Port, _ := net.SplitHostPort(ti.pop3)
	script := fmt.Sprintf(`
import imaplib, poplib, ssl, sys
ctx = ssl.create_default_context(cafile=%q)
user, pw = "alice@example.test", "secret-alice"

m = imaplib.IMAP4_SSL(%q, %s, ssl_context=ctx)
assert "STARTTLS" not in m.capabilities, m.capabilities
m.login(user, pw)
m.select("INBOX")
typ, data = m.fetch("1", "(BODY[TEXT])")
assert b"read by imaplib and poplib" in data[0][1], data
m.logout()

m = imaplib.IMAP4(%q, %s)
assert "LOGINDISABLED" in m.capabilities, m.capabilities
m.starttls(ssl_context=ctx)
assert "AUTH=PLAIN" in m.capabilities and "STARTTLS" not in m.capabilities, m.capabilities
m.login(user, pw)
m.logout()

p = poplib.POP3_SSL(%q, %s, context=ctx)
p.user(user)
p.pass_(pw)
resp, lines, octets = p.retr(1)
assert b"read by imaplib and poplib" in b"\n".join(lines), lines
p.quit()

p = poplib.POP3(%q, %s)
assert "STLS" in p.capa() and "USER" not in p.capa(), p.capa()
p.stls(context=ctx)
assert "USER" in p.capa() and "STLS" not in p.capa(), p.capa()
p.user(user)
p.pass_(pw)
p.quit()
print("all good")
`, ti.certFile, host, imaps, host, imapPort, host, pop3s, host, pop3Port)
	out, err := runTool(t, "", python, "-c", script)
	if err != nil || !strings.Contains(out, "all good") {
		t.Fatalf("python: %v\n%s", err, out)
	}
}

// TestTLSReloadOnSIGHUP: new certificate files are picked up on SIGHUP by
// the next handshake, while a connection opened before goes on; a broken
// file leaves the certificate in use.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	ti := newTLSInstance(t)
	ti.start()
	oldCfg := ti.clientTLS()
	before, beforeTLS := ti.dialIMAPS(oldCfg)
	oldSerial := beforeTLS.ConnectionState().PeerCertificates[0].SerialNumber

	ti.newCertificate()
	newCfg := ti.clientTLS()
	ti.srv.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(ti.logs.String(), "TLS certificate reloaded") }, ti.logs)

	after, afterTLS := ti.dialIMAPS(newCfg)
	if afterTLS.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(oldSerial) == 0 {
		t.Fatal("the new connection got the old certificate")
	}
	after.do("SELECT INBOX")
	// The connection from before the reload is still served.
	before.do("SELECT INBOX")
	before.do("NOOP")
	if _, err := tls.Dial("tcp", ti.imaps, oldCfg); err == nil {
		t.Fatal("a client trusting only the old certificate still connects")
	}

	// A broken certificate file is reported; the server keeps serving the
	// certificate it has.
	if err := os.WriteFile(ti.certFile, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	ti.srv.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(ti.logs.String(), "TLS certificate not reloaded") }, ti.logs)
	ic, _ := ti.dialIMAPS(newCfg)
	ic.do("NOOP")
	before.do("NOOP")
	ti.stop()
}

// TestQuickstartTLS: quickstart writes a self-signed certificate into the
// data directory, puts its paths in the config it writes, and serves
// imaps and pop3s with it.
func TestQuickstartTLS(t *testing.T) {
	for _, a := range []string{"127.0.0.1:2525", "127.0.0.1:2424", "127.0.0.1:1143", "127.0.0.1:1993", "127.0.0.1:1110", "127.0.0.1:1995", "127.0.0.1:4190"} {
		if l, err := net.Listen("tcp", a); err != nil {
			t.Skipf("quickstart's default port %s is in use", a)
		} else {
			l.Close()
		}
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "mailroom.toml")
	cmd := exec.Command(binary, "quickstart", "--config", cfgPath)
	cmd.Dir = dir
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor(t, func() bool { return strings.Contains(out.String(), "pop3s listening") }, out)
	if !strings.Contains(out.String(), "wrote a self-signed certificate") {
		t.Fatalf("no certificate written:\n%s", out)
	}
	cfg := string(mustRead(t, cfgPath))
	for _, want := range []string{`cert = "./mailroom-data/tls/cert.pem"`, `key = "./mailroom-data/tls/key.pem"`, `imaps = "127.0.0.1:1993"`, `pop3s = "127.0.0.1:1995"`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %s", want)
		}
	}
	certFile := filepath.Join(dir, "mailroom-data", "tls", "cert.pem")
	if fi, err := os.Stat(filepath.Join(dir, "mailroom-data", "tls", "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(mustRead(t, certFile))
	for _, tt := range []struct{ addr, greeting string }{{"127.0.0.1:1993", "* OK"}, {"127.0.0.1:1995", "+OK"}} {
		for _, name := range []string{"localhost", "127.0.0.1"} {
			tc, err := tls.Dial("tcp", tt.addr, &tls.Config{RootCAs: roots, ServerName: name})
			if err != nil {
				t.Fatalf("%s as %s: %v", tt.addr, name, err)
			}
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			g, err := bufio.NewReader(tc).ReadString('\n')
			tc.Close()
			if err != nil || !strings.HasPrefix(g, tt.greeting) {
				t.Fatalf("%s greeting %q, %v", tt.addr, g, err)
			}
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	// A second run keeps the certificate (the config exists now).
	serial := func() string {
		leaf, err := tlsconf.Load(certFile, filepath.Join(dir, "mailroom-data", "tls", "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Leaf().SerialNumber.String()
	}
	first := serial()
	cmd2 := exec.Command(binary, "quickstart", "--config", cfgPath)
	cmd2.Dir = dir
	out2 := &syncBuffer{}
	cmd2.Stdout, cmd2.Stderr = out2, out2
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd2.Process.Kill(); cmd2.Wait() }()
	waitFor(t, func() bool { return strings.Contains(out2.String(), "pop3s listening") }, out2)
	if serial() != first {
		t.Fatal("second quickstart replaced the certificate")
	}
}
