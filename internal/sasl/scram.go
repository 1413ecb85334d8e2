package sasl

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SCRAMLookup returns the SCRAM keys of a user, as named in the client's
// first message (RFC 5802 §5.1 "n="). It returns (nil, nil) for an
// unknown user and for a user without SCRAM keys; the exchange then goes
// on with fake keys and fails at the proof. Any error ends the exchange
// and is returned by Next unchanged (a temporary failure of the lookup).
type SCRAMLookup func(username string) (*SCRAMKeys, error)

// SCRAMOptions configure one SCRAM-SHA-256 exchange.
type SCRAMOptions struct {
	// Plus selects SCRAM-SHA-256-PLUS (RFC 5802 §6): the client must bind
	// to the TLS channel.
	Plus bool
	// ChannelBindings of the connection; zero when it is not under TLS.
	// When Available, the server supports channel binding on this
	// connection, and a SCRAM-SHA-256 client that says it would have
	// bound ("y") is refused as a downgrade (RFC 5802 §6).
	ChannelBindings ChannelBindings
	Lookup          SCRAMLookup
}

// maxSCRAMMessage bounds each client message. Real ones are a few hundred
// octets; the protocols' line limits come first anyway.
const maxSCRAMMessage = 4096

// fakeSecret keys the salts made up for unknown users: stable for the
// life of the process, so that asking twice gives the same salt, as for a
// real account.
var fakeSecret = func() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("sasl: no randomness: " + err.Error())
	}
	return b
}()

// fakeSCRAMKeys are the keys shown for a user without any: a salt of the
// usual length derived from the (case-folded, as account lookups are) user
// name, and the usual iteration count. The keys themselves never match.
func fakeSCRAMKeys(username string) *SCRAMKeys {
	m := hmac.New(sha256.New, fakeSecret)
	m.Write([]byte("scram salt\x00"))
	m.Write([]byte(strings.ToLower(username)))
	return &SCRAMKeys{
		Salt:       m.Sum(nil)[:saltLen],
		Iterations: DefaultIterations,
		StoredKey:  make([]byte, sha256.Size),
		ServerKey:  make([]byte, sha256.Size),
	}
}

// SCRAMServer is the server side of one SCRAM-SHA-256(-PLUS) exchange
// (RFC 5802 §5, RFC 7677):
//
//	C: n,,n=user,r=cnonce                        client-first-message
//	S: r=cnonce+snonce,s=salt,i=iterations        server-first-message
//	C: c=biws,r=cnonce+snonce,p=proof             client-final-message
//	S: v=verifier                                 server-final-message
type SCRAMServer struct {
	opts     SCRAMOptions
	newNonce func() string // tests fix it for the RFC 7677 vector

	step        int
	gs2Header   string
	cbName      string // "p=" type; "" without channel binding
	clientBare  string
	serverFirst string
	nonce       string
	keys        *SCRAMKeys
	known       bool

	username string
}

// NewSCRAMServer returns a SCRAM-SHA-256 or SCRAM-SHA-256-PLUS exchange.
func NewSCRAMServer(opts SCRAMOptions) *SCRAMServer {
	return &SCRAMServer{opts: opts, newNonce: randomNonce}
}

// AwaitingProof reports whether the next client message is the
// client-final-message with the proof: the step that checks credentials,
// where a caller applies its login rate limits.
func (s *SCRAMServer) AwaitingProof() bool { return s.step == 2 }

// Username is the authentication identity from the client's first
// message; after Next reports done it is the user who logged in.
func (s *SCRAMServer) Username() string { return s.username }

func randomNonce() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic("sasl: no randomness: " + err.Error())
	}
	return base64.RawStdEncoding.EncodeToString(b) // printable, no ','
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: SCRAM: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Next implements Server.
func (s *SCRAMServer) Next(resp []byte) ([]byte, bool, error) {
	if len(resp) > maxSCRAMMessage {
		return nil, false, malformed("message too long")
	}
	switch s.step {
	case 0:
		if resp == nil {
			// No initial response: an empty challenge asks for the
			// client's first message (RFC 4422 §3.3).
			s.step = 1
			return []byte{}, false, nil
		}
		return s.clientFirst(string(resp))
	case 1:
		return s.clientFirst(string(resp))
	case 2:
		return s.clientFinal(string(resp))
	}
	return nil, false, malformed("exchange already complete")
}

