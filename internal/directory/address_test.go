package directory

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAddressValid(t *testing.T) {
	long64 := strings.Repeat("a", 64)
	tests := []struct {
		in            string
		local, domain string
		str           string // canonical String(); "" means in
	}{
		{"alice@example.org", "alice", "example.org", ""},
		{"Alice@EXAMPLE.Org", "Alice", "example.org", "Alice@example.org"},
		{`"alice"@example.org`, "alice", "example.org", "alice@example.org"},
		{`"al.ice"@example.org`, "al.ice", "example.org", "al.ice@example.org"},
		{`"john smith"@example.org`, "john smith", "example.org", ""},
		{`"a\"b"@example.org`, `a"b`, "example.org", ""},
		{`"a\\b"@example.org`, `a\b`, "example.org", ""},
		{`"\a\b"@example.org`, `ab`, "example.org", "ab@example.org"},
		{`"a@b"@example.org`, "a@b", "example.org", ""},
		{`"a..b"@example.org`, "a..b", "example.org", ""},
		{`".a"@example.org`, ".a", "example.org", ""},
		{"alice+tag@example.org", "alice+tag", "example.org", ""},
		{"first.last@example.org", "first.last", "example.org", ""},
		{"!#$%&'*+-/=?^_`{|}~@example.org", "!#$%&'*+-/=?^_`{|}~", "example.org", ""},
		{"a@localhost", "a", "localhost", ""},
		{"a@b-c.example", "a", "b-c.example", ""},
		{"a@123.example", "a", "123.example", ""},
		{long64 + "@example.org", long64, "example.org", ""},
		// SMTPUTF8 (RFC 6531) and IDN.
		{"用户@例子.广告", "用户", "例子.广告", ""},
		{"jörg@MÜNCHEN.de", "jörg", "münchen.de", "jörg@münchen.de"},
		{"a@xn--mnchen-3ya.de", "a", "münchen.de", "a@münchen.de"},
		{"a@XN--MNCHEN-3YA.DE", "a", "münchen.de", "a@münchen.de"},
		{"a@mu\u0308nchen.de", "a", "münchen.de", "a@münchen.de"}, // NFD → NFC
		{"a@例子。广告", "a", "例子.广告", "a@例子.广告"},
		{`"jörg müller"@example.org`, "jörg müller", "example.org", ""},
		// Address literals.
		{"a@[192.0.2.1]", "a", "[192.0.2.1]", ""},
		{"a@[IPv6:2001:DB8::1]", "a", "[IPv6:2001:db8::1]", "a@[IPv6:2001:db8::1]"},
		{"a@[ipv6:2001:db8:0:0:0:0:0:1]", "a", "[IPv6:2001:db8::1]", "a@[IPv6:2001:db8::1]"},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.in)
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", tt.in, err)
			continue
		}
		if a.Local != tt.local || a.Domain != tt.domain {
			t.Errorf("ParseAddress(%q) = %q @ %q, want %q @ %q", tt.in, a.Local, a.Domain, tt.local, tt.domain)
		}
		want := tt.str
		if want == "" {
			want = tt.in
		}
		if a.String() != want {
			t.Errorf("ParseAddress(%q).String() = %q, want %q", tt.in, a.String(), want)
		}
		// The canonical form parses to the same address.
		b, err := ParseAddress(a.String())
		if err != nil || b != a {
			t.Errorf("ParseAddress(%q) = %+v, %v; want %+v", a.String(), b, err, a)
		}
	}
}

