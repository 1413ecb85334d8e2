package sasl

import (
	"fmt"
	"unicode/utf8"
)

// LoginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login-00 §2): the server asks "Username:", then
// "Password:", and the client answers each in turn; an initial response is
// the user name. It only collects the credentials: when Next reports done,
// the caller checks them as it would a PLAIN login.
type LoginServer struct {
	step     int
	Username string
	Password string
}

// NewLoginServer returns a LOGIN exchange.
func NewLoginServer() *LoginServer { return &LoginServer{} }

var (
	loginUser = []byte("Username:")
	loginPass = []byte("Password:")
)

// Next implements Server.
func (l *LoginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return loginUser, false, nil
		}
		fallthrough
	case 1:
		if len(resp) == 0 || !utf8.Valid(resp) {
			return nil, false, fmt.Errorf("%w: LOGIN: bad user name", ErrMalformed)
		}
		l.Username = string(resp)
		l.step = 2
		return loginPass, false, nil
	case 2:
		if len(resp) == 0 {
			return nil, false, fmt.Errorf("%w: LOGIN: empty password", ErrMalformed)
		}
		l.Password = string(resp)
		l.step = 3
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("%w: LOGIN: exchange already complete", ErrMalformed)
}
