package managesieve

import (
	"net"
	"strings"
	"testing"
)

// step sends one command (CRLF is added) and expects a response of want's
// lines. An empty send only reads.
type step struct {
	send string
	want []string
}

// emptyLine as a step's send sends an empty line.
const emptyLine = "\x00empty"

type transcript struct {
	name  string
	opts  Options
	setup func(b *fakeBackend)
	login string // log in as this user (password from the fake) first
	steps []step
	// closed: the server closes the connection after the last step.
	closed bool
}

var passwords = map[string]string{"alice": "secret", "bob": "hunter2", "flaky": "flaky"}

// Capability responses of a server with default test options.
var (
	capsPreAuth = []string{
		`"IMPLEMENTATION" "mailroom"`,
		`"SASL" "PLAIN LOGIN"`,
		`"SIEVE" "fileinto vacation envelope"`,
		`"UNAUTHENTICATE"`,
		`"VERSION" "1.0"`,
	}
	capsAlice = []string{
		`"IMPLEMENTATION" "mailroom"`,
		`"SASL" "PLAIN LOGIN"`,
		`"SIEVE" "fileinto vacation envelope"`,
		`"OWNER" "alice"`,
		`"UNAUTHENTICATE"`,
		`"VERSION" "1.0"`,
	}
)

func lines(a []string, more ...string) []string {
	return append(append([]string(nil), a...), more...)
}

func w(l ...string) []string { return l }

const (
	respLogInFirst = `NO "Log in first"`
	respOK         = `OK`
)

func aliceScripts(b *fakeBackend) {
	b.put("alice", "main", "keep;\r\n", true)
	b.put("alice", "vacation", "require \"vacation\";\r\nvacation \"away\";\r\n", false)
}

