package delivery

import (
	"fmt"
	"strings"
)

// Protocol names the road a message came in on; it appears in the Received
// header's "with" clause (RFC 3848).
type Protocol string

const (
	ProtoSMTP   Protocol = "ESMTP"
	ProtoSMTPS  Protocol = "ESMTPS"
	ProtoLMTP   Protocol = "LMTP"
	ProtoLMTPS  Protocol = "LMTPS"
	ProtoLocal  Protocol = "local"
	ProtoUTF8   Protocol = "UTF8SMTP" // SMTPUTF8 sessions (RFC 6531 §3.7.4)
	ProtoUTF8S  Protocol = "UTF8SMTPS"
	ProtoUTF8LM Protocol = "UTF8LMTP"
)

// Envelope is what the transport knows about a message besides its bytes.
type Envelope struct {
	From       string   // reverse-path without brackets; "" for the null sender
	Recipients []string // forward-paths without brackets, as given by the client
	Protocol   Protocol
	Helo       string // client's EHLO/LHLO name; "" for local delivery
	RemoteAddr string // "ip:port"; "" for local delivery
	ID         string // transport's id for this transaction, used in Received and logs
	SMTPUTF8   bool
}

// Error is a delivery failure with its SMTP reply code and enhanced status
// code (RFC 3463). Transports send it as it is; `deliver` maps it to a
// sysexits code.
type Error struct {
	Code     int    // 452, 550, 552, 554…
	Enhanced [3]int // {4,2,2}
	Text     string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Text)
}

// Temporary reports whether the sender should retry later (4xx).
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// Errorf builds an Error.
func Errorf(code int, enhanced [3]int, format string, args ...any) *Error {
	return &Error{Code: code, Enhanced: enhanced, Text: strings.TrimSpace(fmt.Sprintf(format, args...))}
}

// Common replies.
var (
	ErrNoSuchUser      = &Error{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "no such user here"}
	ErrRelayDenied     = &Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "relaying denied: not a local domain"}
	ErrBadAddress      = &Error{Code: 501, Enhanced: [3]int{5, 1, 3}, Text: "bad address syntax"}
	ErrMailboxFullTemp = &Error{Code: 452, Enhanced: [3]int{4, 2, 2}, Text: "mailbox full"}
	ErrMailboxFullPerm = &Error{Code: 552, Enhanced: [3]int{5, 2, 2}, Text: "mailbox full"}
	ErrTooBig          = &Error{Code: 552, Enhanced: [3]int{5, 3, 4}, Text: "message too big"}
	ErrTemporary       = &Error{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "temporary failure, try again later"}
	ErrNoSpace         = &Error{Code: 452, Enhanced: [3]int{4, 3, 1}, Text: "server disk full, try again later"}
	ErrMalformed       = &Error{Code: 554, Enhanced: [3]int{5, 6, 0}, Text: "malformed message"}
)
