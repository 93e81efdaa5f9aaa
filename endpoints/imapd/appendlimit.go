package imapd

// maxAppendBytes bounds an APPEND literal, the SMTP endpoint's bound on a
// message: go-imap refuses a larger announcement with NO [TOOBIG] before
// it sends the continuation, so the client never sends the data and
// nothing of it is read.
const maxAppendBytes = 50 << 20

// AppendLimit implements imapserver.SessionAppendLimit.
func (ss *session) AppendLimit() uint32 { return maxAppendBytes }
