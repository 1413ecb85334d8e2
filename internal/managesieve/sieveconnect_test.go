package managesieve

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sieveConnect finds the sieve-connect client (Debian package
// sieve-connect). Without it the test is skipped, except on CI (CI=true),
// where it fails.
func sieveConnect(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sieve-connect")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sieve-connect not installed (apt-get install sieve-connect): %v", err)
		}
		t.Skipf("sieve-connect not installed: %v", err)
	}
	return p
}

// runSieveConnect runs sieve-connect against addr as alice, giving the
// password on standard input.
func runSieveConnect(t *testing.T, addr string, tlsArgs []string, args ...string) (string, error) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	all := append([]string{"--nosrv", "--server", host, "--port", port, "--user", "alice",
		"--passwordfd", "0", "--authmech", "PLAIN"}, tlsArgs...)
	all = append(all, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sieveConnect(t), all...)
	cmd.Stdin = strings.NewReader("secret\n")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+cmd.Dir)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("sieve-connect %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return string(out), err
}

func TestSieveConnect(t *testing.T) {
	sieveConnect(t)
	cert, _, certPEM := selfSigned(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		opts    Options
		tlsArgs []string
	}{
		// Without STARTTLS on offer, --notlsverify lets sieve-connect go
		// on in the clear.
		{"plain", Options{}, []string{"--notlsverify"}},
		// With STARTTLS and the test's certificate as the trust anchor;
		// password logins only under TLS.
		{"starttls", Options{
			TLSConfig:      &tls.Config{Certificates: []tls.Certificate{cert}},
			AllowPlaintext: func(net.Addr) bool { return false },
		}, []string{"--tlscafile", caFile, "--tlshostname", "localhost", "--noclearauth"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newFakeBackend()
			ts := startServer(t, b, tc.opts)
			run := func(args ...string) string {
				t.Helper()
				out, err := runSieveConnect(t, ts.addr, tc.tlsArgs, args...)
				if err != nil {
					t.Fatalf("sieve-connect %q: %v\n%s\nserver log:\n%s", args, err, out, ts.logs)
				}
				return out
			}
			dir := t.TempDir()
			local := filepath.Join(dir, "filter.sieve")
			script := "require \"fileinto\";\nif header :contains \"subject\" \"[list]\" {\n  fileinto \"Lists\";\n}\n"
			if err := os.WriteFile(local, []byte(script), 0o600); err != nil {
				t.Fatal(err)
			}

			run("--localsieve", local, "--remotesieve", "my filter", "--upload")
			if s, _ := b.state("alice"); s["my filter"] != script {
				t.Fatalf("stored scripts %q", s)
			}
			run("--localsieve", local, "--checkscript")
			run("--remotesieve", "my filter", "--activate")
			if out := run("--list"); !strings.Contains(out, `"my filter" ACTIVE`) && !strings.Contains(out, "my filter  <-- active") {
				t.Errorf("list output:\n%s", out)
			}
			down := filepath.Join(dir, "down.sieve")
			run("--localsieve", down, "--remotesieve", "my filter", "--download")
			if got, err := os.ReadFile(down); err != nil || string(got) != script {
				t.Errorf("downloaded %q, %v; want %q", got, err, script)
			}
			if out, err := runSieveConnect(t, ts.addr, tc.tlsArgs, "--remotesieve", "my filter", "--delete"); err == nil {
				t.Errorf("deleting the active script succeeded:\n%s", out)
			}
			run("--deactivate")
			run("--remotesieve", "my filter", "--delete")
			if s, active := b.state("alice"); len(s) != 0 || active != "" {
				t.Errorf("after delete: %q, active %q", s, active)
			}
			if tc.opts.TLSConfig != nil && !strings.Contains(ts.logs.String(), "TLS started") {
				t.Errorf("no STARTTLS in server log:\n%s", ts.logs)
			}
		})
	}
}
