package pop3server

import (
	"crypto/tls"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"mailroom/internal/sasl"
	"mailroom/internal/sasl/sasltest"
	"mailroom/internal/server/servertest"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// challenge reads a "+ " line and returns its decoded challenge.
func (c *client) challenge() string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, "+ ") {
		c.t.Fatalf("want a challenge, got %q", l)
	}
	d, err := base64.StdEncoding.DecodeString(l[2:])
	if err != nil {
		c.t.Fatalf("challenge %q: %v", l, err)
	}
	return string(d)
}

// scram runs AUTH with a SCRAM client and returns the final reply.
func (c *client) scram(mech string, sc *sasltest.SCRAMClient, ir bool) string {
	c.t.Helper()
	if ir {
		c.send("AUTH " + mech + " " + base64.StdEncoding.EncodeToString(sc.First()))
	} else {
		c.send("AUTH " + mech)
		if ch := c.challenge(); ch != "" {
			c.t.Fatalf("first challenge %q", ch)
		}
		c.send(base64.StdEncoding.EncodeToString(sc.First()))
	}
	l := c.line()
	if !strings.HasPrefix(l, "+ ") {
		return l
	}
	sf, _ := base64.StdEncoding.DecodeString(l[2:])
	final, err := sc.Final(sf)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(base64.StdEncoding.EncodeToString(final))
	l = c.line()
	if !strings.HasPrefix(l, "+ ") {
		return l
	}
	v, _ := base64.StdEncoding.DecodeString(l[2:])
	if err := sc.Verify(v); err != nil {
		c.t.Fatal(err)
	}
	c.send("")
	return c.line()
}

func TestAuthLogin(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f, Options{})
	c := dial(t, ts.addr)
	c.send("AUTH LOGIN")
	if ch := c.challenge(); ch != "Username:" {
		t.Fatalf("challenge %q", ch)
	}
	c.send(b64(alice))
	if ch := c.challenge(); ch != "Password:" {
		t.Fatalf("challenge %q", ch)
	}
	c.send(b64(password))
	if l := c.line(); !strings.HasPrefix(l, "+OK maildrop has") {
		t.Fatal(l)
	}
	c.expect("QUIT", "+OK pop.example.org POP3 server signing off (maildrop empty)")

	c = dial(t, ts.addr)
	c.send("AUTH LOGIN " + b64(alice))
	c.challenge()
	c.send(b64("wrong"))
	if l := c.line(); l != "-ERR [AUTH] authentication failed" {
		t.Fatal(l)
	}
	c.send("AUTH LOGIN")
	c.challenge()
	c.send("*")
	if l := c.line(); l != "-ERR authentication cancelled" {
		t.Fatal(l)
	}
	c.send("AUTH LOGIN")
	c.challenge()
	c.send("!!")
	if l := c.line(); l != "-ERR invalid base64" {
		t.Fatal(l)
	}
	c.expect("AUTH LOGIN =", "-ERR invalid LOGIN message")
	c.expect("AUTH CRAM-MD5", "-ERR unsupported authentication mechanism")

	// LOGIN sends a password: refused in the clear like USER and PLAIN.
	ts2 := startServer(t, f, Options{AllowPlaintext: noPlaintext})
	c = dial(t, ts2.addr)
	c.expect("AUTH LOGIN", "-ERR [AUTH] plaintext authentication is not allowed on this connection")
	c.expect("AUTH", "+OK SASL mechanisms follow\nSCRAM-SHA-256\n.")
}

