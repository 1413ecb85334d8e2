package sasl

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RFC 7677 §3.
const (
	vecPassword    = "pencil"
	vecSalt        = "W22ZaJ0SNY7soEsUEjb6gQ=="
	vecClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	vecServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	vecServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	vecClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	vecServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

func vecKeys(t testing.TB) *SCRAMKeys {
	t.Helper()
	salt, _ := base64.StdEncoding.DecodeString(vecSalt)
	k, err := DeriveSCRAMKeys(vecPassword, salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRFC7677Vector(t *testing.T) {
	keys := vecKeys(t)
	srv := NewSCRAMServer(SCRAMOptions{Lookup: func(u string) (*SCRAMKeys, error) {
		if u != "user" {
			t.Errorf("lookup of %q", u)
		}
		return keys, nil
	}})
	srv.newNonce = func() string { return vecServerNonce }
	ch, done, err := srv.Next([]byte(vecClientFirst))
	if err != nil || done || string(ch) != vecServerFirst {
		t.Fatalf("server-first: %q %v %v", ch, done, err)
	}
	ch, done, err = srv.Next([]byte(vecClientFinal))
	if err != nil || !done || string(ch) != vecServerFinal {
		t.Fatalf("server-final: %q %v %v", ch, done, err)
	}
	if srv.Username() != "user" {
		t.Fatalf("username %q", srv.Username())
	}

	// The test client computes the same messages.
	c := &scramClient{user: "user", pass: vecPassword, gs2: "n,,", cnonce: "rOprNGfwEbeRWgbNEkqO"}
	if got := c.first(); got != vecClientFirst {
		t.Fatalf("client-first %q", got)
	}
	final, err := c.final(vecServerFirst)
	if err != nil || final != vecClientFinal {
		t.Fatalf("client-final %q %v", final, err)
	}
	if !c.verify(vecServerFinal) {
		t.Fatal("server signature not verified")
	}
}

func TestSCRAMKeysEncoding(t *testing.T) {
	k := vecKeys(t)
	s := k.String()
	if !strings.HasPrefix(s, "$scram-sha-256$i=4096$") {
		t.Fatalf("encoding %q", s)
	}
	got, err := ParseSCRAMKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Iterations != 4096 || !bytes.Equal(got.Salt, k.Salt) || !bytes.Equal(got.StoredKey, k.StoredKey) || !bytes.Equal(got.ServerKey, k.ServerKey) {
		t.Fatalf("round trip %+v", got)
	}
	for _, bad := range []string{
		"", "$scram-sha-256$", "$scram-sha-1$i=4096$AAAAAAAAAAA$AAAA$AAAA",
		strings.Replace(s, "i=4096", "i=0", 1),
		strings.Replace(s, "i=4096", "i=04096", 1),
		strings.Replace(s, "i=4096", "i=+4096", 1),
		strings.Replace(s, "i=4096", "i=99999999999", 1),
		strings.Replace(s, "i=4096", "4096", 1),
		s + "$x", s[:len(s)-2],
	} {
		if _, err := ParseSCRAMKeys(bad); err == nil {
			t.Errorf("ParseSCRAMKeys(%q) accepted", bad)
		}
	}
	n, err := NewSCRAMKeys("pencil")
	if err != nil || n.Iterations != DefaultIterations || len(n.Salt) != saltLen {
		t.Fatalf("NewSCRAMKeys: %+v %v", n, err)
	}
	if _, err := DeriveSCRAMKeys("x", nil, 4096); err == nil {
		t.Fatal("empty salt accepted")
	}
}

// scramClient is a minimal SCRAM-SHA-256 client (RFC 5802 §5).
type scramClient struct {
	user, pass string
	gs2        string // "n,,", "y,,", "p=tls-exporter,,"
	cbData     []byte
	cnonce     string

	bare, authMessage string
	serverKey         []byte
}

func (c *scramClient) first() string {
	if c.cnonce == "" {
		c.cnonce = randomNonce()
	}
	name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.user)
	c.bare = "n=" + name + ",r=" + c.cnonce
	return c.gs2 + c.bare
}

func (c *scramClient) final(serverFirst string) (string, error) {
	attrs := strings.Split(serverFirst, ",")
	if len(attrs) < 3 || !strings.HasPrefix(attrs[0], "r="+c.cnonce) {
		return "", errors.New("bad server-first " + serverFirst)
	}
	salt, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(attrs[1], "s="))
	if err != nil {
		return "", err
	}
	iter, err := strconv.Atoi(strings.TrimPrefix(attrs[2], "i="))
	if err != nil {
		return "", err
	}
	// RFC 5802 §3, computed here without DeriveSCRAMKeys.
	salted := pbkdf2SHA256(c.pass, salt, iter)
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	c.serverKey = hmacSHA256(salted, "Server Key")
	without := "c=" + base64.StdEncoding.EncodeToString(append([]byte(c.gs2), c.cbData...)) + "," + attrs[0]
	c.authMessage = c.bare + "," + serverFirst + "," + without
	sig := hmacSHA256(storedKey[:], c.authMessage)
	proof := make([]byte, len(sig))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	return without + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (c *scramClient) verify(serverFinal string) bool {
	want := "v=" + base64.StdEncoding.EncodeToString(hmacSHA256(c.serverKey, c.authMessage))
	return hmac.Equal([]byte(want), []byte(serverFinal))
}

func pbkdf2SHA256(pass string, salt []byte, iter int) []byte {
	// RFC 5802 §2.2 Hi(), written out independently of crypto/pbkdf2.
	m := hmac.New(sha256.New, []byte(pass))
	m.Write(salt)
	m.Write([]byte{0, 0, 0, 1})
	u := m.Sum(nil)
	out := append([]byte(nil), u...)
	for i := 1; i < iter; i++ {
		m.Reset()
		m.Write(u)
		u = m.Sum(nil)
		for j := range out {
			out[j] ^= u[j]
		}
	}
	return out
}

// exchange runs a whole SCRAM exchange between c and srv.
func exchange(c *scramClient, srv *SCRAMServer) error {
	sf, done, err := srv.Next([]byte(c.first()))
	if err != nil {
		return err
	}
	if done {
		return errors.New("done after client-first")
	}
	final, err := c.final(string(sf))
	if err != nil {
		return err
	}
	v, done, err := srv.Next([]byte(final))
	if err != nil {
		return err
	}
	if !done || !c.verify(string(v)) {
		return errors.New("server signature not verified")
	}
	return nil
}

const testIter = 4096

func testLookup(t testing.TB) SCRAMLookup {
	salt := []byte("0123456789abcdef")
	keys, err := DeriveSCRAMKeys("secret", salt, testIter)
	if err != nil {
		t.Fatal(err)
	}
	return func(u string) (*SCRAMKeys, error) {
		switch strings.ToLower(u) {
		case "alice@example.org", "a,b=c@example.org":
			return keys, nil
		case "broken@example.org":
			return nil, errors.New("store down")
		}
		return nil, nil
	}
}

func TestSCRAMExchanges(t *testing.T) {
	lookup := testLookup(t)
	tests := []struct {
		name string
		user string
		pass string
		gs2  string
		want error // nil, ErrAuthFailed, ErrMalformed, ErrAuthzDenied
	}{
		{"ok", "alice@example.org", "secret", "n,,", nil},
		{"ok other case", "Alice@Example.org", "secret", "n,,", nil},
		{"escaped name", "a,b=c@example.org", "secret", "n,,", nil},
		{"ok y flag without TLS", "alice@example.org", "secret", "y,,", nil},
		{"wrong password", "alice@example.org", "Secret", "n,,", ErrAuthFailed},
		{"unknown user", "bob@example.org", "secret", "n,,", ErrAuthFailed},
		{"authzid self", "alice@example.org", "secret", "n,a=alice@example.org,", nil},
		{"authzid other", "alice@example.org", "secret", "n,a=bob@example.org,", ErrAuthzDenied},
		{"p flag with plain SCRAM", "alice@example.org", "secret", "p=tls-exporter,,", ErrMalformed},
		{"bad flag", "alice@example.org", "secret", "x,,", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewSCRAMServer(SCRAMOptions{Lookup: lookup})
			err := exchange(&scramClient{user: tt.user, pass: tt.pass, gs2: tt.gs2}, srv)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// An unknown user gets a salt that is stable, looks like a real one, and
// the usual iteration count; the failure is the one of a wrong password.
func TestSCRAMUnknownUserIndistinguishable(t *testing.T) {
	lookup := testLookup(t)
	first := func(user string) string {
		srv := NewSCRAMServer(SCRAMOptions{Lookup: lookup})
		srv.newNonce = func() string { return "S" }
		sf, _, err := srv.Next([]byte("n,,n=" + user + ",r=C"))
		if err != nil {
			t.Fatal(err)
		}
		return string(sf)
	}
	a, b := first("nobody@example.org"), first("NOBODY@example.org")
	if a != b {
		t.Fatalf("fake salt not stable: %q vs %q", a, b)
	}
	if c := first("other@example.org"); c == a {
		t.Fatal("fake salt does not depend on the user")
	}
	if !strings.HasSuffix(a, ",i="+strconv.Itoa(DefaultIterations)) {
		t.Fatalf("fake iteration count: %q", a)
	}
	salt, _ := base64.StdEncoding.DecodeString(strings.Split(a, ",")[1][2:])
	if len(salt) != saltLen {
		t.Fatalf("fake salt length %d", len(salt))
	}

	errOf := func(user, pass string) error {
		return exchange(&scramClient{user: user, pass: pass, gs2: "n,,"}, NewSCRAMServer(SCRAMOptions{Lookup: lookup}))
	}
	e1, e2 := errOf("nobody@example.org", "secret"), errOf("alice@example.org", "wrong")
	if !errors.Is(e1, ErrAuthFailed) || e1.Error() != e2.Error() {
		t.Fatalf("unknown user %v, wrong password %v", e1, e2)
	}

	// A lookup failure is passed through, not an authentication failure.
	err := errOf("broken@example.org", "secret")
	if err == nil || errors.Is(err, ErrAuthFailed) || err.Error() != "store down" {
		t.Fatalf("lookup failure: %v", err)
	}
}

func TestSCRAMNoInitialResponse(t *testing.T) {
	srv := NewSCRAMServer(SCRAMOptions{Lookup: testLookup(t)})
	ch, done, err := srv.Next(nil)
	if err != nil || done || len(ch) != 0 || ch == nil {
		t.Fatalf("first challenge %q %v %v", ch, done, err)
	}
	c := &scramClient{user: "alice@example.org", pass: "secret", gs2: "n,,"}
	if err := exchange(c, srv); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Next([]byte("x")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("message after the end: %v", err)
	}
}

func TestSCRAMMalformed(t *testing.T) {
	lookup := testLookup(t)
	firsts := []string{
		"", "n", "n,", "n,,", "n,,n=alice@example.org", "n,,r=abc,n=alice@example.org",
		"n,,n=alice@example.org,r=", "n,,n=alice@example.org,r=a b", "n,,n=,r=abc",
		"n,,n=al=2Xice,r=abc", "n,,m=ext,n=alice@example.org,r=abc", "n,b=x,n=alice@example.org,r=abc",
		"n,,n=alice@example.org,r=abc\xff", strings.Repeat("x", maxSCRAMMessage+1),
	}
	for _, m := range firsts {
		srv := NewSCRAMServer(SCRAMOptions{Lookup: lookup})
		if _, _, err := srv.Next([]byte(m)); !errors.Is(err, ErrMalformed) {
			t.Errorf("client-first %q: %v", m, err)
		}
	}

	// Client-final messages: each case rewrites a good one, made for a
	// fresh exchange.
	tests := []struct {
		name string
		edit func(c, r, p string) string // the c=, r= and p= attributes
		want error
	}{
		{"good", func(c, r, p string) string { return c + "," + r + "," + p }, nil},
		{"extension added after signing", func(c, r, p string) string { return c + "," + r + ",x=1," + p }, ErrAuthFailed},
		{"no proof", func(c, r, p string) string { return c + "," + r }, ErrMalformed},
		{"bad proof base64", func(c, r, p string) string { return c + "," + r + ",p=!!!" }, ErrMalformed},
		{"short proof", func(c, r, p string) string { return c + "," + r + ",p=AAAA" }, ErrMalformed},
		{"bad c base64", func(c, r, p string) string { return "c=*," + r + "," + p }, ErrMalformed},
		{"no c", func(c, r, p string) string { return r + "," + p }, ErrMalformed},
		{"order", func(c, r, p string) string { return r + "," + c + "," + p }, ErrMalformed},
		{"tampered nonce", func(c, r, p string) string { return c + "," + r + "x," + p }, ErrMalformed},
		{"client nonce only", func(c, r, p string) string { return c + "," + r[:len(r)-24] + "," + p }, ErrMalformed},
		{"wrong gs2 in c", func(c, r, p string) string {
			return "c=" + base64.StdEncoding.EncodeToString([]byte("y,,")) + "," + r + "," + p
		}, ErrAuthFailed},
		{"flipped proof", func(c, r, p string) string { return c + "," + r + ",p=" + flip(p[2:]) }, ErrAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewSCRAMServer(SCRAMOptions{Lookup: lookup})
			cl := &scramClient{user: "alice@example.org", pass: "secret", gs2: "n,,"}
			sf, _, err := srv.Next([]byte(cl.first()))
			if err != nil {
				t.Fatal(err)
			}
			final, err := cl.final(string(sf))
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(final, ",")
			msg := tt.edit(parts[0], parts[1], parts[2])
			_, done, err := srv.Next([]byte(msg))
			if tt.want == nil && (err != nil || !done) || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("%q: got %v, want %v", msg, err, tt.want)
			}
		})
	}
}

func flip(b64 string) string {
	b, _ := base64.StdEncoding.DecodeString(b64)
	b[0] ^= 1
	return base64.StdEncoding.EncodeToString(b)
}

func TestDecodeSASLName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"user", "user", true},
		{"a=2Cb", "a,b", true},
		{"a=3Db", "a=b", true},
		{"a=3D=2C", "a=,", true},
		{"a=2cb", "", false},
		{"a=", "", false},
		{"a=4", "", false},
		{"a,b", "", false},
	}
	for _, tt := range tests {
		got, ok := decodeSASLName(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("decodeSASLName(%q) = %q, %v", tt.in, got, ok)
		}
	}
}

