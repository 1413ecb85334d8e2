package imapserver

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"mailroom/internal/directory"
	"mailroom/internal/sasl"
	"mailroom/internal/store"
)

func init() {
	register("CAPABILITY", handler{fn: cmdCapability, states: anyState})
	register("NOOP", handler{fn: cmdNoop, states: anyState})
	register("LOGOUT", handler{fn: cmdLogout, states: anyState, noSync: true})
	register("LOGIN", handler{fn: cmdLogin, states: notAuthState})
	register("AUTHENTICATE", handler{fn: cmdAuthenticate, states: notAuthState})
	register("ENABLE", handler{fn: cmdEnable, states: authState})
	register("ID", handler{fn: cmdID, states: anyState})
	register("NAMESPACE", handler{fn: cmdNamespace, states: authState})
}

// capabilities lists what this session may use now. Each extension is
// announced only where it is implemented in full.
func (s *session) capabilities() string {
	caps := []string{"IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE"}
	if s.state == stateNotAuth {
		if s.srv.opts.TLSConfig != nil && !s.tls {
			caps = append(caps, "STARTTLS")
		}
		// RFC 9051 §7.2.2 AUTH=: PLAIN and LOGIN only where a password
		// may be sent; SCRAM sends none and is offered everywhere.
		for _, m := range s.saslMechanisms() {
			caps = append(caps, "AUTH="+m)
		}
		if !s.plaintextAllowed() {
			caps = append(caps, "LOGINDISABLED")
		}
		return strings.Join(caps, " ")
	}
	caps = append(caps, extensionCaps...)
	caps = append(caps, "APPENDLIMIT="+strconv.FormatInt(s.srv.opts.MaxMessageSize, 10))
	return strings.Join(caps, " ")
}

// extensionCaps are announced after login (RFC 9051 §7.2.2 allows the list
// to change).
var extensionCaps = []string{
	"IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN",
	"SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS",
	"ESEARCH", "SEARCHRES", "WITHIN", "CONDSTORE", "QRESYNC",
	"QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE", "STATUS=SIZE",
	"BINARY", "MULTIAPPEND", "UTF8=ACCEPT", "SAVEDATE", "PREVIEW",
	"COMPRESS=DEFLATE", "SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "METADATA", "CATENATE",
}

func (s *session) plaintextAllowed() bool {
	if s.tls || s.srv.opts.AllowPlaintext == nil {
		return true
	}
	return s.srv.opts.AllowPlaintext(s.conn.RemoteAddr())
}

// RFC 9051 §6.1.1.
func cmdCapability(s *session, cmd *command) error {
	if err := s.endLine(); err != nil {
		return err
	}
	s.enc.Star().Atom("CAPABILITY ").Raw(s.capabilities()).CRLF()
	return nil
}

// RFC 9051 §6.1.2: NOOP is the classic way to poll for updates; sync runs
// after it like after every command.
func cmdNoop(s *session, cmd *command) error { return s.endLine() }

// RFC 9051 §6.1.3.
func cmdLogout(s *session, cmd *command) error {
	if err := s.endLine(); err != nil {
		return err
	}
	s.enc.Star().Atom("BYE logging out").CRLF()
	s.state = stateLogout
	return nil
}

