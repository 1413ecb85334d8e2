package imapserver

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

func init() {
	register("IDLE", handler{fn: cmdIdle, states: authState})
}

// maxDoneLine bounds what IDLE reads while waiting for DONE.
const maxDoneLine = 1024

// RFC 2177 IDLE (RFC 9051 §6.3.13): changes made by other sessions,
// deliveries or other processes reach the client as they are committed.
//
// One goroutine per session, also in IDLE (thousands of idle sessions are
// the common case): it waits in a read of the client's DONE, and a commit
// for the account wakes it by moving the read deadline to now (WatchFunc);
// the deadline also expires every PollInterval as a safety net. The line
// is read byte by byte into a buffer that survives those wake-ups.
func cmdIdle(s *session, cmd *command) error {
	if err := s.endLine(); err != nil {
		return err
	}
	var woke atomic.Bool
	stop := s.srv.st.WatchFunc(s.acct.ID, func() {
		woke.Store(true)
		s.conn.SetReadDeadline(time.Now())
	})
	defer stop()
	s.enc.Raw("+ idling").CRLF()
	if err := s.flush(); err != nil {
		return err
	}
	idleEnd := time.Now().Add(s.srv.opts.IdleTimeout)
	var line []byte
	for {
		next := time.Now().Add(s.srv.opts.PollInterval)
		if idleEnd.Before(next) {
			next = idleEnd
		}
		s.conn.SetReadDeadline(next)
		if woke.Load() || s.isShuttingDown() {
			// A wake-up (or Shutdown) may have set its deadline just
			// before ours replaced it.
			s.conn.SetReadDeadline(time.Now())
		}
		b, err := s.br.ReadByte()
		if err == nil {
			if b != '\n' {
				if len(line) >= maxDoneLine {
					s.state = stateLogout
					s.goodbye("expected DONE")
					return nil
				}
				line = append(line, b)
				continue
			}
			if !strings.EqualFold(strings.TrimSpace(string(line)), "DONE") {
				return badArg("expected DONE")
			}
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			s.state = stateLogout
			return nil
		}
		switch {
		case s.isShuttingDown():
			s.goodbye(s.ending())
			s.state = stateLogout
			return nil
		case !time.Now().Before(idleEnd):
			s.goodbye("autologout: idle for too long")
			s.state = stateLogout
			return nil
		}
		woke.Store(false)
		s.sync(true)
		if err := s.flush(); err != nil || s.state == stateLogout {
			s.state = stateLogout
			return nil
		}
	}
}