// ---- Channel binding over real TLS connections ----

func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsPair connects a TLS client and server over loopback and returns the
// channel bindings each side sees.
func tlsPair(t *testing.T, maxVersion uint16) (server, client ChannelBindings) {
	t.Helper()
	cert := selfSigned(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: maxVersion}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		cb  ChannelBindings
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer nc.Close()
		tc := tls.Server(nc, cfg)
		if err := tc.Handshake(); err != nil {
			ch <- result{err: err}
			return
		}
		ch <- result{cb: ConnChannelBindings(tc, cfg)}
		tc.Read(make([]byte, 1)) // until the client closes
	}()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	tc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	st := tc.ConnectionState()
	client.Exporter, _ = st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	client.ServerEndPoint = ServerEndPoint(st.PeerCertificates[0])
	r := <-ch
	tc.Close()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.cb, client
}

func TestSCRAMPlusOverTLS(t *testing.T) {
	lookup := testLookup(t)
	srvCB, cliCB := tlsPair(t, 0)
	otherSrv, otherCli := tlsPair(t, 0)
	if len(srvCB.Exporter) != 32 || !bytes.Equal(srvCB.Exporter, cliCB.Exporter) || !bytes.Equal(srvCB.ServerEndPoint, cliCB.ServerEndPoint) || len(srvCB.ServerEndPoint) != 32 {
		t.Fatalf("channel bindings differ: server %x client %x", srvCB, cliCB)
	}
	if bytes.Equal(srvCB.Exporter, otherSrv.Exporter) {
		t.Fatal("two connections with the same tls-exporter")
	}
	_ = otherCli
	tests := []struct {
		name   string
		plus   bool
		gs2    string
		cbData []byte
		want   error
	}{
		{"exporter", true, "p=tls-exporter,,", cliCB.Exporter, nil},
		{"server-end-point", true, "p=tls-server-end-point,,", cliCB.ServerEndPoint, nil},
		{"exporter of another connection", true, "p=tls-exporter,,", otherSrv.Exporter, ErrAuthFailed},
		{"wrong server-end-point", true, "p=tls-server-end-point,,", otherSrv.ServerEndPoint, ErrAuthFailed},
		{"no binding data", true, "p=tls-exporter,,", nil, ErrAuthFailed},
		{"unknown type", true, "p=tls-unique,,", cliCB.Exporter, ErrMalformed},
		{"PLUS without binding", true, "n,,", nil, ErrMalformed},
		{"PLUS with y", true, "y,,", nil, ErrMalformed},
		{"SCRAM-SHA-256 on TLS", false, "n,,", nil, nil},
		{"downgrade: y on a TLS connection", false, "y,,", nil, ErrAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewSCRAMServer(SCRAMOptions{Plus: tt.plus, ChannelBindings: srvCB, Lookup: lookup})
			err := exchange(&scramClient{user: "alice@example.org", pass: "secret", gs2: tt.gs2, cbData: tt.cbData}, srv)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Wrong password and unknown user fail alike with -PLUS too.
	for _, c := range []*scramClient{
		{user: "alice@example.org", pass: "nope", gs2: "p=tls-exporter,,", cbData: cliCB.Exporter},
		{user: "nobody@example.org", pass: "secret", gs2: "p=tls-exporter,,", cbData: cliCB.Exporter},
	} {
		err := exchange(c, NewSCRAMServer(SCRAMOptions{Plus: true, ChannelBindings: srvCB, Lookup: lookup}))
		if !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("%s: %v", c.user, err)
		}
	}
}

func TestChannelBindingsTLS12(t *testing.T) {
	srvCB, cliCB := tlsPair(t, tls.VersionTLS12)
	// Go negotiates the extended master secret (RFC 7627), so the
	// exporter is allowed on TLS 1.2 as well.
	if !srvCB.Available() || !bytes.Equal(srvCB.ServerEndPoint, cliCB.ServerEndPoint) || !bytes.Equal(srvCB.Exporter, cliCB.Exporter) {
		t.Fatalf("TLS 1.2: server %x client %x", srvCB, cliCB)
	}
	if (ChannelBindings{}).Available() {
		t.Fatal("empty bindings available")
	}
	if TLSChannelBindings(tls.ConnectionState{}, nil).Available() {
		t.Fatal("bindings before the handshake")
	}
}

func TestMechanisms(t *testing.T) {
	tests := []struct {
		plaintext, scram, plus bool
		want                   string
	}{
		{true, true, true, "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN"},
		{true, true, false, "SCRAM-SHA-256 PLAIN LOGIN"},
		{false, true, false, "SCRAM-SHA-256"},
		{true, false, true, "PLAIN LOGIN"},
		{false, false, false, ""},
	}
	for _, tt := range tests {
		if got := strings.Join(Mechanisms(tt.plaintext, tt.scram, tt.plus), " "); got != tt.want {
			t.Errorf("Mechanisms(%v, %v, %v) = %q", tt.plaintext, tt.scram, tt.plus, got)
		}
	}
}

func FuzzSCRAMServer(f *testing.F) {
	f.Add([]byte(vecClientFirst), []byte(vecClientFinal))
	f.Add([]byte("p=tls-exporter,a=user,n=user,r=abc"), []byte("c=cD10bHMtZXhwb3J0ZXIsYT11c2VyLA==,r=abcS,p=AAAA"))
	f.Add([]byte("y,,n=a=2Cb,r=x,ext=1"), []byte("c=eSws,r=xS,p="))
	keys := vecKeys(f)
	f.Fuzz(func(t *testing.T, first, final []byte) {
		srv := NewSCRAMServer(SCRAMOptions{Plus: len(first)%2 == 0, ChannelBindings: ChannelBindings{Exporter: make([]byte, 32)},
			Lookup: func(u string) (*SCRAMKeys, error) { return keys, nil }})
		srv.newNonce = func() string { return "S" }
		if _, done, err := srv.Next(first); err != nil || done {
			return
		}
		if _, done, err := srv.Next(final); done && err != nil {
			t.Fatal("done with an error")
		}
	})
}

// RFC 5929 §4.1: the certificate's signature hash, SHA-256 for MD5 and
// SHA-1.
func TestServerEndPointHash(t *testing.T) {
	raw := []byte("certificate")
	s256 := sha256.Sum256(raw)
	s384 := sha512.Sum384(raw)
	s512 := sha512.Sum512(raw)
	tests := []struct {
		alg  x509.SignatureAlgorithm
		want []byte
	}{
		{x509.SHA1WithRSA, s256[:]},
		{x509.MD5WithRSA, s256[:]},
		{x509.ECDSAWithSHA256, s256[:]},
		{x509.SHA256WithRSAPSS, s256[:]},
		{x509.ECDSAWithSHA384, s384[:]},
		{x509.SHA384WithRSA, s384[:]},
		{x509.SHA512WithRSA, s512[:]},
		{x509.PureEd25519, nil},
	}
	for _, tt := range tests {
		if got := ServerEndPoint(&x509.Certificate{Raw: raw, SignatureAlgorithm: tt.alg}); !bytes.Equal(got, tt.want) {
			t.Errorf("%v: %x, want %x", tt.alg, got, tt.want)
		}
	}
}