// nonAuthTranscripts are sessions before login.
func nonAuthTranscripts() []transcript {
	return []transcript{
		{name: "greeting and capability", steps: []step{
			{"", lines(capsPreAuth, `OK "sieve.example.org ManageSieve ready"`)},
			{"CAPABILITY", lines(capsPreAuth, `OK`)},
			{"capability", lines(capsPreAuth, `OK`)},
			{"LOGOUT", w(`OK "Logout completed"`)},
		}, closed: true},
		{name: "capability extras", opts: Options{MaxRedirects: 4}, steps: []step{
			{"CAPABILITY", w(
				`"IMPLEMENTATION" "mailroom"`,
				`"SASL" "PLAIN LOGIN"`,
				`"SIEVE" "fileinto vacation envelope"`,
				`"MAXREDIRECTS" "4"`,
				`"UNAUTHENTICATE"`,
				`"VERSION" "1.0"`,
				`OK`)},
		}},
		{name: "noop", steps: []step{
			{"NOOP", w(`OK "Done"`)},
			{`NOOP "STARTTLS-SYNC-42"`, w(`OK (TAG "STARTTLS-SYNC-42") "Done"`)},
			{`NOOP ` + lit("a \"b\" \\c"), w(`OK (TAG "a \"b\" \\c") "Done"`)},
			{`NOOP ` + lit("two\r\nlines"), w(`OK (TAG {10}`, `two`, `lines) "Done"`)},
			{`NOOP "a" "b"`, w(`NO "Wrong number of arguments"`)},
			{`NOOP tag`, w(`NO "Arguments must be quoted strings or literals"`)},
		}},
		{name: "authenticated commands refused", steps: []step{
			{`LISTSCRIPTS`, w(respLogInFirst)},
			{`PUTSCRIPT "a" "keep;"`, w(respLogInFirst)},
			{`CHECKSCRIPT "keep;"`, w(respLogInFirst)},
			{`SETACTIVE "a"`, w(respLogInFirst)},
			{`GETSCRIPT "a"`, w(respLogInFirst)},
			{`DELETESCRIPT "a"`, w(respLogInFirst)},
			{`RENAMESCRIPT "a" "b"`, w(respLogInFirst)},
			{`HAVESPACE "a" 10`, w(respLogInFirst)},
			{`UNAUTHENTICATE`, w(respLogInFirst)},
		}},
		{name: "unknown and malformed commands", steps: []step{
			{`FOO`, w(`NO "Unknown command"`)},
			{`SELECT "INBOX"`, w(`NO "Unknown command"`)},
			{`"CAPABILITY"`, w(`NO "Syntax error: Expected a command name"`)},
			{emptyLine, w(`NO "Syntax error: Expected a command name"`)},
			{`NOOP "unterminated`, w(`NO "Syntax error: NUL, CR or LF in a quoted string"`)},
			{`NOOP "bad \x escape"`, w(`NO "Syntax error: Only \\\" and \\\\ may be escaped in a quoted string"`)},
		}},
		{name: "malformed commands", steps: []step{
			{`NOOP  "two spaces"`, w(`NO "Syntax error: Expected a string"`)},
			{`NOOP "x"junk`, w(`NO "Syntax error: Expected a space or the end of the line"`)},
			{"NOOP \"\xff\"", w(`NO "Syntax error: Quoted string is not valid UTF-8"`)},
			{"NOOP \"a\"\rX", w(`NO "Syntax error: CR not followed by LF"`)},
			{`NOOP {x+}`, w(`NO "Syntax error: Malformed literal"`)},
			// The literal announced by a bad command is skipped, not
			// taken for commands.
			{"FOO {14+}\r\nLOGOUT\r\nLOGOUT", w(`NO "Unknown command"`)},
			{"NOOP \"x\" junk {8+}\r\nLOGOUT\r\n more", w(`NO "Wrong number of arguments"`)},
			{`NOOP "still here"`, w(`OK (TAG "still here") "Done"`)},
		}},
		{name: "too many bad commands", steps: []step{
			{`A`, w(`NO "Unknown command"`)},
			{`B`, w(`NO "Unknown command"`)},
			{`C`, w(`NO "Unknown command"`)},
			{`D`, w(`NO "Unknown command"`)},
			{`E`, w(`NO "Unknown command"`)},
			{`F`, w(`NO "Unknown command"`)},
			{`G`, w(`NO "Unknown command"`)},
			{`H`, w(`NO "Unknown command"`)},
			{`I`, w(`NO "Unknown command"`)},
			{`J`, w(`NO "Unknown command"`, `BYE "Too many bad commands"`)},
		}, closed: true},
		{name: "authenticate with initial response", steps: []step{
			{`AUTHENTICATE "PLAIN" "` + plain("", "alice", "secret") + `"`, w(`OK "Logged in"`)},
			{`CAPABILITY`, lines(capsAlice, `OK`)},
		}},
		{name: "authenticate lower case, literal, authzid", steps: []step{
			{`authenticate "plain" ` + lit(plain("Alice", "Alice", "secret")), w(`OK "Logged in"`)},
			{`CAPABILITY`, lines(capsAlice, `OK`)},
		}},
		{name: "authenticate with continuation", steps: []step{
			{`AUTHENTICATE "PLAIN"`, w(`""`)},
			{`"` + plain("", "alice", "secret") + `"`, w(`OK "Logged in"`)},
			{`LISTSCRIPTS`, w(`OK`)},
		}},
		{name: "authenticate with literal continuation", steps: []step{
			{`AUTHENTICATE "PLAIN"`, w(`""`)},
			{lit(plain("", "bob", "hunter2")), w(`OK "Logged in"`)},
		}},
		{name: "authenticate aborted", steps: []step{
			{`AUTHENTICATE "PLAIN"`, w(`""`)},
			{`"*"`, w(`NO "Authentication aborted"`)},
			{`AUTHENTICATE "PLAIN"`, w(`""`)},
			{`junk`, w(`NO "Syntax error in SASL response: Expected one string"`)},
			{`AUTHENTICATE "PLAIN"`, w(`""`)},
			{`"not base64!"`, w(`NO "Invalid base64 in SASL response"`)},
			{`LISTSCRIPTS`, w(respLogInFirst)},
		}},
		{name: "authenticate errors", steps: []step{
			{`AUTHENTICATE "CRAM-MD5"`, w(`NO "Unsupported SASL mechanism"`)},
			{`AUTHENTICATE PLAIN`, w(`NO "Arguments must be quoted strings or literals"`)},
			{`AUTHENTICATE`, w(`NO "Wrong number of arguments"`)},
			{`AUTHENTICATE "PLAIN" "%%%"`, w(`NO "Invalid base64 in SASL response"`)},
			{`AUTHENTICATE "PLAIN" ""`, w(`NO "Malformed SASL message"`)},
			{`AUTHENTICATE "PLAIN" "` + plain("bob", "alice", "secret") + `"`, w(`NO "Authorization identity not allowed"`)},
			{`AUTHENTICATE "PLAIN" "` + plain("", "broken", "x") + `"`, w(`NO (TRYLATER) "Internal error, try again later"`)},
			{`LISTSCRIPTS`, w(respLogInFirst)},
			// Malformed and refused logins count as failed ones.
			{`AUTHENTICATE "PLAIN" "` + plain("", "weak", "x") + `"`, w(`NO (AUTH-TOO-WEAK) "Authentication mechanism too weak for this user"`, `BYE "Too many failed logins"`)},
		}, closed: true},
		{name: "authenticate failures end the connection", steps: []step{
			{`AUTHENTICATE "PLAIN" "` + plain("", "alice", "wrong") + `"`, w(`NO "Authentication failed"`)},
			{`AUTHENTICATE "PLAIN" "` + plain("", "nobody", "secret") + `"`, w(`NO "Authentication failed"`)},
			{`AUTHENTICATE "PLAIN"`, w(`""`)},
			{`"` + plain("", "alice", "wrong") + `"`, w(`NO "Authentication failed"`, `BYE "Too many failed logins"`)},
		}, closed: true},
		{name: "plaintext refused", opts: Options{AllowPlaintext: func(net.Addr) bool { return false }}, steps: []step{
			{`AUTHENTICATE "PLAIN" "` + plain("", "alice", "secret") + `"`, w(`NO (ENCRYPT-NEEDED) "Use STARTTLS before logging in with a password"`)},
		}},
		{name: "plaintext allowed by address", opts: Options{AllowPlaintext: func(a net.Addr) bool { return strings.HasPrefix(a.String(), "127.0.0.1:") }}, steps: []step{
			{`AUTHENTICATE "PLAIN" "` + plain("", "alice", "secret") + `"`, w(`OK "Logged in"`)},
		}},
		{name: "starttls unavailable", steps: []step{
			{`STARTTLS`, w(`NO "STARTTLS is not available"`)},
			{`STARTTLS "x"`, w(`NO "Wrong number of arguments"`)},
		}},
		{name: "logout with arguments", steps: []step{
			{`LOGOUT "now"`, w(`NO "Wrong number of arguments"`)},
			{`LOGOUT`, w(`OK "Logout completed"`)},
		}, closed: true},
	}
}