// RFC 9051 §6.2.3.
func cmdLogin(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	user, ok := s.dec.AString()
	if !ok || !s.dec.SP() {
		return s.syntax()
	}
	pass, ok := s.dec.AString()
	if !ok {
		return s.syntax()
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if !s.plaintextAllowed() {
		return no("PRIVACYREQUIRED", "use TLS before sending a password")
	}
	return s.login(user, pass, "LOGIN")
}

func (s *session) login(user, pass, mech string) error {
	acct, err := s.srv.authenticate(s.ctx, s.conn.RemoteAddr(), user, pass)
	if err != nil {
		if errors.Is(err, directory.ErrAuthFailed) {
			return s.loginFailed(user, mech)
		}
		s.log.Error("imap login", "err", err)
		return no("UNAVAILABLE", "authentication is temporarily unavailable")
	}
	return s.loggedIn(acct, mech)
}

// loginFailed answers bad credentials, after Options.AuthFailDelay.
func (s *session) loginFailed(user, mech string) error {
	s.log.Info("imap login failed", "user", sanitize(user), "mech", mech)
	select {
	case <-time.After(s.srv.opts.AuthFailDelay):
	case <-s.ctx.Done():
	}
	return no("AUTHENTICATIONFAILED", "invalid credentials")
}

// loggedIn enters the authenticated state as acct.
func (s *session) loggedIn(acct *store.Account, mech string) error {
	s.acct = acct
	s.state = stateAuth
	s.mu.Lock()
	s.accountID = acct.ID
	s.mu.Unlock()
	if s.srv.st.Live().Deleted(acct.ID) {
		// Deleted between the password check and now: EndAccount has
		// already looked for its sessions.
		s.end("account deleted")
	}
	s.log = s.log.With("user", acct.Address)
	s.log.Info("imap login", "mech", mech)
	// RFC 9051 §6.2.3: the capability list may change after login.
	return okCode("CAPABILITY "+s.capabilities(), "logged in")
}

// RFC 9051 §6.2.2, SASL-IR (RFC 4959), PLAIN (RFC 4616); LOGIN and
// SCRAM-SHA-256(-PLUS) are in authsasl.go.
func cmdAuthenticate(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	mech, ok := s.dec.Atom()
	if !ok {
		return s.syntax()
	}
	var ir string
	haveIR := false
	if s.dec.Special(' ') {
		if ir, ok = s.dec.Token("an initial response", func(b byte) bool {
			return b == '=' || b == '+' || b == '/' || (b >= '0' && b <= '9') || (b|0x20 >= 'a' && b|0x20 <= 'z')
		}); !ok {
			return s.syntax()
		}
		haveIR = true
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if !strings.EqualFold(mech, sasl.Plain) {
		return s.authenticateSASL(strings.ToUpper(mech), ir, haveIR)
	}
	if !s.plaintextAllowed() {
		return no("PRIVACYREQUIRED", "use TLS before sending a password")
	}
	if !haveIR {
		s.enc.Raw("+ ").CRLF()
		if err := s.flush(); err != nil {
			return err
		}
		line, err := s.dec.ReadLine()
		if err != nil {
			return &parseError{err} // too long or I/O: BYE and close
		}
		if line == "*" {
			return badArg("authentication cancelled")
		}
		ir = line
	}
	if ir == "=" {
		ir = ""
	}
	raw, err := base64.StdEncoding.DecodeString(ir)
	if err != nil {
		return badArg("invalid base64")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 {
		return badArg("invalid PLAIN response")
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && !strings.EqualFold(authz, user) {
		return no("AUTHORIZATIONFAILED", "cannot act as another user")
	}
	return s.login(user, pass, "PLAIN")
}

// RFC 5161 ENABLE; RFC 9051 §6.3.1.
func cmdEnable(s *session, cmd *command) error {
	var caps []string
	for s.dec.Special(' ') {
		c, ok := s.dec.Atom()
		if !ok {
			return s.syntax()
		}
		caps = append(caps, c)
	}
	if len(caps) == 0 {
		return badArg("ENABLE needs at least one capability")
	}
	if err := s.endLine(); err != nil {
		return err
	}
	var enabled []string
	for _, c := range caps {
		switch strings.ToUpper(c) {
		case "IMAP4REV2":
			if !s.rev2 {
				s.rev2, s.utf8 = true, true
				enabled = append(enabled, "IMAP4rev2")
			}
		case "UTF8=ACCEPT":
			if !s.utf8 || (s.rev2 && !containsFold(enabled, "UTF8=ACCEPT")) {
				s.utf8 = true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		case "CONDSTORE":
			if !s.condstore {
				s.condstore = true
				enabled = append(enabled, "CONDSTORE")
			}
		case "QRESYNC":
			if !s.qresync {
				s.qresync, s.condstore = true, true
				enabled = append(enabled, "QRESYNC")
			}
		}
	}
	s.enc.UTF8 = s.utf8
	s.enc.Star().Atom("ENABLED")
	for _, e := range enabled {
		s.enc.SP().Atom(e)
	}
	s.enc.CRLF()
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// RFC 2971 ID: the client's parameters are read and logged; the server
// answers with its name.
func cmdID(s *session, cmd *command) error {
	if !s.dec.SP() {
		return s.syntax()
	}
	var params []any
	if b, _ := s.dec.Peek(); b == '(' {
		n := 0
		ok := s.dec.List(func() bool {
			if n++; n > 30 {
				return false
			}
			k, ok := s.dec.String()
			if !ok || !s.dec.SP() {
				return false
			}
			v, _, ok := s.dec.NString()
			if len(k) > 30 || len(v) > 1024 {
				return false
			}
			params = append(params, sanitize(k), sanitize(v))
			return ok
		})
		if !ok {
			return s.syntax()
		}
	} else if _, isNil, ok := s.dec.NString(); !ok || !isNil {
		return s.syntax()
	}
	if err := s.endLine(); err != nil {
		return err
	}
	if len(params) > 0 {
		s.log.Debug("imap client id", params...)
	}
	s.enc.Star().Atom(`ID ("name" "mailroom")`).CRLF()
	return nil
}

// RFC 2342 NAMESPACE: one personal namespace with "/" as delimiter.
func cmdNamespace(s *session, cmd *command) error {
	if err := s.endLine(); err != nil {
		return err
	}
	s.enc.Star().Atom(`NAMESPACE (("" "/")) NIL NIL`).CRLF()
	return nil
}
