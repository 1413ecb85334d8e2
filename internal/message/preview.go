package message

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// capture collects the first bytes of a body (transfer encoding undone) for
// the preview.
type capture struct {
	html    bool
	charset string
	buf     []byte
	limit   int
	full    bool // bytes were dropped
}

func (c *capture) write(b []byte) {
	room := c.limit - len(c.buf)
	if len(b) > room {
		b = b[:max(room, 0)]
		c.full = true
	}
	c.buf = append(c.buf, b...)
}

// preview makes the RFC 8970 preview text: charset converted to UTF-8,
// markup removed from HTML, white space collapsed, invisible characters
// dropped, cut to PreviewRunes characters.
func (c *capture) preview() string {
	if c.html {
		return collapse(stripHTML(c.text(c.buf, c.full)), PreviewRunes)
	}
	// Plain text: convert a prefix, longer until it gives enough
	// characters.
	for n := 1024; ; n *= 4 {
		if n >= len(c.buf) {
			return collapse(c.text(c.buf, c.full), PreviewRunes)
		}
		if p := collapse(c.text(c.buf[:n], true), PreviewRunes+1); utf8.RuneCountInString(p) > PreviewRunes {
			return collapse(p, PreviewRunes)
		}
	}
}

// text converts b to UTF-8; cut tells that b may end inside a character.
func (c *capture) text(b []byte, cut bool) string {
	t := toUTF8(c.charset, b)
	if cut {
		t = strings.TrimRight(t, "\uFFFD")
	}
	return t
}

// collapse replaces runs of white space and control characters with one
// space, drops format characters (zero-width spaces, soft hyphens, byte order
// marks, ...) and keeps at most n characters.
func collapse(s string, n int) string {
	var sb strings.Builder
	count := 0
	space := false
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Cf, r) || r == '\u034f':
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = true
			continue
		}
		if space && count > 0 {
			if count+1 >= n {
				break
			}
			sb.WriteByte(' ')
			count++
		}
		space = false
		if count >= n {
			break
		}
		sb.WriteRune(r)
		count++
	}
	return sb.String()
}

// stripHTML removes the markup from HTML text: tags, comments, and the
// content of script, style, head and title elements; block elements become
// spaces; character references are decoded.
func stripHTML(s string) string {
	var sb strings.Builder
	unclosed := map[string]bool{}
	i := 0
	for i < len(s) {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			sb.WriteString(s[i:])
			break
		}
		sb.WriteString(s[i : i+lt])
		i += lt
		if strings.HasPrefix(s[i:], "<!--") {
			end := strings.Index(s[i+4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			continue
		}
		j := i + 1
		closing := j < len(s) && s[j] == '/'
		if closing {
			j++
		}
		k := j
		for k < len(s) && isAlnum(s[k]) {
			k++
		}
		name := asciiLower(s[j:k])
		if name == "" && (closing || j >= len(s) || (s[j] != '!' && s[j] != '?')) {
			// Not a tag: a '<' in text.
			sb.WriteByte('<')
			i++
			continue
		}
		i = tagEnd(s, k)
		if !closing {
			switch name {
			case "script", "style", "head", "title":
				if unclosed[name] {
					break
				}
				end := indexFold(s[i:], "</"+name)
				switch {
				case end >= 0:
					i += end
				case name == "script" || name == "style":
					i = len(s)
				default:
					// Not closed: keep the text, and do not look again.
					unclosed[name] = true
				}
			}
		}
		if blockTag(name) {
			sb.WriteByte(' ')
		}
	}
	return html.UnescapeString(sb.String())
}

// tagEnd returns the offset just past the '>' that ends the tag whose
// attributes start at s[i], skipping quoted attribute values.
func tagEnd(s string, i int) int {
	var quote byte
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i + 1
		}
	}
	return len(s)
}

func blockTag(name string) bool {
	switch name {
	case "br", "p", "div", "tr", "td", "th", "li", "ul", "ol", "table", "tbody",
		"thead", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "blockquote", "pre",
		"section", "article", "header", "footer", "body", "html", "center", "dd", "dt", "dl":
		return true
	}
	return false
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// asciiLower lower-cases ASCII letters only, keeping the length.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// indexFold is strings.Index ignoring ASCII case; sub is lower case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := strings.IndexByte(s[i:], sub[0])
		if j < 0 {
			return -1
		}
		i += j
		if i+len(sub) > len(s) {
			return -1
		}
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
