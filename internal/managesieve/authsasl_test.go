package managesieve

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"

	mrsasl "mailroom/internal/sasl"
	"mailroom/internal/sasl/sasltest"
	"mailroom/internal/server/servertest"
)

// scramFake is fakeBackend with SCRAM keys made from its passwords.
type scramFake struct {
	*fakeBackend
}

func (b *scramFake) SCRAMKeys(ctx context.Context, username string) (*mrsasl.SCRAMKeys, Scripts, error) {
	name := strings.ToLower(username)
	if name == "broken" {
		return nil, nil, errInternal
	}
	b.mu.Lock()
	u := b.users[name]
	b.mu.Unlock()
	if u == nil {
		return nil, nil, fmt.Errorf("user %q: %w", username, ErrAuthFailed)
	}
	k, err := mrsasl.DeriveSCRAMKeys(u.password, []byte("salt of "+name), 4096)
	if err != nil {
		return nil, nil, err
	}
	return k, &fakeScripts{b: b.fakeBackend, name: name, u: u}, nil
}

func startSCRAMServer(t *testing.T, opts Options) (*scramFake, string) {
	t.Helper()
	b := &scramFake{fakeBackend: newFakeBackend()}
	opts.Hostname = "sieve.example.org"
	opts.AuthFailDelay = -1
	return b, servertest.Serve(t, New(b, opts))
}

var saslCap = regexp.MustCompile(`"SASL" "([^"]*)"`)

func saslCapOf(t *testing.T, caps string) string {
	t.Helper()
	m := saslCap.FindStringSubmatch(caps)
	if m == nil {
		t.Fatalf("no SASL capability in %q", caps)
	}
	return m[1]
}

// challenge reads a server challenge (a string, RFC 5804 §2.1) and
// decodes it; a response line (OK/NO/BYE) is returned raw with ok false.
func (c *client) challenge() (string, bool) {
	c.t.Helper()
	l, err := c.line()
	if err != nil {
		c.t.Fatalf("reading challenge: %v (%q)", err, l)
	}
	s := strings.TrimSuffix(l, "\r\n")
	switch {
	case strings.HasPrefix(s, `"`):
		s = strings.Trim(s, `"`)
	case strings.HasPrefix(s, "{"):
		s = s[strings.Index(s, "\r\n")+2:]
	default:
		return l, false
	}
	d, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		c.t.Fatalf("challenge %q: %v", l, err)
	}
	return string(d), true
}

// scram runs AUTHENTICATE with a SCRAM client and returns the response.
func (c *client) scram(mech string, sc *sasltest.SCRAMClient) string {
	c.t.Helper()
	c.send(`AUTHENTICATE "` + mech + `" "` + base64.StdEncoding.EncodeToString(sc.First()) + `"`)
	sf, ok := c.challenge()
	if !ok {
		return sf
	}
	final, err := sc.Final([]byte(sf))
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(`"` + base64.StdEncoding.EncodeToString(final) + `"`)
	l, err := c.line()
	if err != nil {
		c.t.Fatal(err)
	}
	// RFC 5804 §2.1: OK (SASL "server-final-message").
	if m := regexp.MustCompile(`^OK \(SASL "([^"]*)"\)`).FindStringSubmatch(l); m != nil {
		v, _ := base64.StdEncoding.DecodeString(m[1])
		if err := sc.Verify(v); err != nil {
			c.t.Fatal(err)
		}
	}
	return l
}

func TestAuthenticateLogin(t *testing.T) {
	ts := startServer(t, newFakeBackend(), Options{})
	c := dial(t, ts.addr)
	if got := saslCapOf(t, c.greeting); got != "PLAIN LOGIN" {
		t.Fatalf("SASL capability %q", got)
	}
	c.send(`AUTHENTICATE "LOGIN"`)
	if ch, _ := c.challenge(); ch != "Username:" {
		t.Fatalf("challenge %q", ch)
	}
	c.send(`"` + base64.StdEncoding.EncodeToString([]byte("alice")) + `"`)
	if ch, _ := c.challenge(); ch != "Password:" {
		t.Fatalf("challenge %q", ch)
	}
	c.send(`"` + base64.StdEncoding.EncodeToString([]byte("secret")) + `"`)
	c.expect(`OK "Logged in"`)

	c = dial(t, ts.addr)
	c.send(`AUTHENTICATE "LOGIN" "` + base64.StdEncoding.EncodeToString([]byte("alice")) + `"`)
	c.challenge()
	c.send(`"` + base64.StdEncoding.EncodeToString([]byte("wrong")) + `"`)
	c.expectPrefix("NO")
	c.send(`AUTHENTICATE "LOGIN"`)
	c.challenge()
	c.send(`"*"`)
	c.expect(`NO "Authentication aborted"`)

	// LOGIN sends a password: ENCRYPT-NEEDED like PLAIN.
	ts2 := startServer(t, newFakeBackend(), Options{AllowPlaintext: func(net.Addr) bool { return false }})
	c = dial(t, ts2.addr)
	c.send(`AUTHENTICATE "LOGIN"`)
	c.expect(`NO (ENCRYPT-NEEDED) "Use STARTTLS before logging in with a password"`)
}

