package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCrashKeepsAcknowledgedMail kills `mailroom serve` with SIGKILL in the
// middle of many concurrent LMTP deliveries, restarts it, and proves that
// every message that got a 250 is stored whole, nothing is half-stored, and
// `mailroom check` passes.
func TestCrashKeepsAcknowledgedMail(t *testing.T) {
	in := newInstance(t, "", "")
	in.start()

	const conns = 16
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := net.Dial("tcp", in.lmtp)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			r := bufio.NewReader(c)
			read := func() (string, error) {
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return "", err
					}
					if len(l) < 4 || l[3] != '-' {
						return l, nil
					}
				}
			}
			if _, err := read(); err != nil {
				return
			}
			fmt.Fprintf(c, "LHLO crash.test\r\n")
			if _, err := read(); err != nil {
				return
			}
			rcpts := []string{"alice@example.test", "bob@example.test"}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-m%d", w, i)
				rcpt := rcpts[i%2]
				body := strings.Repeat("line of text for "+id+"\r\n", 200)
				fmt.Fprintf(c, "MAIL FROM:<s@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n", rcpt)
				for j := 0; j < 3; j++ {
					if _, err := read(); err != nil {
						return
					}
				}
				fmt.Fprintf(c, "Subject: %s\r\n\r\n%sEND %s\r\n.\r\n", id, body, id)
				l, err := read()
				if err != nil {
					return
				}
				if strings.HasPrefix(l, "250") {
					mu.Lock()
					acked[rcpt+" "+id] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	// Let deliveries run, then kill the server without warning.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := in.srv.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	in.srv.Wait()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatalf("no delivery was acknowledged before the kill\n%s", in.logs)
	}

	// Restart: the server sweeps what the crash left, then stops cleanly.
	in.start()
	in.stop()
	out := in.ok("check")
	if !strings.Contains(out, "ok") {
		t.Fatalf("check after crash: %s", out)
	}
	stored := map[string]bool{}
	for _, who := range []string{"alice@example.test", "bob@example.test"} {
		for _, m := range in.messages(who, "INBOX") {
			i := strings.Index(m, "Subject: ")
			if i < 0 {
				t.Fatalf("stored message without subject: %q", m)
			}
			id := strings.TrimSpace(m[i+9 : i+9+strings.Index(m[i+9:], "\r\n")])
			if !strings.HasSuffix(m, "END "+id+"\r\n") || strings.Count(m, "line of text for "+id) != 200 {
				t.Fatalf("message %s is not whole (%d bytes)", id, len(m))
			}
			stored[who+" "+id] = true
		}
	}
	for k := range acked {
		if !stored[k] {
			t.Errorf("acknowledged message %s is missing after the crash", k)
		}
	}
	t.Logf("%d acknowledged before SIGKILL, %d stored (the rest were in flight)", len(acked), len(stored))
}
