package imapserver

import (
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// goIMAP logs in with the go-imap v2 client.
func (e *testEnv) goIMAP(opts *imapclient.Options) *imapclient.Client {
	e.t.Helper()
	c, err := imapclient.DialInsecure(e.addr, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Login("alice@example.test", testPassword).Wait(); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func goAppend(t *testing.T, c *imapclient.Client, mailbox, body string, opts *imap.AppendOptions) (*imap.AppendData, error) {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(body)), opts)
	if _, err := cmd.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	return cmd.Wait()
}

func statusCode(err error) imap.ResponseCode {
	var ierr *imap.Error
	if errors.As(err, &ierr) {
		return ierr.Code
	}
	return ""
}

// APPEND, STORE, COPY, MOVE and EXPUNGE as go-imap v2 sends and parses
// them, including its reading of APPENDUID and COPYUID.
func TestGoIMAPClient(t *testing.T) {
	e := newTestEnv(t)
	var expunged []uint32
	c := e.goIMAP(&imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { expunged = append(expunged, seq) },
	}})
	inbox, err := e.st.Mailbox(bg, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	archive, err := e.st.Mailbox(bg, e.acct.ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	iv, av := inbox.UIDValidity, archive.UIDValidity

	date := time.Date(2026, 11, 21, 9, 15, 0, 0, time.FixedZone("", -5*3600))
	for i := range 3 {
		data, err := goAppend(t, c, "INBOX", crlfMsg, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "$Work"}, Time: date})
		if err != nil {
			t.Fatal(err)
		}
		if data.UIDValidity != iv || data.UID != imap.UID(i+1) {
			t.Fatalf("APPENDUID %+v", data)
		}
	}
	if _, err := goAppend(t, c, "Nope", crlfMsg, nil); statusCode(err) != imap.ResponseCodeTryCreate {
		t.Fatalf("append to a missing mailbox: %v", err)
	}

	e.selectOnce("INBOX") // earlier sessions saw the mail: none of it is \Recent here
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].SeqNum != 1 || len(msgs[0].Flags) != 3 {
		t.Fatalf("STORE: %+v", msgs)
	}
	msgs, err = c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{imap.FlagSeen}}, &imap.StoreOptions{UnchangedSince: 1 << 40}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].UID != 3 || msgs[0].ModSeq == 0 || len(msgs[0].Flags) != 1 || msgs[0].Flags[0] != "$Work" {
		t.Fatalf("UID STORE: %+v", msgs)
	}

	cd, err := c.Copy(imap.UIDSetNum(1, 3), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if cd.UIDValidity != av || cd.SourceUIDs.String() != "1,3" || cd.DestUIDs.String() != "1:2" {
		t.Fatalf("COPYUID %+v %s %s", cd, cd.SourceUIDs, cd.DestUIDs)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Nope").Wait(); statusCode(err) != imap.ResponseCodeTryCreate {
		t.Fatalf("copy to a missing mailbox: %v", err)
	}

	md, err := c.Move(imap.SeqSetNum(2), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if md.UIDValidity != av || md.SourceUIDs.String() != "2" || md.DestUIDs.String() != "3" {
		t.Fatalf("MOVE COPYUID %+v", md)
	}
	if len(expunged) != 1 || expunged[0] != 2 {
		t.Fatalf("expunged %v", expunged)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Fatalf("client counts %d messages", n)
	}

	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	seqs, err := c.Expunge().Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 1 || seqs[0] != 1 {
		t.Fatalf("EXPUNGE %v", seqs)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	seqs, err = c.UIDExpunge(imap.UIDSetNum(3)).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 1 || seqs[0] != 1 {
		t.Fatalf("UID EXPUNGE %v", seqs)
	}
	if got := e.uidsOf("INBOX"); len(got) != 0 {
		t.Fatalf("INBOX %v", got)
	}
	if got := e.uidsOf("Archive"); len(got) != 3 {
		t.Fatalf("Archive %v", got)
	}

	// MULTIAPPEND is not in go-imap; QUOTA is.
	if err := e.dir.SetQuota(bg, "alice@example.test", 1<<20, 0); err != nil {
		t.Fatal(err)
	}
	q, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Root != "" || q[0].Resources[imap.QuotaResourceStorage].Limit != 1024 {
		t.Fatalf("quota %+v", q)
	}
	if err := e.dir.SetQuota(bg, "alice@example.test", 100, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := goAppend(t, c, "INBOX", crlfMsg, nil); statusCode(err) != imap.ResponseCodeOverQuota {
		t.Fatalf("append over quota: %v", err)
	}
}
