package imapserver

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"mailroom/internal/sasl"
	"mailroom/internal/sasl/sasltest"
	"mailroom/internal/server/servertest"
)

// serverEndPoint is the client's view of tls-server-end-point (RFC 5929).
func serverEndPoint(t testing.TB, tc *tls.Conn) []byte {
	t.Helper()
	return sasl.ServerEndPoint(tc.ConnectionState().PeerCertificates[0])
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// continuation reads a "+ " line and returns its decoded challenge.
func (c *client) continuation() string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, "+ ") {
		c.t.Fatalf("want a continuation, got %q", l)
	}
	d, err := base64.StdEncoding.DecodeString(l[2:])
	if err != nil {
		c.t.Fatalf("continuation %q: %v", l, err)
	}
	return string(d)
}

// scram runs AUTHENTICATE with a SCRAM client, with or without an initial
// response, and returns the tagged response (without the tag).
func (c *client) scram(mech string, sc *sasltest.SCRAMClient, ir bool) string {
	c.t.Helper()
	c.n++
	tag := "s" + strings.Repeat("x", c.n)
	if ir {
		c.send(tag + " AUTHENTICATE " + mech + " " + base64.StdEncoding.EncodeToString(sc.First()))
	} else {
		c.send(tag + " AUTHENTICATE " + mech)
		if ch := c.continuation(); ch != "" {
			c.t.Fatalf("first challenge %q", ch)
		}
		c.send(base64.StdEncoding.EncodeToString(sc.First()))
	}
	l := c.line()
	if !strings.HasPrefix(l, "+ ") {
		return strings.TrimPrefix(l, tag+" ")
	}
	sf, _ := base64.StdEncoding.DecodeString(l[2:])
	final, err := sc.Final(sf)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(base64.StdEncoding.EncodeToString(final))
	l = c.line()
	if !strings.HasPrefix(l, "+ ") {
		return strings.TrimPrefix(l, tag+" ")
	}
	// RFC 9051 §6.2.2: the server-final-message in a continuation,
	// answered with an empty response.
	v, _ := base64.StdEncoding.DecodeString(l[2:])
	if err := sc.Verify(v); err != nil {
		c.t.Fatal(err)
	}
	c.send("")
	return strings.TrimPrefix(c.line(), tag+" ")
}

func TestAuthenticateLogin(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial()
	c.send("a AUTHENTICATE LOGIN")
	if ch := c.continuation(); ch != "Username:" {
		t.Fatalf("challenge %q", ch)
	}
	c.send(b64("alice@example.test"))
	if ch := c.continuation(); ch != "Password:" {
		t.Fatalf("challenge %q", ch)
	}
	c.send(b64(testPassword))
	if l := c.line(); !strings.HasPrefix(l, "a OK [CAPABILITY ") {
		t.Fatal(l)
	}
	c.ok("SELECT INBOX")

	// Initial response (RFC 4959): the user name.
	c = e.dial()
	c.send("b AUTHENTICATE LOGIN " + b64("alice@example.test"))
	if ch := c.continuation(); ch != "Password:" {
		t.Fatalf("challenge %q", ch)
	}
	c.send(b64("wrong"))
	if l := c.line(); !strings.HasPrefix(l, "b NO [AUTHENTICATIONFAILED]") {
		t.Fatal(l)
	}
	// Cancelled, bad base64.
	c.send("c AUTHENTICATE LOGIN")
	c.continuation()
	c.send("*")
	if l := c.line(); !strings.HasPrefix(l, "c BAD") {
		t.Fatal(l)
	}
	c.send("d AUTHENTICATE LOGIN")
	c.continuation()
	c.send("!!!")
	if l := c.line(); !strings.HasPrefix(l, "d BAD") {
		t.Fatal(l)
	}
	c.expect("AUTHENTICATE LOGIN =", "BAD")
	c.expect("AUTHENTICATE LOGIN !!", "BAD")
	c.expect("AUTHENTICATE CRAM-MD5", "NO [CANNOT]")
	c.expect("NOOP", "OK")
}