var longName = strings.Repeat("n", MaxNameLength+1)

// authTranscripts are sessions of alice (or flaky), logged in first.
func authTranscripts() []transcript {
	return []transcript{
		{name: "listscripts", login: "alice", setup: aliceScripts, steps: []step{
			{`LISTSCRIPTS`, w(`"main" ACTIVE`, `"vacation"`, `OK`)},
			{`listscripts`, w(`"main" ACTIVE`, `"vacation"`, `OK`)},
			{`LISTSCRIPTS "x"`, w(`NO "Wrong number of arguments"`)},
		}},
		{name: "listscripts empty and odd names", login: "alice", steps: []step{
			{`LISTSCRIPTS`, w(`OK`)},
			{`PUTSCRIPT "a \"quoted\" \\ name" "keep;"`, w(`OK`)},
			{`PUTSCRIPT "Ünïcödé ✓" "keep;"`, w(`OK`)},
			{`LISTSCRIPTS`, w(`"a \"quoted\" \\ name"`, `"Ünïcödé ✓"`, `OK`)},
		}},
		{name: "putscript forms", login: "alice", steps: []step{
			{`PUTSCRIPT "q" "keep;"`, w(`OK`)},
			{`PUTSCRIPT "l" ` + lit("require \"fileinto\";\r\nfileinto \"Spam\";\r\n"), w(`OK`)},
			// "{n}" without "+" is read the same way, with no wait.
			{"PUTSCRIPT \"s\" {5}\r\nkeep;", w(`OK`)},
			{`GETSCRIPT "l"`, w(`{39}`, `require "fileinto";`, `fileinto "Spam";`, ``, `OK`)},
			{`GETSCRIPT "s"`, w(`{5}`, `keep;`, `OK`)},
			// Replacing keeps the script and its name.
			{`PUTSCRIPT "q" "discard;"`, w(`OK`)},
			{`GETSCRIPT "q"`, w(`{8}`, `discard;`, `OK`)},
			{`LISTSCRIPTS`, w(`"l"`, `"q"`, `"s"`, `OK`)},
		}},
		{name: "putscript checks", login: "alice", opts: Options{MaxScriptSize: 1000}, steps: []step{
			{`PUTSCRIPT "w" "warn;"`, w(`OK (WARNINGS) "line 1: warning: \"warn\" is deprecated"`)},
			{`PUTSCRIPT "e" "error;"`, w(`NO "line 2: unknown test \"error\""`)},
			{`PUTSCRIPT "e" "errors;"`, w(`NO {56}`, `line 1: unknown command "foo"`, `line 2: missing semicolon`)},
			{`PUTSCRIPT "big" ` + lit(strings.Repeat("#", 600)), w(`NO (QUOTA/MAXSIZE) "Script size quota exceeded"`)},
			{`PUTSCRIPT "huge" ` + lit(strings.Repeat("#", 1001)), w(`NO (QUOTA/MAXSIZE) "Script larger than the limit of 1000 octets"`)},
			{`PUTSCRIPT "two" "keep;"`, w(`OK`)},
			{`PUTSCRIPT "three" "keep;"`, w(`OK`)},
			{`PUTSCRIPT "four" "keep;"`, w(`NO (QUOTA/MAXSCRIPTS) "Too many scripts"`)},
			{`PUTSCRIPT "two" "stop;"`, w(`OK`)},
			{`LISTSCRIPTS`, w(`"three"`, `"two"`, `"w"`, `OK`)},
			{`PUTSCRIPT "x"`, w(`NO "Wrong number of arguments"`)},
			{`PUTSCRIPT "" "keep;"`, w(`NO "Script name is empty"`)},
		}},
		{name: "checkscript", login: "alice", opts: Options{MaxScriptSize: 1000}, steps: []step{
			{`CHECKSCRIPT "keep;"`, w(`OK`)},
			{`CHECKSCRIPT ` + lit("warn;\r\n"), w(`OK (WARNINGS) "line 1: warning: \"warn\" is deprecated"`)},
			{`CHECKSCRIPT "error"`, w(`NO "line 2: unknown test \"error\""`)},
			{`CHECKSCRIPT ` + lit(strings.Repeat("#", 1001)), w(`NO (QUOTA/MAXSIZE) "Script larger than the limit of 1000 octets"`)},
			{`LISTSCRIPTS`, w(`OK`)},
		}},
		{name: "setactive", login: "alice", setup: aliceScripts, steps: []step{
			{`SETACTIVE "vacation"`, w(`OK`)},
			{`LISTSCRIPTS`, w(`"main"`, `"vacation" ACTIVE`, `OK`)},
			{`SETACTIVE "nosuch"`, w(`NO (NONEXISTENT) "There is no script of that name"`)},
			{`LISTSCRIPTS`, w(`"main"`, `"vacation" ACTIVE`, `OK`)},
			{`SETACTIVE ""`, w(`OK`)},
			{`LISTSCRIPTS`, w(`"main"`, `"vacation"`, `OK`)},
			{`SETACTIVE ""`, w(`OK`)},
		}},
		{name: "getscript", login: "alice", setup: aliceScripts, steps: []step{
			{`GETSCRIPT "main"`, w(`{7}`, `keep;`, ``, `OK`)},
			{`GETSCRIPT "vacation"`, w(`{39}`, `require "vacation";`, `vacation "away";`, ``, `OK`)},
			{`GETSCRIPT "nosuch"`, w(`NO (NONEXISTENT) "There is no script of that name"`)},
			{`GETSCRIPT ""`, w(`NO "Script name is empty"`)},
		}},
		{name: "deletescript", login: "alice", setup: aliceScripts, steps: []step{
			{`DELETESCRIPT "main"`, w(`NO (ACTIVE) "The active script cannot be deleted"`)},
			{`DELETESCRIPT "vacation"`, w(`OK`)},
			{`DELETESCRIPT "vacation"`, w(`NO (NONEXISTENT) "There is no script of that name"`)},
			{`LISTSCRIPTS`, w(`"main" ACTIVE`, `OK`)},
		}},
		{name: "renamescript", login: "alice", setup: aliceScripts, steps: []step{
			{`RENAMESCRIPT "main" "primary"`, w(`OK`)},
			{`LISTSCRIPTS`, w(`"primary" ACTIVE`, `"vacation"`, `OK`)},
			{`RENAMESCRIPT "main" "other"`, w(`NO (NONEXISTENT) "There is no script of that name"`)},
			{`RENAMESCRIPT "primary" "vacation"`, w(`NO (ALREADYEXISTS) "A script of that name already exists"`)},
			{`RENAMESCRIPT "primary" ""`, w(`NO "Script name is empty"`)},
			{`RENAMESCRIPT "primary"`, w(`NO "Wrong number of arguments"`)},
		}},
		{name: "havespace", login: "alice", setup: aliceScripts, opts: Options{MaxScriptSize: 1000}, steps: []step{
			{`HAVESPACE "new" 100`, w(`OK`)},
			{`HAVESPACE "new" 600`, w(`NO (QUOTA/MAXSIZE) "Script size quota exceeded"`)},
			{`HAVESPACE "new" 1001`, w(`NO (QUOTA/MAXSIZE) "Script larger than the limit of 1000 octets"`)},
			{`HAVESPACE "new" 99999999999`, w(`NO "Size must be a number"`)},
			{`HAVESPACE "new" "100"`, w(`NO "Size must be a number"`)},
			{`HAVESPACE "new" -1`, w(`NO "Size must be a number"`)},
			{`PUTSCRIPT "third" "keep;"`, w(`OK`)},
			{`HAVESPACE "fourth" 10`, w(`NO (QUOTA/MAXSCRIPTS) "Too many scripts"`)},
			{`HAVESPACE "main" 10`, w(`OK`)},
		}},
		{name: "script names", login: "alice", steps: []step{
			{"PUTSCRIPT " + lit("a\tb") + " \"keep;\"", w(`NO "Script name contains a control character"`)},
			{"PUTSCRIPT " + lit("a\u0085b") + " \"keep;\"", w(`NO "Script name contains a control character"`)},
			{"PUTSCRIPT \"a\u2028b\" \"keep;\"", w(`NO "Script name contains a control character"`)},
			{"PUTSCRIPT \"a\x7fb\" \"keep;\"", w(`NO "Script name contains a control character"`)},
			{"PUTSCRIPT " + lit("a\xffb") + " \"keep;\"", w(`NO "Script name is not valid UTF-8"`)},
			{`PUTSCRIPT "` + longName + `" "keep;"`, w(`NO "Script name longer than 512 octets"`)},
			{`PUTSCRIPT "` + longName[1:] + `" "keep;"`, w(`OK`)},
			{`GETSCRIPT ` + lit(strings.Repeat("x", MaxStringLength+1)), w(`NO "Script name longer than 512 octets"`)},
			{`LISTSCRIPTS`, w(`"`+longName[1:]+`"`, `OK`)},
		}},
		{name: "state commands after login", login: "alice", steps: []step{
			{`AUTHENTICATE "PLAIN" "` + plain("", "bob", "hunter2") + `"`, w(`NO "Already logged in"`)},
			{`STARTTLS`, w(`NO "Already logged in"`)},
			{`NOOP "t"`, w(`OK (TAG "t") "Done"`)},
			{`UNAUTHENTICATE`, w(`OK "Logged out"`)},
			{`LISTSCRIPTS`, w(respLogInFirst)},
			{`CAPABILITY`, lines(capsPreAuth, `OK`)},
			{`AUTHENTICATE "PLAIN" "` + plain("", "bob", "hunter2") + `"`, w(`OK "Logged in"`)},
			{`LISTSCRIPTS`, w(`OK`)},
			{`LOGOUT`, w(`OK "Logout completed"`)},
		}, closed: true},
		{name: "internal errors", login: "flaky", steps: []step{
			{`LISTSCRIPTS`, w(`NO (TRYLATER) "Internal error, try again later"`)},
			{`PUTSCRIPT "a" "keep;"`, w(`NO (TRYLATER) "Internal error, try again later"`)},
			{`CHECKSCRIPT "keep;"`, w(`NO (TRYLATER) "Internal error, try again later"`)},
			{`GETSCRIPT "a"`, w(`NO (TRYLATER) "Internal error, try again later"`)},
			{`SETACTIVE "a"`, w(`NO (TRYLATER) "Internal error, try again later"`)},
			{`DELETESCRIPT "a"`, w(`NO (TRYLATER) "Internal error, try again later"`)},
			{`RENAMESCRIPT "a" "b"`, w(`NO (TRYLATER) "Internal error, try again later"`)},
			{`HAVESPACE "a" 1`, w(`NO (TRYLATER) "Internal error, try again later"`)},
			{`NOOP`, w(`OK "Done"`)},
		}},
		{name: "pipelined commands", login: "alice", steps: []step{
			{"PUTSCRIPT \"p\" " + lit("keep;") + "\r\nSETACTIVE \"p\"\r\nLISTSCRIPTS", w(`OK`)},
			{"", w(`OK`)},
			{"", w(`"p" ACTIVE`, `OK`)},
		}},
	}
}

func runTranscript(t *testing.T, tc transcript) {
	b := newFakeBackend()
	if tc.setup != nil {
		tc.setup(b)
	}
	ts := startServer(t, b, tc.opts)
	c := dial(t, ts.addr)
	if tc.login != "" {
		c.login(tc.login, passwords[tc.login])
	}
	for i, st := range tc.steps {
		if i == 0 && st.send == "" && tc.login == "" {
			// The greeting, already read.
			if want := crlf(st.want...); c.greeting != want {
				t.Fatalf("greeting\n got %q\nwant %q", c.greeting, want)
			}
			continue
		}
		switch st.send {
		case "":
		case emptyLine:
			c.send("")
		default:
			c.send(st.send)
		}
		c.expect(st.want...)
	}
	if tc.closed {
		c.expectClosed()
	}
	if strings.Contains(ts.logs.String(), "panic") {
		t.Errorf("server panicked:\n%s", ts.logs.String())
	}
}

func TestTranscripts(t *testing.T) {
	for _, tc := range append(nonAuthTranscripts(), authTranscripts()...) {
		t.Run(tc.name, func(t *testing.T) {
			runTranscript(t, tc)
		})
	}
}
