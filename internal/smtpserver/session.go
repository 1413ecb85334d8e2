package smtpserver

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/emersion/go-smtp"

	"mailroom/internal/delivery"
)

// protoUTF8LMTPS is registered by RFC 6531 §3.7.4.2 but has no constant in
// internal/delivery.
const protoUTF8LMTPS delivery.Protocol = "UTF8LMTPS"

// protocol returns the Received "with" keyword (RFC 3848, RFC 6531 §3.7.4).
func protocol(lmtp, tls, utf8 bool) delivery.Protocol {
	switch {
	case lmtp && utf8 && tls:
		return protoUTF8LMTPS
	case lmtp && utf8:
		return delivery.ProtoUTF8LM
	case lmtp && tls:
		return delivery.ProtoLMTPS
	case lmtp:
		return delivery.ProtoLMTP
	case utf8 && tls:
		return delivery.ProtoUTF8S
	case utf8:
		return delivery.ProtoUTF8
	case tls:
		return delivery.ProtoSMTPS
	default:
		return delivery.ProtoSMTP
	}
}

// session is one EHLO/LHLO session of a connection. go-smtp calls Mail,
// Rcpt, Reset and Data from the connection's goroutine; Data or LMTPData
// may run on a goroutine of their own (LMTP, BDAT) while Reset or Logout
// run on the connection's, hence mu.
type session struct {
	srv  *Server
	conn *smtp.Conn
	tc   *trackedConn
	tls  bool

	mu    sync.Mutex
	env   *delivery.Envelope // nil outside a transaction
	count map[string]int     // RCPT commands per accepted recipient (duplicates are delivered once)
}

var _ smtp.LMTPSession = (*session)(nil)

func (s *session) Reset() {
	s.mu.Lock()
	s.env, s.count = nil, nil
	s.mu.Unlock()
	s.tc.endTx()
}

func (s *session) Logout() error {
	s.mu.Lock()
	s.env, s.count = nil, nil
	s.mu.Unlock()
	s.tc.sessionEnded()
	return nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.env != nil {
		return errNestedMail
	}
	if from != "" {
		switch checkAddress(from, opts.UTF8) {
		case addrSyntax:
			return errBadSender
		case addrNeedsUTF8:
			return errSenderNeedsUTF8
		}
	}
	if max := s.srv.opts.MaxMessageSize; max > 0 && opts.Size > max {
		return errSizeExceeded
	}
	// NewSession checked the first EHLO/LHLO; go-smtp takes a later one
	// without asking, so check again.
	helo := s.conn.Hostname()
	if !validHelo(helo) {
		return errBadHelo
	}
	if !s.tc.beginTx() {
		return errShuttingDown
	}
	s.env = &delivery.Envelope{
		From:       from,
		Protocol:   protocol(s.srv.opts.LMTP, s.tls, opts.UTF8),
		Helo:       helo,
		RemoteAddr: s.tc.remote,
		ID:         newID(),
		SMTPUTF8:   opts.UTF8,
	}
	s.count = make(map[string]int)
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	env := s.env
	if env == nil {
		return errNoMail
	}
	switch checkAddress(to, env.SMTPUTF8) {
	case addrSyntax:
		return errBadRcpt
	case addrNeedsUTF8:
		return errRcptNeedsUTF8
	}
	if s.count[to] > 0 {
		// Already accepted: answer again as before, deliver once.
		s.count[to]++
		return nil
	}
	check := *env
	check.Recipients = slices.Clip(env.Recipients)
	if err := s.srv.d.CheckRecipient(s.tc.ctx, &check, to); err != nil {
		reply, internal := toReply(err)
		if internal {
			s.tc.log.Error("checking recipient failed", "id", env.ID, "rcpt", to, "err", err)
		} else {
			s.tc.log.Debug("recipient rejected", "id", env.ID, "rcpt", to, "reply", replyString(reply))
		}
		return reply
	}
	env.Recipients = append(env.Recipients, to)
	s.count[to] = 1
	return nil
}

// Data handles SMTP's DATA or BDAT: one reply for the whole transaction.
func (s *session) Data(r io.Reader) error {
	res := s.transact(r)
	if res == nil {
		return errNoRcpt
	}
	return res.smtpReply(s.srv.log)
}

// LMTPData handles LMTP's DATA or BDAT: one reply per RCPT, in RCPT order
// (RFC 2033 §4.2); go-smtp writes them from status.
func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	res := s.transact(r)
	if res == nil {
		return errNoRcpt
	}
	for i, rcpt := range res.env.Recipients {
		for range res.count[i] {
			status.SetStatus(rcpt, res.reply(i))
		}
	}
	return nil
}

// result is the outcome of one transaction.
type result struct {
	env   *delivery.Envelope
	count []int             // RCPT commands per env.Recipients entry
	errs  []*smtp.SMTPError // per env.Recipients entry; nil: delivered
	ok    *smtp.SMTPError   // the 250 reply
	size  int64
}

func (r *result) reply(i int) error {
	if r.errs[i] != nil {
		return r.errs[i]
	}
	return r.ok
}

