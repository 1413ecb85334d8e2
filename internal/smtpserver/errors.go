package smtpserver

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-smtp"

	"mailroom/internal/delivery"
)

func reply(code int, enhanced smtp.EnhancedCode, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: text}
}

// Replies of this package (RFC 5321 §4.2, RFC 3463 codes).
var (
	errTemporary       = fromDelivery(delivery.ErrTemporary) // 451 4.3.0, for every error that is not a *delivery.Error
	errTooBig          = fromDelivery(delivery.ErrTooBig)    // 552 5.3.4
	errNestedMail      = reply(503, smtp.EnhancedCode{5, 5, 1}, "Bad sequence of commands: transaction already started (RSET first)")
	errNoMail          = reply(503, smtp.EnhancedCode{5, 5, 1}, "Bad sequence of commands: send MAIL first")
	errNoRcpt          = reply(503, smtp.EnhancedCode{5, 5, 1}, "Bad sequence of commands: send RCPT first")
	errBadSender       = reply(501, smtp.EnhancedCode{5, 1, 7}, "Bad sender address syntax")
	errBadRcpt         = reply(501, smtp.EnhancedCode{5, 1, 3}, "Bad recipient address syntax")
	errSenderNeedsUTF8 = reply(553, smtp.EnhancedCode{5, 6, 7}, "Non-ASCII sender address needs the SMTPUTF8 parameter") // RFC 6531 §3.5
	errRcptNeedsUTF8   = reply(553, smtp.EnhancedCode{5, 6, 7}, "Non-ASCII recipient address needs the SMTPUTF8 parameter")
	errSizeExceeded    = reply(552, smtp.EnhancedCode{5, 3, 4}, "Message size exceeds fixed maximum message size") // RFC 1870 §6.2
	errShuttingDown    = reply(421, smtp.EnhancedCode{4, 3, 2}, "Service shutting down, closing transmission channel")
	errBadHelo         = reply(501, smtp.EnhancedCode{5, 5, 4}, "Invalid domain or address literal in EHLO/LHLO")
	errLineTooLong     = reply(554, smtp.EnhancedCode{5, 6, 0}, "Message has a line too long, closing connection")
	errReadTimeout     = reply(451, smtp.EnhancedCode{4, 4, 2}, "Timeout while receiving the message, closing connection")
)

// toReply maps an error from the Deliverer to the reply sent to the client.
// *delivery.Error (and *smtp.SMTPError) anywhere in err's chain is sent as
// it is, made safe; anything else becomes 451 4.3.0 with a generic text
// and internal is true: the caller logs err, the client never sees it.
func toReply(err error) (r *smtp.SMTPError, internal bool) {
	var de *delivery.Error
	if errors.As(err, &de) {
		if r := fromDelivery(de); r != nil {
			return r, false
		}
		return errTemporary, true
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if r := sanitize(se.Code, se.EnhancedCode, se.Message); r != nil {
			return r, false
		}
	}
	return errTemporary, true
}

func fromDelivery(e *delivery.Error) *smtp.SMTPError {
	return sanitize(e.Code, smtp.EnhancedCode(e.Enhanced), e.Text)
}

// sanitize returns a reply that cannot break the protocol: a failure code
// (4xx or 5xx; nil otherwise), an enhanced code of the same class (go-smtp
// makes up X.0.0 otherwise) and one line of printable text.
func sanitize(code int, enh smtp.EnhancedCode, text string) *smtp.SMTPError {
	if code < 400 || code > 599 {
		return nil
	}
	if enh[0] != code/100 || enh[1] < 0 || enh[1] > 999 || enh[2] < 0 || enh[2] > 999 {
		enh = smtp.EnhancedCodeNotSet
	}
	var b strings.Builder
	for _, r := range text {
		if r < ' ' || r == 0x7f || r == '\uFFFD' {
			r = ' '
		}
		b.WriteRune(r)
		if b.Len() > 400 {
			break
		}
	}
	msg := strings.TrimSpace(b.String())
	if msg == "" {
		if code < 500 {
			msg = "Temporary failure"
		} else {
			msg = "Permanent failure"
		}
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

// bodyErrReply is the reply when reading the message failed. Most often the
// client is gone and never reads it.
func bodyErrReply(err error) *smtp.SMTPError {
	var ne net.Error
	switch {
	case errors.Is(err, smtp.ErrTooLongLine):
		return errLineTooLong
	case errors.As(err, &ne) && ne.Timeout():
		return errReadTimeout
	default:
		return errTemporary
	}
}

// replyString formats a reply for the logs: "452 4.2.2 mailbox full".
func replyString(r *smtp.SMTPError) string {
	if r.EnhancedCode == smtp.EnhancedCodeNotSet || r.EnhancedCode == smtp.NoEnhancedCode {
		return fmt.Sprintf("%d %s", r.Code, r.Message)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
}
