package message

import "strings"

// Limits applied by Parse. Input beyond them is kept in the offsets (sizes
// and lines stay exact) but not broken down further; Structure.Truncated
// tells that one of them was reached.
const (
	// MaxDepth is the deepest nesting of parts: the top-level message is at
	// depth 0, the children of a multipart and the message inside a
	// message/rfc822 part are one deeper than it. A multipart or
	// message/rfc822 part at MaxDepth is kept as a leaf.
	MaxDepth = 50
	// MaxParts is the largest number of parts (Part values, counting the
	// top-level one and the root of every embedded message) in a Structure.
	// Once it is reached, the rest of each open multipart is not split
	// into parts.
	MaxParts = 10000
	// MaxHeaderValue is the most bytes of one header field that are looked
	// at; the rest of a longer field is skipped.
	MaxHeaderValue = 64 << 10
	// MaxMeta is the most bytes of strings (parameters, envelope fields,
	// addresses, ...) kept in one Structure. Past it, further strings are
	// dropped (left empty).
	MaxMeta = 4 << 20
	// MaxHeaderNames is the most distinct field names recorded in
	// Structure.HeaderNames.
	MaxHeaderNames = 256
	// PreviewRunes is the longest Structure.Preview, in characters.
	PreviewRunes = 200
)

// Structure is the parsed form of one message.
type Structure struct {
	// Size is the number of bytes of the message (RFC822.SIZE).
	Size int64 `json:"size"`
	// Envelope of the message (RFC 3501 §7.4.2 ENVELOPE).
	Envelope Envelope `json:"envelope"`
	// Root is the top-level part. Its header is the message header
	// (BODY[HEADER]) and its body the message text (BODY[TEXT]).
	Root Part `json:"root"`
	// Preview is the RFC 8970 preview: at most PreviewRunes characters from
	// the first text/plain part, or failing that the first text/html part
	// with the markup removed, that is not an attachment and not inside an
	// embedded message. The transfer encoding and the charset are decoded and
	// runs of white space collapsed to one space. Empty when there is no
	// such text.
	Preview string `json:"preview,omitempty"`
	// HeaderNames lists the distinct field names of the top-level header, in
	// lower case, in order of first appearance (at most MaxHeaderNames).
	// A header search for a field that is not listed matches nothing.
	HeaderNames []string `json:"header_names,omitempty"`
	// References is the raw value of the top-level References field
	// (RFC 5322 §3.6.4), unfolded and trimmed, for threading (RFC 5256
	// §2.2). It is empty for structures stored before it was recorded.
	References string `json:"references,omitempty"`
	// Truncated is true when a limit (MaxDepth, MaxParts, MaxMeta) was
	// reached while parsing.
	Truncated bool `json:"truncated,omitempty"`
}