func TestAuthenticateSCRAM(t *testing.T) {
	e := newTestEnv(t)
	c := e.dial()
	caps := capsOf(t, c.ok("CAPABILITY"))
	if !caps["AUTH=SCRAM-SHA-256"] || caps["AUTH=SCRAM-SHA-256-PLUS"] || !caps["AUTH=PLAIN"] || !caps["AUTH=LOGIN"] {
		t.Fatalf("capabilities: %v", caps)
	}
	tests := []struct {
		name, mech, user, pass string
		ir                     bool
		want                   string
	}{
		{"ok with IR", "SCRAM-SHA-256", "alice@example.test", testPassword, true, "OK [CAPABILITY "},
		{"ok without IR", "scram-sha-256", "alice@example.test", testPassword, false, "OK [CAPABILITY "},
		{"other case", "SCRAM-SHA-256", "ALICE@example.test", testPassword, true, "OK [CAPABILITY "},
		{"wrong password", "SCRAM-SHA-256", "alice@example.test", "wrong", true, "NO [AUTHENTICATIONFAILED]"},
		{"unknown user", "SCRAM-SHA-256", "nobody@example.test", testPassword, true, "NO [AUTHENTICATIONFAILED]"},
		{"bad user name", "SCRAM-SHA-256", "not an address", testPassword, false, "NO [AUTHENTICATIONFAILED]"},
		{"PLUS without TLS", "SCRAM-SHA-256-PLUS", "alice@example.test", testPassword, true, "NO [CANNOT]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial()
			got := c.scram(tt.mech, &sasltest.SCRAMClient{User: tt.user, Password: tt.pass}, tt.ir)
			if !strings.HasPrefix(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if strings.HasPrefix(got, "OK") {
				c.ok("SELECT INBOX")
			}
		})
	}

	// Malformed messages and "*" get BAD; the connection goes on.
	c = e.dial()
	c.expect("AUTHENTICATE SCRAM-SHA-256 "+b64("n,,r=x"), "BAD")
	c.expect("AUTHENTICATE SCRAM-SHA-256 "+b64("p=tls-exporter,,n=alice@example.test,r=x"), "BAD")
	c.expect("AUTHENTICATE SCRAM-SHA-256 "+b64("n,a=bob@example.test,n=alice@example.test,r=x"), "NO [AUTHORIZATIONFAILED]")
	c.send("a AUTHENTICATE SCRAM-SHA-256 " + b64("n,,n=alice@example.test,r=abc"))
	sf := c.continuation()
	if !strings.HasPrefix(sf, "r=abc") || !strings.Contains(sf, ",i=10000") {
		t.Fatalf("server-first %q", sf)
	}
	c.send("*")
	if l := c.line(); !strings.HasPrefix(l, "a BAD") {
		t.Fatal(l)
	}
	c.send("b AUTHENTICATE SCRAM-SHA-256 " + b64("n,,n=alice@example.test,r=abc"))
	sf = c.continuation()
	c.send(b64("c=biws,r=tampered,p=" + b64(strings.Repeat("x", 32))))
	if l := c.line(); !strings.HasPrefix(l, "b BAD") {
		t.Fatal(l)
	}
	// The final empty response can be cancelled too: no login.
	sc := &sasltest.SCRAMClient{User: "alice@example.test", Password: testPassword}
	c.send("d AUTHENTICATE SCRAM-SHA-256 " + base64.StdEncoding.EncodeToString(sc.First()))
	final, err := sc.Final([]byte(c.continuation()))
	if err != nil {
		t.Fatal(err)
	}
	c.send(base64.StdEncoding.EncodeToString(final))
	c.continuation()
	c.send("*")
	if l := c.line(); !strings.HasPrefix(l, "d BAD") {
		t.Fatal(l)
	}
	c.expect("SELECT INBOX", "BAD")
	c.ok("NOOP")
}

