-- Schema version 8: messages whose flags on the server are unknown, and
-- conflicts by action. A replayed move records where the server put the
-- message (COPYUID, or a
-- search by Message-ID) with modseq 0: the server's copy carries the
-- flags the source had when it was copied, which may differ from the
-- local view, and with CONDSTORE no later CHANGEDSINCE would report them.
-- The next pass reads the flags of exactly these messages.

CREATE INDEX mail_messages_flags_unknown ON mail_messages (remote_folder_id, remote_uid) WHERE modseq = 0;

-- The outbox asks whether an action's conflict still waits for a person.
CREATE INDEX conflicts_outbox ON conflicts (outbox_id) WHERE outbox_id IS NOT NULL;