func TestParseAddressInvalid(t *testing.T) {
	label63 := strings.Repeat("d", 63)
	tests := []struct {
		in, why string
	}{
		{"", "empty address"},
		{"alice", "missing @"},
		{"@example.org", "empty local part"},
		{`""@example.org`, "empty local part"},
		{"alice@", "empty domain"},
		{"<alice@example.org>", "angle brackets"},
		{"al ice@example.org", "space in local part"},
		{" alice@example.org", "space in local part"},
		{"a\u00a0b@example.org", "space in local part"},
		{"alice@example.org ", "space in domain"},
		{"alice@exa mple.org", "space in domain"},
		{"al\x01ice@example.org", "control character"},
		{"alice\r\n@example.org", "control character"},
		{"alice@example.org\r\n", "control character"},
		{"\"al\x01ice\"@example.org", "control character"},
		{"a\xff@example.org", "UTF-8"},
		{`"alice@example.org`, "unbalanced quote"},
		{`"alice\"@example.org`, "unbalanced quote"},
		{`al"ice@example.org`, "unbalanced quote"},
		{`alice"@example.org`, "unbalanced quote"},
		{`"a"b@example.org`, "after quoted local part"},
		{`"a"`, "missing @domain"},
		{"a..b@example.org", `".."`},
		{".a@example.org", "starts with a dot"},
		{"a.@example.org", "ends with a dot"},
		{"a(b)@example.org", "not allowed"},
		{"a@b@example.org", "more than one @"},
		{"a@exa_mple.org", "not allowed in a domain"},
		{"a@-example.org", "hyphen"},
		{"a@example-.org", "hyphen"},
		{"a@example..org", "empty label"},
		{"a@.example.org", "empty label"},
		{"a@example.org.", "ends with a dot"},
		{"a@☃.net", "not allowed in a domain"},
		{"a@exam\u00a0ple.org", "not allowed in a domain"},
		{"a@\u0301x.org", "combining mark"},
		{"a@xn--.org", "IDNA"},
		{"a@xn--abc-.org", "IDNA"},
		{"a@xn--mnchen-3y!.de", "IDNA"},
		{"a@[1.2.3]", "IPv4"},
		{"a@[1.2.3.4", "closing"},
		{"a@[01.2.3.4]", "IPv4"},
		{"a@[IPv6:1.2.3.4]", "IPv6"},
		{"a@[IPv6:fe80::1%eth0]", "IPv6"},
		{"a@[tag:foo]", "unsupported address literal"},
		{strings.Repeat("a", 65) + "@example.org", "longer than 64"},
		{`"` + strings.Repeat("a", 62) + ` "@example.org`, "longer than 64"}, // 65 with quotes
		{"a@" + strings.Repeat("d", 64) + ".org", "longer than 63"},
		{"a@" + strings.Repeat("aü", 30) + ".de", "longer than 63"},
		{"a@" + strings.Repeat(label63+".", 4) + "org", "domain longer than 255"},
		{strings.Repeat("a", 64) + "@" + label63 + "." + label63 + "." + label63, "address longer than 254"},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.in)
		if err == nil {
			t.Errorf("ParseAddress(%q) = %+v, want error %q", tt.in, a, tt.why)
			continue
		}
		if !errors.Is(err, ErrBadAddress) {
			t.Errorf("ParseAddress(%q) error %v does not match ErrBadAddress", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.why) {
			t.Errorf("ParseAddress(%q) error %q, want it to mention %q", tt.in, err, tt.why)
		}
	}
}

