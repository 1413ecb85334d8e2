package pop3server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"mailroom/internal/directory"
	"mailroom/internal/sasl"
	"mailroom/internal/store"
)

// errPlaintext answers login commands where plaintext logins are not
// allowed (Options.AllowPlaintext).
var errPlaintext = &respError{Code: "AUTH", Text: "plaintext authentication is not allowed on this connection", Bad: true}

// cmdUser is USER name (RFC 1939 §7). Every name gets +OK, so that USER
// does not tell which accounts exist; PASS says whether the pair is good.
func (c *conn) cmdUser(args string) error {
	if !c.plaintext {
		return errPlaintext
	}
	if args == "" {
		return badf("USER needs a name")
	}
	c.user = args
	c.ok("send PASS")
	return nil
}

// cmdPass is PASS string (RFC 1939 §7). The argument is the rest of the
// line: RFC 1939 §7 lets a server take spaces as part of the password.
func (c *conn) cmdPass(args string) error {
	if !c.plaintext {
		return errPlaintext
	}
	user := c.user
	c.user = ""
	if user == "" {
		return badf("send USER first")
	}
	if args == "" {
		return badf("PASS needs a password")
	}
	c.mech = "USER"
	return c.login(user, args)
}

// cmdAuth is AUTH (RFC 5034 §4). Bare AUTH lists the mechanisms, as
// clients of the older RFC 1734 do.
func (c *conn) cmdAuth(args string) error {
	mech, initial, hasInitial := strings.Cut(args, " ")
	c.mech = strings.ToUpper(mech)
	if mech == "" {
		mechs := c.saslMechanisms()
		if len(mechs) == 0 {
			return errPlaintext
		}
		c.ok("SASL mechanisms follow")
		for _, m := range mechs {
			c.bw.WriteString(m + "\r\n")
		}
		c.endMultiline()
		return nil
	}
	if !strings.EqualFold(mech, sasl.Plain) {
		// LOGIN and SCRAM-SHA-256(-PLUS): authsasl.go.
		return c.authSASL(strings.ToUpper(mech), initial, hasInitial)
	}
	if !c.plaintext {
		return errPlaintext
	}
	var resp string
	if hasInitial {
		// RFC 5034 §4: "=" is an empty initial response.
		resp = initial
		if resp == "=" {
			resp = ""
		}
	} else {
		// RFC 5034 §4: an empty challenge is "+ ".
		c.bw.WriteString("+ \r\n")
		line, err := c.readLine(maxSASLLineLength)
		if c.debug && err == nil {
			c.log.Debug("C: <redacted>")
		}
		switch {
		case err == errLineTooLong:
			return badf("line too long")
		case err != nil:
			return err
		case line == "*":
			// RFC 5034 §4: "*" cancels, answered with -ERR.
			return badf("authentication cancelled")
		}
		resp = line
	}
	user, pass, ok := decodePlain(resp)
	if !ok {
		return badf("invalid PLAIN response")
	}
	return c.login(user, pass)
}

// decodePlain decodes a SASL PLAIN response (RFC 4616 §2):
// [authzid] NUL authcid NUL passwd, in base64 (RFC 5034 §4). An authzid
// other than the authcid (acting for someone else) is refused.
func decodePlain(b64 string) (user, pass string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", "", false
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", "", false
	}
	if len(parts[0]) > 0 && string(parts[0]) != string(parts[1]) {
		return "", "", false
	}
	return string(parts[1]), string(parts[2]), true
}

// login checks the credentials and enters TRANSACTION state with a new
// maildrop snapshot (RFC 1939 §4: the maildrop is locked and its messages
// numbered).
func (c *conn) login(user, pass string) error {
	acc, err := c.srv.authenticate(c.ctx, c.nc.RemoteAddr(), user, pass)
	if errors.Is(err, directory.ErrAuthFailed) {
		return c.loginFailed(user)
	}
	if err != nil {
		c.log.Error("authenticate", "user", user, "err", err)
		// RFC 3206 §4: [SYS/TEMP] is a passing failure of the server.
		return errorf("SYS/TEMP", "authentication is unavailable, try again later")
	}
	return c.loggedIn(acc)
}

// loginFailed answers bad credentials (after Options.AuthFailDelay) and
// ends the connection after maxAuthFailures.
func (c *conn) loginFailed(user string) error {
	c.authFailures++
	c.log.Info("authentication failed", "user", user, "mech", c.mech, "failures", c.authFailures)
	// A fixed delay slows down guessing; Shutdown cuts it short.
	if d := c.srv.opts.AuthFailDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
		}
	}
	// RFC 3206 §4: [AUTH] is a problem with the credentials.
	c.writeLine("-ERR [AUTH] authentication failed")
	if c.authFailures >= maxAuthFailures {
		c.writeLine("-ERR too many authentication failures, closing connection")
		return errClose
	}
	return nil
}

// loggedIn enters TRANSACTION state as acc.
func (c *conn) loggedIn(acc *store.Account) error {
	switch c.srv.beginSession(acc.ID, time.Now()) {
	case loginInUse:
		c.log.Info("maildrop in use", "user", acc.Address)
		// RFC 2449 §8.1.2
		return errorf("IN-USE", "maildrop is in use by another session")
	case loginTooSoon:
		c.log.Info("login too soon", "user", acc.Address)
		// RFC 2449 §8.1.1
		return errorf("LOGIN-DELAY", "wait %d seconds between logins", c.srv.opts.LoginDelay)
	}
	drop, err := c.srv.loadMaildrop(c.ctx, acc)
	if err != nil {
		c.srv.endSession(acc.ID)
		c.log.Error("load maildrop", "user", acc.Address, "err", err)
		if errors.Is(err, store.ErrNotFound) {
			// RFC 3206 §5: [SYS/PERM] is a failure that retrying will
			// not fix, here an account without its INBOX.
			return errorf("SYS/PERM", "the maildrop does not exist")
		}
		return errorf("SYS/TEMP", "cannot open the maildrop, try again later")
	}
	c.account, c.drop, c.state = acc, drop, stateTransaction
	c.mu.Lock()
	c.accountID = acc.ID
	c.mu.Unlock()
	if c.srv.st.Live().Deleted(acc.ID) {
		c.srv.EndAccount(acc.ID)
	}
	c.log = c.log.With("user", acc.Address)
	c.log.Info("logged in", "mech", c.mech, "messages", drop.count, "octets", drop.size)
	c.ok("maildrop has %d messages (%d octets)", drop.count, drop.size)
	return nil
}

// cmdCapa is CAPA (RFC 2449 §5).
func (c *conn) cmdCapa(args string) error {
	if args != "" {
		return badf("CAPA takes no argument")
	}
	c.ok("capability list follows")
	var mechs []string
	if c.state == stateAuthorization {
		mechs = c.saslMechanisms()
	}
	for _, l := range c.srv.capabilities(c.state == stateAuthorization, c.plaintext, c.stlsAvailable(), mechs) {
		c.bw.WriteString(l)
		c.bw.WriteString("\r\n")
	}
	c.endMultiline()
	return nil
}
