// Package message parses an Internet message once, at delivery time, into a
// compact Structure from which the IMAP server later answers ENVELOPE,
// BODYSTRUCTURE (with extension data), BODY[section], BINARY.SIZE, PREVIEW and
// header searches without reading the MIME tree again.
//
// What is kept, and where it comes from:
//   - Byte offsets of every part's header and body in the stored file, for
//     nested multiparts and message/rfc822 at any depth, so that BODY[1.2],
//     BODY[1.2.MIME], BODY[2.HEADER] and so on are served by seeking. The line
//     break before a boundary delimiter belongs to the delimiter, not to the
//     preceding body (RFC 2046 §5.1.1). CRLF and bare LF line endings both work.
//   - The fields of the IMAP ENVELOPE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) taken
//     from the RFC 5322 header of the message and of every embedded
//     message/rfc822: raw, unfolded values (encoded words are kept as sent,
//     as IMAP requires); address lists parsed leniently into the IMAP address
//     structure, including the group syntax.
//   - The fields of BODYSTRUCTURE (RFC 3501 §7.4.2): media type and parameters
//     (RFC 2045 §5, with RFC 2231 continuations and charsets decoded),
//     Content-ID, Content-Description, Content-Transfer-Encoding (RFC 2045 §6),
//     body size and lines, and the extension data: Content-MD5 (RFC 1864),
//     Content-Disposition (RFC 2183), Content-Language (RFC 3282) and
//     Content-Location (RFC 2557).
//   - The size of every body after its transfer encoding is undone, for
//     BINARY.SIZE (RFC 3516). DecodeReader undoes the encoding the same way,
//     so BINARY[...] and BINARY.SIZE always agree.
//   - A preview of the message text (RFC 8970).
//
// Parse never fails on bad MIME; see Parse for the fallbacks and the limits
// that keep hostile input in bounded memory and time. DecodeHeader decodes
// RFC 2047 encoded words for search and display.
package message
