package managesieve

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestReadCommand(t *testing.T) {
	type result struct {
		name string
		args []token
		err  string // syntax error text, or "fatal: ..." / "eof"
	}
	tests := []struct {
		in   string
		want []result
	}{
		{"CAPABILITY\r\n", []result{{name: "CAPABILITY"}}},
		{"noop\n", []result{{name: "NOOP"}}},
		{`Putscript "a b" {5+}` + "\r\nkeep;\r\n", []result{{name: "PUTSCRIPT", args: []token{{s: "a b", isString: true}, {s: "keep;", isString: true}}}}},
		{"PUTSCRIPT {1}\r\nx {0}\r\n\r\n", []result{{name: "PUTSCRIPT", args: []token{{s: "x", isString: true}, {s: "", isString: true}}}}},
		{`HAVESPACE "x" 123` + "\r\n", []result{{name: "HAVESPACE", args: []token{{s: "x", isString: true}, {s: "123"}}}}},
		{`NOOP "\"\\"` + "\r\n", []result{{name: "NOOP", args: []token{{s: `"\`, isString: true}}}}},
		{"NOOP \"é\"\r\n", []result{{name: "NOOP", args: []token{{s: "é", isString: true}}}}},
		// Over the limit for a non-script string: skipped, marked.
		{"NOOP {65537+}\r\n" + strings.Repeat("x", 65537) + "\r\nLOGOUT\r\n", []result{
			{name: "NOOP", args: []token{{isString: true, tooBig: true}}},
			{name: "LOGOUT"},
		}},
		// Over the script limit (100).
		{"PUTSCRIPT \"s\" {101+}\r\n" + strings.Repeat("x", 101) + "\r\n", []result{
			{name: "PUTSCRIPT", args: []token{{s: "s", isString: true}, {isString: true, tooBig: true}}},
		}},
		{"CHECKSCRIPT {100+}\r\n" + strings.Repeat("x", 100) + "\r\n", []result{
			{name: "CHECKSCRIPT", args: []token{{s: strings.Repeat("x", 100), isString: true}}},
		}},
		{"\r\nNOOP\r\n", []result{{err: "Expected a command name"}, {name: "NOOP"}}},
		{"NOOP \"a\r\nNOOP\r\n", []result{{err: "NUL, CR or LF in a quoted string"}, {name: "NOOP"}}},
		{"NOOP \"a\x00\"\r\nNOOP\r\n", []result{{err: "NUL, CR or LF in a quoted string"}, {name: "NOOP"}}},
		{"NOOP {3+}x\r\nNOOP\r\n", []result{{err: "Literal length not followed by CRLF"}, {name: "NOOP"}}},
		{"NOOP {+}\r\nNOOP\r\n", []result{{err: "Malformed literal"}, {name: "NOOP"}}},
		// A bad command's trailing literal is skipped with it.
		{"X( {6+}\r\nNOOP\r\n\r\nNOOP\r\n", []result{{err: "Expected a space or the end of the line"}, {name: "NOOP"}}},
		{"NOOP {4294967296+}\r\n", []result{{err: "fatal: Literal too big"}}},
		{"NOOP {16777217+}\r\n", []result{{err: "fatal: Literal too big"}}},
		{"NOOP " + strings.Repeat("a", MaxLineLength), []result{{err: "fatal: Line too long"}}},
		{"NOOP {5+}\r\nabc", []result{{err: "eof"}}},
		{"NOOP", []result{{err: "eof"}}},
	}
	for _, tt := range tests {
		p := parser{r: bufio.NewReader(strings.NewReader(tt.in)), scriptLimit: 100}
		var got []result
		for range 5 {
			cmd, err := p.readCommand()
			var se syntaxError
			var fe *fatalError
			switch {
			case err == nil:
				r := result{name: cmd.name, args: cmd.args}
				if len(r.args) == 0 {
					r.args = nil
				}
				got = append(got, r)
				continue
			case errors.As(err, &se):
				got = append(got, result{err: string(se)})
				continue
			case errors.As(err, &fe):
				got = append(got, result{err: "fatal: " + fe.text})
			case errors.Is(err, io.EOF) && len(got) == len(tt.want):
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				got = append(got, result{err: "eof"})
			default:
				got = append(got, result{err: err.Error()})
			}
			break
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", abbrev(tt.in), got, tt.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"Ünïcödé", `"Ünïcödé"`},
		{"two\r\nlines", "{10}\r\ntwo\r\nlines"},
		{"nul\x00", "{4}\r\nnul\x00"},
		{"\xff", "{1}\r\n\xff"},
		{strings.Repeat("x", 1024), `"` + strings.Repeat("x", 1024) + `"`},
		{strings.Repeat("x", 1025), "{1025}\r\n" + strings.Repeat("x", 1025)},
	}
	for _, tt := range tests {
		if got := string(appendString(nil, tt.in)); got != tt.want {
			t.Errorf("appendString(%q) = %q, want %q", abbrev(tt.in), abbrev(got), abbrev(tt.want))
		}
	}
}

func TestAppendResponse(t *testing.T) {
	tests := []struct {
		r    response
		want string
	}{
		{response{status: "OK"}, "OK\r\n"},
		{response{status: "OK", text: "Done"}, "OK \"Done\"\r\n"},
		{no(codeQuotaSize, "too big"), "NO (QUOTA/MAXSIZE) \"too big\"\r\n"},
		{response{status: "OK", code: codeWithString("TAG", "x\"y")}, "OK (TAG \"x\\\"y\")\r\n"},
		{no("", "line 1\nline 2"), "NO {13}\r\nline 1\nline 2\r\n"},
		{response{status: "BYE", text: "bye"}, "BYE \"bye\"\r\n"},
	}
	for _, tt := range tests {
		if got := string(appendResponse(nil, tt.r)); got != tt.want {
			t.Errorf("appendResponse(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestToResponse(t *testing.T) {
	tests := []struct {
		err      error
		want     string
		internal bool
	}{
		{ErrNotFound, `NO (NONEXISTENT) "There is no script of that name"`, false},
		{wrap(ErrExists), `NO (ALREADYEXISTS) "A script of that name already exists"`, false},
		{ErrActive, `NO (ACTIVE) "The active script cannot be deleted"`, false},
		{ErrQuota, `NO (QUOTA) "Quota exceeded"`, false},
		{wrap(ErrQuotaSize), `NO (QUOTA/MAXSIZE) "Script size quota exceeded"`, false},
		{ErrQuotaCount, `NO (QUOTA/MAXSCRIPTS) "Too many scripts"`, false},
		{wrap(&ScriptError{Message: "line 3: bad"}), `NO "line 3: bad"`, false},
		{&ScriptError{}, `NO "Invalid script"`, false},
		{ErrAuthFailed, `NO "Authentication failed"`, false},
		{ErrAuthTooWeak, `NO (AUTH-TOO-WEAK) "Authentication mechanism too weak for this user"`, false},
		{errInternal, `NO (TRYLATER) "Internal error, try again later"`, true},
	}
	for _, tt := range tests {
		r, internal := toResponse(tt.err)
		if got := strings.TrimSuffix(string(appendResponse(nil, r)), "\r\n"); got != tt.want || internal != tt.internal {
			t.Errorf("toResponse(%v) = %s, %v; want %s, %v", tt.err, got, internal, tt.want, tt.internal)
		}
	}
}

type wrapped struct{ err error }

func (w wrapped) Error() string { return "store: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func wrap(err error) error { return wrapped{err} }