// clientFirst handles client-first-message (RFC 5802 §7):
//
//	gs2-header = gs2-cbind-flag "," [ authzid ] ","
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
func (s *SCRAMServer) clientFirst(msg string) ([]byte, bool, error) {
	if !utf8.ValidString(msg) {
		return nil, false, malformed("not UTF-8")
	}
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, false, malformed("no GS2 header")
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, false, malformed("no GS2 header")
	}
	s.gs2Header = msg[:len(msg)-len(bare)]

	// RFC 5802 §6: the channel binding flag against the mechanism.
	switch {
	case flag == "n":
		if s.opts.Plus {
			return nil, false, malformed("SCRAM-SHA-256-PLUS needs channel binding")
		}
	case flag == "y":
		if s.opts.Plus {
			return nil, false, malformed("SCRAM-SHA-256-PLUS needs channel binding")
		}
		if s.opts.ChannelBindings.Available() {
			// The client could have bound but thought we could not: a
			// downgrade by someone in the middle who removed -PLUS.
			return nil, false, fmt.Errorf("%w: SCRAM: client supports channel binding that the server offered", ErrAuthFailed)
		}
	case strings.HasPrefix(flag, "p="):
		if !s.opts.Plus {
			return nil, false, malformed("channel binding requested with SCRAM-SHA-256")
		}
		s.cbName = flag[2:]
		if s.opts.ChannelBindings.data(s.cbName) == nil {
			return nil, false, malformed("unsupported channel binding type %q", s.cbName)
		}
	default:
		return nil, false, malformed("bad channel binding flag")
	}

	var authzid string
	if authz != "" {
		v, ok := strings.CutPrefix(authz, "a=")
		if !ok {
			return nil, false, malformed("bad authzid")
		}
		if authzid, ok = decodeSASLName(v); !ok {
			return nil, false, malformed("bad authzid")
		}
	}

	if strings.HasPrefix(bare, "m=") {
		// RFC 5802 §5.1: mandatory extensions we do not know end the
		// exchange.
		return nil, false, malformed("mandatory extensions not supported")
	}
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 {
		return nil, false, malformed("bad client-first-message")
	}
	u, ok := strings.CutPrefix(attrs[0], "n=")
	if !ok {
		return nil, false, malformed("no username")
	}
	username, ok := decodeSASLName(u)
	if !ok || username == "" {
		return nil, false, malformed("bad username")
	}
	cnonce, ok := strings.CutPrefix(attrs[1], "r=")
	if !ok || !validNonce(cnonce) {
		return nil, false, malformed("bad nonce")
	}
	if authzid != "" && !strings.EqualFold(authzid, username) {
		return nil, false, ErrAuthzDenied
	}

	keys, err := s.opts.Lookup(username)
	if err != nil {
		return nil, false, err
	}
	s.known = keys != nil && keys.Iterations > 0 && len(keys.Salt) > 0 &&
		len(keys.StoredKey) == sha256.Size && len(keys.ServerKey) == sha256.Size
	if !s.known {
		keys = fakeSCRAMKeys(username)
	}
	s.keys = keys
	s.username = username
	s.clientBare = bare
	s.nonce = cnonce + s.newNonce()
	// RFC 5802 §7 server-first-message.
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(keys.Salt) + ",i=" + strconv.Itoa(keys.Iterations)
	s.step = 2
	return []byte(s.serverFirst), false, nil
}

// clientFinal handles client-final-message (RFC 5802 §7):
//
//	channel-binding "," nonce ["," extensions] "," proof
func (s *SCRAMServer) clientFinal(msg string) ([]byte, bool, error) {
	s.step = 3
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false, malformed("no proof")
	}
	withoutProof := msg[:i]
	proof, err := base64.StdEncoding.Strict().DecodeString(msg[i+3:])
	if err != nil || len(proof) != sha256.Size {
		return nil, false, malformed("bad proof")
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 {
		return nil, false, malformed("bad client-final-message")
	}
	c, ok := strings.CutPrefix(attrs[0], "c=")
	if !ok {
		return nil, false, malformed("no channel binding")
	}
	cbind, err := base64.StdEncoding.Strict().DecodeString(c)
	if err != nil {
		return nil, false, malformed("bad channel binding base64")
	}
	r, ok := strings.CutPrefix(attrs[1], "r=")
	if !ok || r != s.nonce {
		return nil, false, malformed("nonce mismatch")
	}

	// RFC 5802 §6: c= is the GS2 header followed, with "p=", by the
	// channel binding data.
	want := []byte(s.gs2Header)
	if s.cbName != "" {
		want = append(want, s.opts.ChannelBindings.data(s.cbName)...)
	}
	cbOK := subtle.ConstantTimeCompare(cbind, want) == 1

	// RFC 5802 §3.
	authMessage := s.clientBare + "," + s.serverFirst + "," + withoutProof
	clientSig := hmacSHA256(s.keys.StoredKey, authMessage)
	clientKey := make([]byte, sha256.Size)
	for i := range clientKey {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	stored := sha256.Sum256(clientKey)
	proofOK := subtle.ConstantTimeCompare(stored[:], s.keys.StoredKey) == 1
	switch {
	case !cbOK:
		return nil, false, fmt.Errorf("%w: SCRAM: channel binding data does not match", ErrAuthFailed)
	case !proofOK || !s.known:
		return nil, false, fmt.Errorf("%w: SCRAM: invalid proof", ErrAuthFailed)
	}
	// RFC 5802 §7 server-final-message, sent as the additional data of
	// the success outcome.
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSHA256(s.keys.ServerKey, authMessage))), true, nil
}

// decodeSASLName undoes RFC 5802 §7 saslname escaping: "=2C" is ',' and
// "=3D" is '='; any other '=' is an error.
func decodeSASLName(s string) (string, bool) {
	if strings.IndexByte(s, ',') >= 0 {
		return "", false
	}
	if strings.IndexByte(s, '=') < 0 {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] != '=':
			b.WriteByte(s[i])
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
			i += 2
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
			i += 2
		default:
			return "", false
		}
	}
	return b.String(), true
}

// validNonce: printable = %x21-2B / %x2D-7E, one or more (RFC 5802 §7).
func validNonce(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}
