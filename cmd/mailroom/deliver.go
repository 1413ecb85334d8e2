package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"mailroom/internal/delivery"
)

// deliverOptions are the flags of `deliver`.
type deliverOptions struct {
	from string // envelope sender; "" is the null sender
}

func (o *deliverOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.from, "from", "", "envelope sender (\"\" for the null sender)")
}

// sysexits(3) codes used by `deliver`, as MTAs (Postfix, Exim) expect of an MDA.
const (
	exUsage       = 64
	exDataErr     = 65
	exNoUser      = 67
	exUnavailable = 69
	exSoftware    = 70
	exTempFail    = 75
)

func cmdDeliver(e *env, o *deliverOptions, args []string) error {
	if len(args) == 0 {
		return &exitError{code: exUsage, err: errors.New("usage: mailroom deliver --from ADDRESS RCPT... < MESSAGE")}
	}
	if err := delivery.CheckReversePath(o.from); err != nil {
		return &exitError{code: exUsage, err: fmt.Errorf("--from %q: %w", o.from, err)}
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return &exitError{code: exTempFail, err: err}
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := openServices(cfg, log)
	if err != nil {
		return &exitError{code: exTempFail, err: err}
	}
	defer s.Close()
	return deliverLocal(e.ctx, s.agent(), o.from, args, e.stdin)
}

func deliverLocal(ctx context.Context, agent *delivery.Agent, from string, rcpts []string, msg io.Reader) error {
	env := &delivery.Envelope{From: from, Recipients: rcpts, Protocol: delivery.ProtoLocal, ID: newID()}
	errs, err := agent.Deliver(ctx, env, msg)
	if err != nil {
		return &exitError{code: sysexit(err), err: err}
	}
	for i, err := range errs {
		if err != nil {
			return &exitError{code: sysexit(err), err: fmt.Errorf("%s: %w", rcpts[i], err)}
		}
	}
	return nil
}

// sysexit maps a delivery failure to the exit code an MTA understands:
// 75 retries later, the others bounce.
func sysexit(err error) int {
	var de *delivery.Error
	if !errors.As(err, &de) {
		return exTempFail
	}
	switch {
	case de.Temporary():
		return exTempFail
	case de.Enhanced[1] == 1: // 5.1.x: addressing (unknown user, bad syntax)
		return exNoUser
	case de.Enhanced[1] == 7: // 5.7.1: not a local domain
		return exNoUser
	case de.Enhanced[1] == 6: // 5.6.x: malformed content
		return exDataErr
	case de.Code >= 500:
		return exUnavailable
	}
	return exSoftware
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
