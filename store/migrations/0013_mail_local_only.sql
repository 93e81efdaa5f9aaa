-- Schema version 13: messages that exist only locally so far. A message
-- a mail app appends or copies through the local IMAP endpoint is shown
-- at once, with its body in the store and a local UID, before the server
-- has it: its row has no remote location (remote_folder_id and
-- remote_uid NULL) until the outbox's mail.append replays and binds it
-- to the server's copy (APPENDUID), or a sync pass finds that copy in the
-- row's folder by Message-ID and size. The mail engine compares the
-- server with the remote columns only, so it neither deletes nor
-- downloads again a row that has none. This index keeps that lookup off
-- the sync's hot path: it is empty unless appends are queued.

CREATE INDEX mail_messages_local_only ON mail_messages (folder_id, message_id) WHERE remote_folder_id IS NULL;
