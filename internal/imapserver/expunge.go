package imapserver

// expungeDeleted removes the messages flagged \Deleted from the selected
// mailbox; with announce it sends EXPUNGE/VANISHED for them.
func (s *session) expungeDeleted(announce bool) error {
	uids, err := s.srv.st.Expunge(s.ctx, s.acct.ID, s.sel.id, nil)
	if err != nil {
		return err
	}
	if announce {
		s.applyExpunges(uids)
	}
	return nil
}
