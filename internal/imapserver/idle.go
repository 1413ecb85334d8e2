package imapserver

import (
	"errors"
	"net"
	"strings"
	"time"
)

func init() {
	register("IDLE", handler{fn: cmdIdle, states: authState})
}

// RFC 2177 IDLE (RFC 9051 §6.3.13): changes made by other sessions,
// deliveries or other processes reach the client as they are committed.
// The store's Watch channel wakes the session; a timer re-checks every
// PollInterval as a safety net. Only this goroutine writes; a helper
// goroutine reads the client's DONE.
func cmdIdle(s *session, cmd *command) error {
	if err := s.endLine(); err != nil {
		return err
	}
	watch, stop := s.srv.st.Watch(s.acct.ID)
	defer stop()
	s.enc.Raw("+ idling").CRLF()
	if err := s.flush(); err != nil {
		return err
	}
	s.conn.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout))
	if s.isShuttingDown() {
		// Shutdown's deadline may have been overwritten just above.
		s.conn.SetReadDeadline(time.Now())
	}
	done := make(chan error, 1)
	go func() {
		line, err := s.dec.ReadLine()
		if err == nil && !strings.EqualFold(strings.TrimSpace(line), "DONE") {
			err = errBadDone
		}
		done <- err
	}()
	tick := time.NewTicker(s.srv.opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-watch:
		case <-tick.C:
		case err := <-done:
			if err == nil {
				return nil
			}
			if errors.Is(err, errBadDone) {
				return badArg("expected DONE")
			}
			var ne net.Error
			switch {
			case s.isShuttingDown():
				s.goodbye(s.ending())
			case errors.As(err, &ne) && ne.Timeout():
				s.goodbye("autologout: idle for too long")
			}
			s.state = stateLogout
			return nil
		}
		s.sync(true)
		if err := s.flush(); err != nil || s.state == stateLogout {
			s.conn.Close()
			<-done
			s.state = stateLogout
			return nil
		}
	}
}

var errBadDone = errors.New("expected DONE")