// Envelope holds the fields of the IMAP ENVELOPE (RFC 3501 §7.4.2, RFC 9051
// §7.5.2). The string fields are the raw header values, unfolded, with
// leading and trailing white space removed; encoded words (RFC 2047) are kept
// as sent. An empty string or a nil list stands for NIL. For each field the
// first occurrence in the header is used.
type Envelope struct {
	Date    string    `json:"date,omitempty"`
	Subject string    `json:"subject,omitempty"`
	From    []Address `json:"from,omitempty"`
	// Sender and ReplyTo are set to a copy of From when the header field is
	// absent or empty, as RFC 3501 requires of the server.
	Sender    []Address `json:"sender,omitempty"`
	ReplyTo   []Address `json:"reply_to,omitempty"`
	To        []Address `json:"to,omitempty"`
	Cc        []Address `json:"cc,omitempty"`
	Bcc       []Address `json:"bcc,omitempty"`
	InReplyTo string    `json:"in_reply_to,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
}

// Address is one entry of an IMAP address list (RFC 3501 §7.4.2): a mailbox
// or, with the RFC 5322 group syntax, a group marker.
//
// For a mailbox, Mailbox and Host are never empty: a missing local part is
// "MISSING_MAILBOX" and a missing domain ".MISSING-HOST-NAME." (the
// conventions of the UW IMAP and Dovecot servers), so the encoder can write
// NIL for every empty string without producing a group marker by mistake.
// Name is the display name (or, failing that, the text of a comment), with
// quoted strings unquoted; Route is the obsolete source route, usually empty.
//
// A group is a start marker (GroupStart; Mailbox is the group name and is
// never empty; written as (NIL NIL "name" NIL)), its members, and an end
// marker (GroupEnd; every string empty; written as (NIL NIL NIL NIL)).
type Address struct {
	Name       string `json:"name,omitempty"`
	Route      string `json:"route,omitempty"`
	Mailbox    string `json:"mailbox,omitempty"`
	Host       string `json:"host,omitempty"`
	GroupStart bool   `json:"group_start,omitempty"`
	GroupEnd   bool   `json:"group_end,omitempty"`
}

// Part is one MIME entity. All offsets are from the start of the message
// file, also inside embedded messages.
//
// The header runs from Start for HeaderSize bytes, including the blank line
// that ends it (BODY[x.MIME], or BODY[x.HEADER] for an embedded message's
// root); the body from BodyStart for BodySize bytes (BODY[x]). BodyStart is
// always Start+HeaderSize. A header not ended by a blank line (cut off by a
// boundary delimiter or the end of the file) takes everything up to there and
// the body is empty.
type Part struct {
	Start      int64 `json:"start"`
	HeaderSize int64 `json:"header_size"`
	BodyStart  int64 `json:"body_start"`
	BodySize   int64 `json:"body_size"`
	// Lines is the number of lines of the body: the number of LF bytes in
	// it, plus one if it is not empty and does not end with LF. It is
	// computed for every part; IMAP reports it for text/* and message/rfc822.
	Lines int64 `json:"lines"`
	// DecodedSize is the size of the body once its transfer encoding
	// (base64 or quoted-printable) is undone by DecodeReader; for any other
	// encoding it is BodySize (RFC 3516 BINARY.SIZE).
	DecodedSize int64 `json:"decoded_size"`

	// Type and Subtype are in lower case. Without a valid Content-Type they
	// are text/plain with the parameter charset=us-ascii, or message/rfc822
	// for a child of multipart/digest (RFC 2045 §5.2, RFC 2046 §5.1.5).
	// A multipart whose children cannot be found (no boundary parameter,
	// delimiter never seen, or a limit) is turned into text/plain (without
	// parameters) covering its whole body, so that every multipart in a
	// Structure has at least one child.
	Type    string `json:"type"`
	Subtype string `json:"subtype"`
	// Params are the Content-Type parameters in order of appearance, names
	// in lower case, values unquoted; RFC 2231 continuations are joined and
	// RFC 2231 charsets converted to UTF-8 (the name loses its '*').
	// Values may so hold non-ASCII UTF-8 (also from raw 8-bit headers): an
	// encoder for a client without UTF8=ACCEPT may write such a value back
	// in RFC 2231 form (name*=utf-8''...). RFC 2047 encoded words in values
	// are kept as sent.
	Params [][2]string `json:"params,omitempty"`
	// ID, Description, MD5 and Location are the unfolded, trimmed values of
	// Content-ID, Content-Description, Content-MD5 and Content-Location.
	ID          string `json:"id,omitempty"`
	Description string `json:"description,omitempty"`
	// Encoding is the Content-Transfer-Encoding in lower case, "7bit" when
	// absent.
	Encoding string `json:"encoding"`
	MD5      string `json:"md5,omitempty"`
	// Disposition is the Content-Disposition value in lower case (empty when
	// absent); DispositionParams its parameters, decoded like Params.
	Disposition       string      `json:"disposition,omitempty"`
	DispositionParams [][2]string `json:"disposition_params,omitempty"`
	// Language lists the Content-Language tags.
	Language []string `json:"language,omitempty"`
	Location string   `json:"location,omitempty"`

	// Parts are the children of a multipart; never empty for a multipart.
	Parts []Part `json:"parts,omitempty"`
	// Message is the embedded message of a message/rfc822 (or
	// message/global) part. It is nil when the part was not parsed: it has a
	// transfer encoding other than 7bit, 8bit or binary, it is at MaxDepth,
	// MaxParts was reached, or it has no body. Such a part is to be written
	// in BODYSTRUCTURE as a basic body (as Dovecot does).
	Message *Embedded `json:"message,omitempty"`
}

// Embedded is the message inside a message/rfc822 part. Root starts where the
// enclosing part's body starts and ends where it ends.
type Embedded struct {
	Envelope Envelope `json:"envelope"`
	Root     Part     `json:"root"`
}

// End is the offset just past the body.
func (p *Part) End() int64 { return p.BodyStart + p.BodySize }

// IsMultipart reports whether p has children.
func (p *Part) IsMultipart() bool { return len(p.Parts) > 0 }

// IsMessage reports whether p is a parsed message/rfc822 part.
func (p *Part) IsMessage() bool { return p.Message != nil }

// Param returns the Content-Type parameter called name (case-insensitive).
func (p *Part) Param(name string) string { return param(p.Params, name) }

// DispositionParam returns the Content-Disposition parameter called name
// (case-insensitive).
func (p *Part) DispositionParam(name string) string { return param(p.DispositionParams, name) }

func param(ps [][2]string, name string) string {
	for _, kv := range ps {
		if strings.EqualFold(kv[0], name) {
			return kv[1]
		}
	}
	return ""
}

// Part returns the part at an IMAP section path such as [1 2 3] (RFC 3501
// §6.4.5, RFC 9051 §6.4.5); an empty path is the whole message (s.Root).
//
// Numbering: the children of a multipart are 1, 2, ...; a message (the
// top-level one or one embedded in a message/rfc822 part) that is not
// multipart has one part, 1, which is its body; the parts of a message/rfc822
// part are those of the message inside it. So for a non-multipart message
// Part([1]) returns s.Root, and for a message/rfc822 part at x, the result for
// x.1 is the embedded root when the embedded message is not multipart.
//
// The caller maps section texts to offsets thus: BODY[x] and BINARY[x] are
// the body of Part(x); BODY[x.MIME] is its header; for a message/rfc822 part
// m at x, BODY[x.HEADER] and BODY[x.TEXT] are the header and body of
// m.Message.Root; BODY[HEADER] and BODY[TEXT] are those of s.Root.
func (s *Structure) Part(path []int) (*Part, bool) {
	p := &s.Root
	msgRoot := true // p is the root of a message, numbered as such
	for i := 0; i < len(path); i++ {
		n := path[i]
		if n < 1 {
			return nil, false
		}
		switch {
		case len(p.Parts) > 0:
			if n > len(p.Parts) {
				return nil, false
			}
			p, msgRoot = &p.Parts[n-1], false
		case msgRoot:
			if n != 1 {
				return nil, false
			}
			msgRoot = false
		case p.Message != nil:
			// The parts of a message/rfc822 part are those of its message:
			// number n again, inside it.
			p, msgRoot = &p.Message.Root, true
			i--
		default:
			return nil, false
		}
	}
	return p, true
}