// smtpReply picks SMTP's one reply: 250 if any recipient got the message
// (see Deliverer for why), else the first temporary failure if there is one
// (a permanent reply would make the client bounce a message that might be
// delivered later to that recipient), else the first failure.
func (r *result) smtpReply(log *slog.Logger) error {
	var first, firstTemp *smtp.SMTPError
	var failed []string
	for i, e := range r.errs {
		if e == nil {
			continue
		}
		failed = append(failed, r.env.Recipients[i]+": "+replyString(e))
		if first == nil {
			first = e
		}
		if firstTemp == nil && e.Temporary() {
			firstTemp = e
		}
	}
	switch {
	case first == nil:
		return r.ok
	case len(failed) < len(r.errs):
		log.Warn("SMTP transaction partially failed after DATA; replied 250, the delivery layer must bounce the failed recipients",
			"id", r.env.ID, "failed", failed)
		return r.ok
	case firstTemp != nil:
		return firstTemp
	default:
		return first
	}
}

// transact runs Deliver for the transaction open on s and reads the whole
// message. It returns nil when there is no transaction (cannot happen:
// go-smtp calls Data only after MAIL and RCPT were accepted).
func (s *session) transact(r io.Reader) *result {
	s.mu.Lock()
	var env *delivery.Envelope
	var count []int
	if s.env != nil && len(s.env.Recipients) > 0 {
		e := *s.env
		e.Recipients = slices.Clone(s.env.Recipients)
		env = &e
		count = make([]int, len(env.Recipients))
		for i, rcpt := range env.Recipients {
			count[i] = s.count[rcpt]
		}
	}
	s.mu.Unlock()
	if env == nil {
		return nil
	}

	defer s.srv.beginDelivery()()

	_, bdat := r.(*io.PipeReader) // go-smtp feeds BDAT chunks through a pipe
	body := &bodyReader{r: r, tc: s.tc, bdat: bdat, max: s.srv.opts.MaxMessageSize}
	s.tc.renewReadDeadline(s.srv.opts.ReadTimeout)
	defer s.tc.renewReadDeadline(0)
	res := &result{
		env:   env,
		count: count,
		errs:  make([]*smtp.SMTPError, len(env.Recipients)),
		ok:    &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK: stored as " + env.ID},
	}
	log := s.tc.log.With("id", env.ID, "from", env.From, "rcpts", env.Recipients)

	errs, err := s.srv.d.Deliver(s.tc.ctx, env, body)

	// Read what Deliver left of the message, so that the stream is at the
	// next command (go-smtp would drain DATA too, but without renewing the
	// read deadline) and to see whether Deliver read it all. BDAT is
	// drained only after a success: otherwise returning closes go-smtp's
	// pipe and go-smtp replies at the current chunk.
	var left int64
	if !bdat || (err == nil && !body.tooBig) {
		left = body.drain()
	}
	res.size = body.n

	var all *smtp.SMTPError // one reply for every recipient
	switch {
	case body.fatal != nil:
		all = bodyErrReply(body.fatal)
		if anyNil(errs, err) {
			log.Error("Deliver reported success although reading the message failed", "err", body.fatal)
		}
		if !bdat {
			// What follows on the connection cannot be trusted to be
			// commands: close it after the reply.
			s.tc.markBroken()
		}
		log.Warn("message transfer aborted", "size", body.n, "reason", body.fatal.Error(), "reply", replyString(all))
		fillAll(res.errs, all)
		return res
	case body.tooBig:
		all = errTooBig
		if anyNil(errs, err) {
			log.Error("Deliver reported success for a message over the size limit")
		}
	case err != nil:
		var internal bool
		all, internal = toReply(err)
		if internal {
			log.Error("delivery failed", "err", err)
		}
	case len(errs) != len(env.Recipients):
		log.Error("Deliver returned a wrong number of results", "got", len(errs), "want", len(env.Recipients))
		all = errTemporary
	case left > 0 && anyNil(errs, nil):
		log.Error("Deliver reported success without reading the whole message", "unread", left)
		all = errTemporary
	}
	if all != nil {
		fillAll(res.errs, all)
	} else {
		for i, e := range errs {
			if e == nil {
				continue
			}
			reply, internal := toReply(e)
			if internal {
				log.Error("delivery failed", "rcpt", env.Recipients[i], "err", e)
			}
			res.errs[i] = reply
		}
	}
	res.logOutcome(log)
	return res
}

func (r *result) logOutcome(log *slog.Logger) {
	var failed []string
	for i, e := range r.errs {
		if e != nil {
			failed = append(failed, r.env.Recipients[i]+": "+replyString(e))
		}
	}
	switch {
	case len(failed) == 0:
		log.Info("message delivered", "size", r.size, "proto", string(r.env.Protocol), "result", replyString(r.ok))
	case len(failed) == len(r.errs):
		log.Warn("message not delivered", "size", r.size, "proto", string(r.env.Protocol), "failed", failed)
	default:
		log.Warn("message delivered to some recipients", "size", r.size, "proto", string(r.env.Protocol), "failed", failed)
	}
}

func fillAll(errs []*smtp.SMTPError, e *smtp.SMTPError) {
	for i := range errs {
		errs[i] = e
	}
}

// anyNil reports whether Deliver's results claim a success.
func anyNil(errs []error, err error) bool {
	if err != nil {
		return false
	}
	for _, e := range errs {
		if e == nil {
			return true
		}
	}
	return false
}

// newID returns 16 random hex digits: a transaction's id.
func newID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}