// SCRAM sends no password, so it is offered and allowed where LOGIN and
// PLAIN are not.
func TestSCRAMWithoutTLS(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.AllowPlaintext = noPlaintext })
	c := e.dial()
	caps := capsOf(t, c.ok("CAPABILITY"))
	if !caps["LOGINDISABLED"] || caps["AUTH=PLAIN"] || caps["AUTH=LOGIN"] || !caps["AUTH=SCRAM-SHA-256"] || caps["AUTH=SCRAM-SHA-256-PLUS"] {
		t.Fatalf("capabilities: %v", caps)
	}
	c.expect("AUTHENTICATE LOGIN", "NO [PRIVACYREQUIRED]")
	if got := c.scram("SCRAM-SHA-256", &sasltest.SCRAMClient{User: "alice@example.test", Password: testPassword}, false); !strings.HasPrefix(got, "OK") {
		t.Fatal(got)
	}
}

func TestSCRAMPlus(t *testing.T) {
	srvTLS, cliTLS := servertest.TLS(t)
	e := newTestEnv(t, func(o *Options) {
		o.TLSConfig = srvTLS
		o.AllowPlaintext = noPlaintext
	})
	startTLS := func() (*client, *tls.Conn) {
		c := e.dial().startTLS(cliTLS)
		return c, c.conn.(*tls.Conn)
	}
	c, _ := startTLS()
	caps := capsOf(t, c.ok("CAPABILITY"))
	if !caps["AUTH=SCRAM-SHA-256-PLUS"] || !caps["AUTH=SCRAM-SHA-256"] || !caps["AUTH=PLAIN"] || !caps["AUTH=LOGIN"] {
		t.Fatalf("capabilities under TLS: %v", caps)
	}
	_, other := startTLS()
	tests := []struct {
		name string
		mech string
		sc   func(tc *tls.Conn) *sasltest.SCRAMClient
		want string
	}{
		{"tls-exporter", "SCRAM-SHA-256-PLUS", func(tc *tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice@example.test", Password: testPassword, CBType: "tls-exporter", CBData: sasltest.Exporter(tc)}
		}, "OK"},
		{"tls-server-end-point", "SCRAM-SHA-256-PLUS", func(tc *tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice@example.test", Password: testPassword, CBType: "tls-server-end-point", CBData: serverEndPoint(t, tc)}
		}, "OK"},
		{"exporter of another connection", "SCRAM-SHA-256-PLUS", func(*tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice@example.test", Password: testPassword, CBType: "tls-exporter", CBData: sasltest.Exporter(other)}
		}, "NO [AUTHENTICATIONFAILED]"},
		{"wrong password", "SCRAM-SHA-256-PLUS", func(tc *tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice@example.test", Password: "nope", CBType: "tls-exporter", CBData: sasltest.Exporter(tc)}
		}, "NO [AUTHENTICATIONFAILED]"},
		{"unknown user", "SCRAM-SHA-256-PLUS", func(tc *tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "nobody@example.test", Password: testPassword, CBType: "tls-exporter", CBData: sasltest.Exporter(tc)}
		}, "NO [AUTHENTICATIONFAILED]"},
		{"PLUS without binding", "SCRAM-SHA-256-PLUS", func(*tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice@example.test", Password: testPassword}
		}, "BAD"},
		{"downgrade to SCRAM-SHA-256 with y", "SCRAM-SHA-256", func(*tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice@example.test", Password: testPassword, Flag: "y"}
		}, "NO [AUTHENTICATIONFAILED]"},
		{"SCRAM-SHA-256 under TLS", "SCRAM-SHA-256", func(*tls.Conn) *sasltest.SCRAMClient {
			return &sasltest.SCRAMClient{User: "alice@example.test", Password: testPassword}
		}, "OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, tc := startTLS()
			if got := c.scram(tt.mech, tt.sc(tc), true); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}

	// Implicit TLS (imaps) too.
	addr := e.listenTLS(srvTLS)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ic := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := ic.line(); !strings.Contains(g, "AUTH=SCRAM-SHA-256-PLUS") {
		t.Fatalf("imaps greeting %q", g)
	}
	sc := &sasltest.SCRAMClient{User: "alice@example.test", Password: testPassword, CBType: "tls-exporter", CBData: sasltest.Exporter(conn)}
	if got := ic.scram("SCRAM-SHA-256-PLUS", sc, false); !strings.HasPrefix(got, "OK") {
		t.Fatal(got)
	}
	ic.ok("SELECT INBOX")
}
