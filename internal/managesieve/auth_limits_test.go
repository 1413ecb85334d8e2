package managesieve

import (
	"strings"
	"testing"
)

func TestPreAuthCommandLimit(t *testing.T) {
	ts := startServer(t, newFakeBackend(), Options{MaxPreAuthCommands: 3})
	c := dial(t, ts.addr)
	for range 3 {
		c.send("NOOP")
		if r, err := c.response(); err != nil || !strings.HasPrefix(r, "OK") {
			t.Fatalf("NOOP: %q, %v", r, err)
		}
	}
	c.send("NOOP")
	if r, _ := c.response(); r != "BYE \"Too many commands before login\"\r\n" {
		t.Fatalf("4th command: %q", r)
	}
	if _, err := c.r.ReadByte(); err == nil {
		t.Fatal("connection still open")
	}
}