func TestParseDomain(t *testing.T) {
	good := map[string]string{
		"Example.ORG":       "example.org",
		"xn--mnchen-3ya.de": "münchen.de",
		"MÜNCHEN.DE":        "münchen.de",
		"localhost":         "localhost",
	}
	for in, want := range good {
		got, err := ParseDomain(in)
		if err != nil || got != want {
			t.Errorf("ParseDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "[192.0.2.1]", "a b.org", "a..org", "a@b.org", "-a.org", "\xff.org"} {
		if got, err := ParseDomain(in); err == nil || !errors.Is(err, ErrBadAddress) {
			t.Errorf("ParseDomain(%q) = %q, %v; want ErrBadAddress", in, got, err)
		}
	}
}

func TestDomainToASCII(t *testing.T) {
	tests := map[string]string{
		"münchen.de":        "xn--mnchen-3ya.de",
		"example.org":       "example.org",
		"例子.广告":             "xn--fsqu00a.xn--4rr70v",
		"[192.0.2.1]":       "[192.0.2.1]",
		"bücher.münchen.de": "xn--bcher-kva.xn--mnchen-3ya.de",
	}
	for in, want := range tests {
		got, err := DomainToASCII(in)
		if err != nil || got != want {
			t.Errorf("DomainToASCII(%q) = %q, %v; want %q", in, got, err, want)
		}
		if !strings.HasPrefix(in, "[") {
			back, err := ParseDomain(got)
			if err != nil || back != in {
				t.Errorf("ParseDomain(%q) = %q, %v; want %q", got, back, err, in)
			}
		}
	}
}

// Sample strings from RFC 3492 §7.1.
func TestPunycode(t *testing.T) {
	tests := []struct {
		decoded, encoded string
	}{
		{"\u0644\u064A\u0647\u0645\u0627\u0628\u062A\u0643\u0644\u0645\u0648\u0634\u0639\u0631\u0628\u064A\u061F", "egbpdaj6bu4bxfgehfvwxn"},
		{"\u4ED6\u4EEC\u4E3A\u4EC0\u4E48\u4E0D\u8BF4\u4E2D\u6587", "ihqwcrb4cv8a8dqg056pqjye"},
		{"\u0033\u5E74\u0042\u7D44\u91D1\u516B\u5148\u751F", "3B-ww4c5e180e575a65lsy2b"},
		{"Porqu\u00e9nopuedensimplementehablarenEspa\u00f1ol", "PorqunopuedensimplementehablarenEspaol-fmd56a"},
		{"\u305D\u306E\u30B9\u30D4\u30FC\u30C9\u3067", "d9juau41awczczp"},
		{"münchen", "mnchen-3ya"},
		{"bücher", "bcher-kva"},
	}
	for _, tt := range tests {
		enc, err := punyEncode(tt.decoded)
		if err != nil || enc != tt.encoded {
			t.Errorf("punyEncode(%q) = %q, %v; want %q", tt.decoded, enc, err, tt.encoded)
		}
		dec, err := punyDecode(tt.encoded)
		if err != nil || dec != tt.decoded {
			t.Errorf("punyDecode(%q) = %q, %v; want %q", tt.encoded, dec, err, tt.decoded)
		}
	}
	for _, bad := range []string{"abc-!", "9999999999a", "ü-abc"} {
		if dec, err := punyDecode(bad); err == nil {
			t.Errorf("punyDecode(%q) = %q, want error", bad, dec)
		}
	}
}

func TestSplitDetail(t *testing.T) {
	tests := []struct {
		local, delims, user, detail string
	}{
		{"alice+tag", "+", "alice", "tag"},
		{"alice", "+", "alice", ""},
		{"+tag", "+", "+tag", ""},
		{"alice+", "+", "alice", ""},
		{"alice+a+b", "+", "alice", "a+b"},
		{"alice-tag", "+", "alice-tag", ""},
		{"alice-tag", "+-", "alice", "tag"},
		{"alice-x+y", "+-", "alice", "x+y"},
		{"alice+x-y", "+-", "alice", "x-y"},
		{"alice+tag", "", "alice+tag", ""},
		{"jörg§tag", "§", "jörg", "tag"},
	}
	for _, tt := range tests {
		u, d := SplitDetail(tt.local, tt.delims)
		if u != tt.user || d != tt.detail {
			t.Errorf("SplitDetail(%q, %q) = %q, %q; want %q, %q", tt.local, tt.delims, u, d, tt.user, tt.detail)
		}
	}
	dir := New(newMemStore(), Options{RecipientDelimiter: "+"})
	if u, d := dir.SplitDetail("bob+x"); u != "bob" || d != "x" {
		t.Errorf("Directory.SplitDetail = %q, %q", u, d)
	}
}

// Every spelling of one account gives one login key.
func TestLoginKey(t *testing.T) {
	for _, u := range []string{"bob@example.test", `"bob"@example.test`, `"b\ob"@example.test`, "BOB@Example.TEST",
		"bob@example\u3002test", "bob@example\uff0etest"} {
		if k := LoginKey(u); k != "bob@example.test" {
			t.Errorf("LoginKey(%q) = %q", u, k)
		}
	}
	if k := LoginKey("not an address"); k != "not an address" {
		t.Errorf("LoginKey of a non-address = %q", k)
	}
}