func TestAuthSCRAM(t *testing.T) {
	f := newFixture(t)
	ts := startServer(t, f, Options{AllowPlaintext: noPlaintext})
	tests := []struct {
		name, mech, user, pass string
		ir                     bool
		want                   string
	}{
		{"ok with initial response", "SCRAM-SHA-256", alice, password, true, "+OK maildrop has"},
		{"ok without", "scram-sha-256", alice, password, false, "+OK maildrop has"},
		{"wrong password", "SCRAM-SHA-256", alice, "nope", true, "-ERR [AUTH] authentication failed"},
		{"unknown user", "SCRAM-SHA-256", "nobody@example.org", password, true, "-ERR [AUTH] authentication failed"},
		{"PLUS without TLS", "SCRAM-SHA-256-PLUS", alice, password, true, "-ERR unsupported authentication mechanism"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ts.addr)
			got := c.scram(tt.mech, &sasltest.SCRAMClient{User: tt.user, Password: tt.pass}, tt.ir)
			if !strings.HasPrefix(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if strings.HasPrefix(got, "+OK") {
				c.expect("STAT", "+OK 0 0")
				c.expect("QUIT", "+OK pop.example.org POP3 server signing off (maildrop empty)")
			}
		})
	}

	c := dial(t, ts.addr)
	c.expect("AUTH SCRAM-SHA-256 "+b64("n,,r=x"), "-ERR invalid SCRAM-SHA-256 message")
	c.expect("AUTH SCRAM-SHA-256 "+b64("n,a="+bob+",n="+alice+",r=x"), "-ERR cannot act as another user")
	c.send("AUTH SCRAM-SHA-256 " + b64("n,,n="+alice+",r=abc"))
	if sf := c.challenge(); !strings.HasPrefix(sf, "r=abc") || !strings.HasSuffix(sf, ",i="+strconv.Itoa(sasl.DefaultIterations)) {
		t.Fatalf("server-first %q", sf)
	}
	c.send("*")
	if l := c.line(); l != "-ERR authentication cancelled" {
		t.Fatal(l)
	}
	c.send("AUTH SCRAM-SHA-256 " + b64("n,,n="+alice+",r=abc"))
	c.challenge()
	c.send(b64("c=biws,r=abcd,p=" + b64(strings.Repeat("x", 32))))
	if l := c.line(); l != "-ERR invalid SCRAM-SHA-256 message" {
		t.Fatal(l)
	}
	c.expect("STAT", "-ERR command not valid in AUTHORIZATION state")
}

func TestAuthSCRAMPlus(t *testing.T) {
	f := newFixture(t)
	srvTLS, cliTLS := servertest.TLS(t)
	ts := startServer(t, f, Options{TLSConfig: srvTLS, AllowPlaintext: noPlaintext})
	stls := func() (*client, *tls.Conn) {
		c := dial(t, ts.addr)
		c.expect("STLS", "+OK begin TLS negotiation")
		tc := c.tlsHandshake(cliTLS)
		return tc, tc.nc.(*tls.Conn)
	}
	_, other := stls()
	tests := []struct {
		name string
		mech string
		sc   func(tc *tls.Conn) *sasltest.SCRAMClient
		want string
	}{
		{"tls-exporter", "SCRAM-SHA-256-PLUS", func(tc *tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: alice, Password: password, CBType: "tls-exporter", CBData: sasltest.Exporter(tc)}
		}, "+OK maildrop has"},
		{"tls-server-end-point", "SCRAM-SHA-256-PLUS", func(tc *tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: alice, Password: password, CBType: "tls-server-end-point",
				CBData: sasl.ServerEndPoint(tc.ConnectionState().PeerCertificates[0])}
		}, "+OK maildrop has"},
		{"binding of another connection", "SCRAM-SHA-256-PLUS", func(*tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: alice, Password: password, CBType: "tls-exporter", CBData: sasltest.Exporter(other)}
		}, "-ERR [AUTH] authentication failed"},
		{"unknown user", "SCRAM-SHA-256-PLUS", func(tc *tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "nobody@example.org", Password: password, CBType: "tls-exporter", CBData: sasltest.Exporter(tc)}
		}, "-ERR [AUTH] authentication failed"},
		{"downgrade with y", "SCRAM-SHA-256", func(*tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: alice, Password: password, Flag: "y"}
		}, "-ERR [AUTH] authentication failed"},
		{"SCRAM-SHA-256 under TLS", "SCRAM-SHA-256", func(*tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: alice, Password: password}
		}, "+OK maildrop has"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, tc := stls()
			if got := c.scram(tt.mech, tt.sc(tc), true); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	c, _ := stls()
	c.expect("AUTH", "+OK SASL mechanisms follow\nSCRAM-SHA-256-PLUS\nSCRAM-SHA-256\nPLAIN\nLOGIN\n.")
	// PLAIN still works.
	c.expect("AUTH PLAIN "+b64("\x00"+alice+"\x00"+password), "+OK maildrop has 0 messages (0 octets)")
}
