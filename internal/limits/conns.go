package limits

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ConnOptions configure Conns. Zero turns a limit off.
type ConnOptions struct {
	// PerAddress bounds the open connections of one client address (an
	// IPv6 client's /64), over every listener together.
	PerAddress int
	// Total bounds the open connections of the server, over every
	// listener together.
	Total int
	// Exempt lists networks whose clients PerAddress does not apply to
	// (Total does).
	Exempt Networks
	// Logger receives a debug line per refused connection. Default
	// slog.Default().
	Logger *slog.Logger
}

// Conns counts the open connections per client address and in total. It
// is shared by the listeners it wraps (Listener), so the limits hold for
// the server as a whole. It is safe for concurrent use.
type Conns struct {
	opts ConnOptions

	mu     sync.Mutex
	byAddr map[netip.Addr]int
	total  int

	// rejecting bounds the goroutines writing a busy reply; when they are
	// all busy, refused connections are closed without one.
	rejecting chan struct{}
}

// Reject limits.
const (
	// maxRejecting bounds the busy replies being written at once.
	maxRejecting = 64
	// rejectTimeout bounds the write of one busy reply.
	rejectTimeout = time.Second
)

// NewConns returns a counter with opts.
func NewConns(opts ConnOptions) *Conns {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Conns{opts: opts, byAddr: map[netip.Addr]int{}, rejecting: make(chan struct{}, maxRejecting)}
}

// Open returns the number of open connections counted, in total and of
// remote's address.
func (c *Conns) Open(remote net.Addr) (total, addr int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total, c.byAddr[keyOf(addrOf(remote))]
}

// Acquire counts a new connection from remote, unless a limit is reached:
// then release is nil and reason says which ("total" or "address").
// Otherwise the caller must call release (any number of times) when the
// connection closes.
func (c *Conns) Acquire(remote net.Addr) (release func(), reason string) {
	a := addrOf(remote)
	k := keyOf(a)
	perAddr := c.opts.PerAddress > 0 && !c.opts.Exempt.Contains(a)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.Total > 0 && c.total >= c.opts.Total {
		return nil, "total"
	}
	if perAddr && c.byAddr[k] >= c.opts.PerAddress {
		return nil, "address"
	}
	c.total++
	c.byAddr[k]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.total--
			if c.byAddr[k]--; c.byAddr[k] <= 0 {
				delete(c.byAddr, k)
			}
			c.mu.Unlock()
		})
	}, ""
}

// Listener wraps l: a connection over a limit is handed to reject (nil:
// closed at once) in a goroutine of its own and never returned by Accept;
// the others are counted until closed. Wrap the plain TCP listener, below
// any tls.NewListener, so that servers still see *tls.Conn.
func (c *Conns) Listener(l net.Listener, reject func(net.Conn)) net.Listener {
	return &listener{Listener: l, conns: c, reject: reject}
}

type listener struct {
	net.Listener
	conns  *Conns
	reject func(net.Conn)
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, reason := l.conns.Acquire(nc.RemoteAddr())
		if release != nil {
			return &conn{Conn: nc, release: release}, nil
		}
		l.conns.Refuse(nc, reason, l.reject)
	}
}

// Refuse closes nc, a connection Acquire refused for reason, after handing
// it to reject (nil: closed at once) in a goroutine of its own, so that the
// caller's accept loop is not held up.
func (c *Conns) Refuse(nc net.Conn, reason string, reject func(net.Conn)) {
	c.opts.Logger.Debug("connection refused: too many connections", "remote", nc.RemoteAddr().String(), "limit", reason)
	if reject == nil {
		nc.Close()
		return
	}
	select {
	case c.rejecting <- struct{}{}:
	default:
		nc.Close()
		return
	}
	go func() {
		defer func() { <-c.rejecting }()
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(rejectTimeout))
		reject(nc)
	}()
}

// Busy returns a reject function that writes line (CRLF added) and
// closes the connection, such as "* BYE too many connections".
func Busy(line string) func(net.Conn) {
	msg := []byte(line + "\r\n")
	return func(nc net.Conn) { nc.Write(msg) }
}

// conn is a counted connection; Close releases its count once.
type conn struct {
	net.Conn
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
