package smtpserver

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"mailroom/internal/delivery"
)

// swaks finds the swaks client (Debian package swaks). Without it the test
// is skipped, except on CI (CI=true), where it fails.
func swaks(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("swaks not installed (apt-get install swaks): %v", err)
		}
		t.Skipf("swaks not installed: %v", err)
	}
	return p
}

func runSwaks(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, swaks(t), args...).CombinedOutput()
	return string(out), err
}

func TestSwaksSMTP(t *testing.T) {
	swaks(t)
	for _, pipeline := range []bool{false, true} {
		name := "plain"
		if pipeline {
			name = "pipeline"
		}
		t.Run(name, func(t *testing.T) {
			d := newFake()
			ts := startServer(t, d, Options{MaxMessageSize: 10000})
			args := []string{"--server", ts.addr, "--helo", "client.example",
				"--from", "sender@remote.example", "--to", "alice@example.org,bob@example.org",
				"--header", "Subject: swaks smtp", "--body", "hello from swaks\n.dot line"}
			if pipeline {
				args = append(args, "--pipeline")
			}
			out, err := runSwaks(t, args...)
			if err != nil {
				t.Fatalf("swaks: %v\n%s", err, out)
			}
			if !strings.Contains(out, "<-  250 2.0.0 OK: stored as ") || !strings.Contains(out, "250-SIZE 10000") {
				t.Errorf("swaks transcript:\n%s", out)
			}
			ds := d.deliveries()
			if len(ds) != 1 {
				t.Fatalf("%d deliveries\n%s", len(ds), out)
			}
			e := ds[0].env
			if e.From != "sender@remote.example" || strings.Join(e.Recipients, ",") != "alice@example.org,bob@example.org" ||
				e.Helo != "client.example" || e.Protocol != delivery.ProtoSMTP {
				t.Errorf("envelope %+v", e)
			}
			if !strings.Contains(ds[0].body, "Subject: swaks smtp\r\n") || !strings.Contains(ds[0].body, "\r\nhello from swaks\r\n.dot line\r\n") {
				t.Errorf("body %q", ds[0].body)
			}
		})
	}
}

func TestSwaksSMTPRefused(t *testing.T) {
	swaks(t)
	d := newFake()
	ts := startServer(t, d, Options{})
	out, err := runSwaks(t, "--server", ts.addr, "--from", "sender@remote.example", "--to", "victim@elsewhere.example")
	if err == nil {
		t.Errorf("swaks succeeded through a relay attempt:\n%s", out)
	}
	if !strings.Contains(out, "<** 550 5.7.1") {
		t.Errorf("swaks transcript:\n%s", out)
	}
	noDelivery(t, ts)
}

func TestSwaksLMTP(t *testing.T) {
	swaks(t)
	d := newFake()
	d.rcptResult["carol@example.org"] = delivery.ErrMailboxFullTemp
	ts := startServer(t, d, Options{LMTP: true, MaxMessageSize: 10000})
	out, _ := runSwaks(t, "--server", ts.addr, "--protocol", "LMTP", "--helo", "client.example",
		"--from", "sender@remote.example", "--to", "alice@example.org,nobody@example.org,carol@example.org,bob@example.org",
		"--header", "Subject: swaks lmtp", "--body", "hello from swaks")
	for _, want := range []string{
		"-> LHLO client.example",
		"<** 550 5.1.1 no such user here",
		"<-  250 2.0.0 <alice@example.org> OK: stored as ",
		"<** 452 4.2.2 <carol@example.org> mailbox full",
		"<-  250 2.0.0 <bob@example.org> OK: stored as ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("swaks transcript lacks %q:\n%s", want, out)
		}
	}
	// The per-recipient replies come in RCPT order.
	if a, c, b := strings.Index(out, "<alice@example.org> OK"), strings.Index(out, "<carol@example.org> mailbox"), strings.Index(out, "<bob@example.org> OK"); !(a < c && c < b) {
		t.Errorf("replies out of order:\n%s", out)
	}
	ds := d.deliveries()
	if len(ds) != 1 || ds[0].env.Protocol != delivery.ProtoLMTP || strings.Join(ds[0].env.Recipients, ",") != "alice@example.org,carol@example.org,bob@example.org" {
		t.Errorf("deliveries %+v", ds)
	}
}