func TestAuthenticateSCRAM(t *testing.T) {
	_, addr := startSCRAMServer(t, Options{AllowPlaintext: func(net.Addr) bool { return false }})
	c := dial(t, addr)
	if got := saslCapOf(t, c.greeting); got != "SCRAM-SHA-256 PLAIN LOGIN" {
		t.Fatalf("SASL capability %q", got)
	}
	tests := []struct {
		name, mech, user, pass string
		want                   string
	}{
		{"ok", "SCRAM-SHA-256", "alice", "secret", `OK (SASL "`},
		{"other case", "scram-sha-256", "Alice", "secret", `OK (SASL "`},
		{"wrong password", "SCRAM-SHA-256", "alice", "nope", `NO "Authentication failed"`},
		{"unknown user", "SCRAM-SHA-256", "nobody", "secret", `NO "Authentication failed"`},
		{"lookup failure", "SCRAM-SHA-256", "broken", "secret", `NO (TRYLATER)`},
		{"PLUS without TLS", "SCRAM-SHA-256-PLUS", "alice", "secret", `NO "Unsupported SASL mechanism"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			got := c.scram(tt.mech, &sasltest.SCRAMClient{User: tt.user, Password: tt.pass})
			if !strings.HasPrefix(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if strings.HasPrefix(got, "OK") {
				c.send("LISTSCRIPTS")
				c.expect("OK")
			}
		})
	}
	c.send(`AUTHENTICATE "SCRAM-SHA-256" "` + base64.StdEncoding.EncodeToString([]byte("n,,r=x")) + `"`)
	c.expect(`NO "Malformed SASL message"`)
	c.send(`AUTHENTICATE "SCRAM-SHA-256" "` + base64.StdEncoding.EncodeToString([]byte("n,a=bob,n=alice,r=x")) + `"`)
	c.expect(`NO "Authorization identity not allowed"`)
	c.send(`AUTHENTICATE "SCRAM-SHA-256" "` + base64.StdEncoding.EncodeToString([]byte("n,,n=alice,r=x")) + `"`)
	c.challenge()
	c.send(`"*"`)
	c.expect(`NO "Authentication aborted"`)
}

func TestAuthenticateSCRAMPlus(t *testing.T) {
	cert, pool, _ := selfSigned(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	_, addr := startSCRAMServer(t, Options{TLSConfig: cfg, AllowPlaintext: func(net.Addr) bool { return false }})
	startTLS := func() (*client, *tls.Conn) {
		c := dial(t, addr)
		tc := c.startTLS(pool)
		caps, err := tc.response()
		if err != nil {
			t.Fatal(err)
		}
		if got := saslCapOf(t, caps); got != "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN" {
			t.Fatalf("SASL capability under TLS %q", got)
		}
		return tc, tc.conn.(*tls.Conn)
	}
	_, other := startTLS()
	endPoint := func(tc *tls.Conn) []byte { return mrsasl.ServerEndPoint(tc.ConnectionState().PeerCertificates[0]) }
	tests := []struct {
		name, mech string
		sc         func(tc *tls.Conn) *sasltest.SCRAMClient
		want       string
	}{
		{"tls-exporter", "SCRAM-SHA-256-PLUS", func(tc *tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice", Password: "secret", CBType: "tls-exporter", CBData: sasltest.Exporter(tc)}
		}, `OK (SASL "`},
		{"tls-server-end-point", "SCRAM-SHA-256-PLUS", func(tc *tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice", Password: "secret", CBType: "tls-server-end-point", CBData: endPoint(tc)}
		}, `OK (SASL "`},
		{"binding of another connection", "SCRAM-SHA-256-PLUS", func(*tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice", Password: "secret", CBType: "tls-exporter", CBData: sasltest.Exporter(other)}
		}, `NO "Authentication failed"`},
		{"unknown user", "SCRAM-SHA-256-PLUS", func(tc *tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "nobody", Password: "secret", CBType: "tls-exporter", CBData: sasltest.Exporter(tc)}
		}, `NO "Authentication failed"`},
		{"downgrade with y", "SCRAM-SHA-256", func(*tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice", Password: "secret", Flag: "y"}
		}, `NO "Authentication failed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, tc := startTLS()
			if got := c.scram(tt.mech, tt.sc(tc)); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	// PLAIN still works under TLS.
	c, _ := startTLS()
	c.login("alice", "secret")
}
