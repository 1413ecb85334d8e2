package imapserver

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// modelClient is a client that keeps its own model of the selected mailbox
// (UID by sequence number) from the untagged responses, and reports any
// response that the RFC does not allow for that model.
type modelClient struct {
	name string
	conn net.Conn
	r    *bufio.Reader
	n    int
	uids []uint32
}

func dialModel(e *testEnv, name string) (*modelClient, error) {
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		return nil, err
	}
	m := &modelClient{name: name, conn: conn, r: bufio.NewReader(conn)}
	if _, err := m.readLine(); err != nil {
		return nil, err
	}
	if tagged, err := m.cmd("LOGIN alice@example.test " + quote(testPassword)); err != nil || !strings.HasPrefix(tagged, "OK") {
		return nil, fmt.Errorf("login: %q %v", tagged, err)
	}
	return m, nil
}

func (m *modelClient) readLine() (string, error) {
	m.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := m.r.ReadString('\n')
	return strings.TrimSuffix(l, "\r\n"), err
}

// cmd runs one command, applies its untagged responses to the model and
// returns the tagged response without its tag.
func (m *modelClient) cmd(line string) (string, error) {
	m.n++
	tag := "m" + strconv.Itoa(m.n)
	m.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(m.conn, tag+" "+line+"\r\n"); err != nil {
		return "", err
	}
	for {
		l, err := m.readLine()
		if err != nil {
			return "", fmt.Errorf("%s: %s: %v", m.name, line, err)
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return rest, nil
		}
		if err := m.apply(l); err != nil {
			return "", fmt.Errorf("%s: %s: %v", m.name, line, err)
		}
	}
}

func (m *modelClient) apply(l string) error {
	f := strings.Fields(l)
	if len(f) < 3 || f[0] != "*" {
		return fmt.Errorf("unexpected line %q", l)
	}
	if f[1] == "VANISHED" {
		for _, u := range parseUIDSet(f[2]) {
			i := m.index(u)
			if i < 0 {
				return fmt.Errorf("VANISHED for unknown UID %d in %q", u, l)
			}
			m.uids = append(m.uids[:i], m.uids[i+1:]...)
		}
		return nil
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return nil // OK, FLAGS, …
	}
	switch f[2] {
	case "EXPUNGE":
		if n < 1 || n > len(m.uids) {
			return fmt.Errorf("EXPUNGE %d with %d messages", n, len(m.uids))
		}
		m.uids = append(m.uids[:n-1], m.uids[n:]...)
	case "EXISTS":
		if n != len(m.uids) {
			// Nothing is added to the mailbox in these tests.
			return fmt.Errorf("EXISTS %d with %d messages", n, len(m.uids))
		}
	case "FETCH":
		if n < 1 || n > len(m.uids) {
			return fmt.Errorf("FETCH %d with %d messages", n, len(m.uids))
		}
		if i := strings.Index(l, "UID "); i >= 0 {
			var u uint32
			fmt.Sscanf(l[i+4:], "%d", &u)
			if m.uids[n-1] != u {
				return fmt.Errorf("%q: message %d is UID %d", l, n, m.uids[n-1])
			}
		}
	}
	return nil
}

func (m *modelClient) index(uid uint32) int {
	for i, u := range m.uids {
		if u == uid {
			return i
		}
	}
	return -1
}

func parseUIDSet(s string) []uint32 {
	var out []uint32
	for _, r := range strings.Split(s, ",") {
		lo, hi, found := strings.Cut(r, ":")
		a, _ := strconv.Atoi(lo)
		b := a
		if found {
			b, _ = strconv.Atoi(hi)
		}
		for u := a; u <= b; u++ {
			out = append(out, uint32(u))
		}
	}
	return out
}

