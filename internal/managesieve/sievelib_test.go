package managesieve

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// sievelibPython finds a Python with the sievelib package (Debian package
// python3-sievelib). Without it the test is skipped, except on CI
// (CI=true), where it fails.
func sievelibPython(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import sievelib.managesieve").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no python3 with sievelib (apt-get install python3-sievelib)")
	}
	t.Skipf("no python3 with sievelib")
	return ""
}

// sievelibScript drives sievelib's ManageSieve client through every
// command; it prints "done" at the end and fails loudly on any surprise.
const sievelibScript = `
import sys
from sievelib.managesieve import Client

host, port = sys.argv[1], int(sys.argv[2])
script = 'require "fileinto";\r\nif header :contains "subject" "[list]" {\r\n  fileinto "Lists";\r\n}\r\n'

c = Client(host, port)
assert c.connect("alice", "secret", authmech="PLAIN"), "login"
assert c.get_implementation() == "mailroom", c.get_implementation()
assert c.get_sieve_capabilities() == ["fileinto", "vacation", "envelope"], c.get_sieve_capabilities()
assert c.havespace("filter", len(script)), "havespace"
assert not c.havespace("filter", 100000), "havespace too big"
assert c.checkscript(script), "checkscript"
assert not c.checkscript("error;"), "checkscript error"
assert c.putscript("filter", script), "putscript"
assert c.putscript("other", "keep;"), "putscript other"
assert not c.putscript("bad", "errors;"), "putscript errors"
assert c.setactive("filter"), "setactive"
active, others = c.listscripts()
assert active == "filter" and others == ["other"], (active, others)
# sievelib hands back the script with LF line ends and no final newline.
got = c.getscript("filter")
assert got.splitlines() == script.splitlines(), repr(got)
assert not c.deletescript("filter"), "delete active"
assert c.renamescript("other", "renamed"), "rename"
assert not c.renamescript("nosuch", "x"), "rename missing"
assert c.setactive(""), "deactivate"
assert c.deletescript("filter"), "delete"
active, others = c.listscripts()
assert active is None and others == ["renamed"], (active, others)
assert c.logout() is None or True
print("done")
`

func TestSievelib(t *testing.T) {
	python := sievelibPython(t)
	b := newFakeBackend()
	ts := startServer(t, b, Options{MaxScriptSize: 1000})
	host, port, _ := strings.Cut(ts.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", sievelibScript, host, port).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "done") {
		t.Fatalf("sievelib: %v\n%s\nserver log:\n%s", err, out, ts.logs)
	}
	if s, active := b.state("alice"); len(s) != 1 || s["renamed"] != "keep;" || active != "" {
		t.Errorf("scripts %q, active %q", s, active)
	}
}