// Two sessions flag, expunge and move the same messages at once. Each must
// only ever see responses consistent with its own view, the store must stay
// consistent, and in the end both views must equal the store's list.
func TestConcurrentExpungeMoveStore(t *testing.T) {
	e := newTestEnv(t)
	const n = 80
	for range n {
		e.deliver("INBOX", simpleMsg)
	}
	rounds := 100
	if testing.Short() {
		rounds = 30
	}
	clients := make([]*modelClient, 2)
	for i := range clients {
		m, err := dialModel(e, fmt.Sprintf("client%d", i))
		if err != nil {
			t.Fatal(err)
		}
		defer m.conn.Close()
		if i == 1 {
			if tagged, err := m.cmd("ENABLE QRESYNC"); err != nil || !strings.HasPrefix(tagged, "OK") {
				t.Fatalf("enable: %q %v", tagged, err)
			}
		}
		for u := uint32(1); u <= n; u++ {
			m.uids = append(m.uids, u)
		}
		if tagged, err := m.cmd("SELECT INBOX"); err != nil || !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("select: %q %v", tagged, err)
		}
		clients[i] = m
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for i, m := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(i + 1)))
			for range rounds {
				u := rng.Intn(n) + 1
				seq := 0
				if len(m.uids) > 0 {
					seq = rng.Intn(len(m.uids)) + 1
				}
				var line string
				switch op := rng.Intn(20); {
				case op == 0:
					line = fmt.Sprintf(`UID STORE %d:%d +FLAGS.SILENT (\Deleted)`, u, u+2)
				case op <= 3 && seq > 0:
					line = fmt.Sprintf(`STORE %d +FLAGS (\Seen $K%d)`, seq, i)
				case op <= 5 && seq > 0:
					line = fmt.Sprintf(`STORE %d:* -FLAGS.SILENT (\Deleted)`, seq)
				case op == 6:
					line = "EXPUNGE"
				case op == 7:
					line = fmt.Sprintf("UID EXPUNGE %d:%d", u, u+5)
				case op == 8:
					line = fmt.Sprintf("UID MOVE %d Archive", u)
				case op == 9 && seq > 0:
					line = fmt.Sprintf("MOVE %d Archive", seq)
				case op == 10:
					line = fmt.Sprintf("UID COPY %d Trash", u)
				case op <= 12 && seq > 0:
					line = fmt.Sprintf(`STORE 1:%d (UNCHANGEDSINCE %d) +FLAGS ($C)`, seq, rng.Intn(400))
				case op <= 14:
					line = fmt.Sprintf(`UID STORE %d:%d FLAGS (\Answered)`, u, u+10)
				default:
					line = "NOOP"
				}
				tagged, err := m.cmd(line)
				if err != nil {
					errs <- err
					return
				}
				if !strings.HasPrefix(tagged, "OK") {
					errs <- fmt.Errorf("%s: %s: %s", m.name, line, tagged)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	want := e.uidsOf("INBOX")
	t.Logf("INBOX %d, Archive %d, Trash %d", len(want), len(e.uidsOf("Archive")), len(e.uidsOf("Trash")))
	for _, m := range clients {
		if tagged, err := m.cmd("NOOP"); err != nil || !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("noop: %q %v", tagged, err)
		}
		if fmt.Sprint(m.uids) != fmt.Sprint(want) {
			t.Errorf("%s sees %v, store has %v", m.name, m.uids, want)
		}
	}

	// No message is lost or duplicated, no UID reused.
	inbox := mailboxIDOf(e, "INBOX")
	archive := mailboxIDOf(e, "Archive")
	seen := map[int64]string{}
	for _, mb := range []int64{inbox, archive} {
		list, err := e.st.ChangedSince(bg, e.acct.ID, mb, 0)
		if err != nil {
			t.Fatal(err)
		}
		gone, err := e.st.Vanished(bg, e.acct.ID, mb, 0)
		if err != nil {
			t.Fatal(err)
		}
		tomb := map[uint32]bool{}
		for _, u := range gone {
			tomb[u] = true
		}
		for k, m := range list {
			if k > 0 && list[k-1].UID >= m.UID {
				t.Errorf("mailbox %d: UIDs out of order", mb)
			}
			if tomb[m.UID] {
				t.Errorf("mailbox %d: UID %d is live and expunged", mb, m.UID)
			}
			if where, dup := seen[m.EmailID]; dup {
				t.Errorf("email %d in %s and mailbox %d", m.EmailID, where, mb)
			}
			seen[m.EmailID] = strconv.FormatInt(mb, 10)
		}
	}
	if len(seen) > n {
		t.Errorf("%d messages from %d", len(seen), n)
	}
	e.checkStoreClean()
}
