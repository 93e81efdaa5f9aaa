-- Schema version 4: where a message is on the server, apart from where the
-- user sees it. A local move or delete changes folder_id/uid (the local
-- view) at once; remote_folder_id/remote_uid keep the server's location
-- until the outbox has replayed the change. The mail engine compares the
-- server with the remote columns only, so a change still queued is never
-- undone, doubled or deleted by a sync pass.

ALTER TABLE mail_messages ADD COLUMN remote_folder_id INTEGER REFERENCES mail_folders(id) ON DELETE CASCADE;
ALTER TABLE mail_messages ADD COLUMN remote_uid INTEGER;
ALTER TABLE mail_messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
UPDATE mail_messages SET remote_folder_id = folder_id, remote_uid = uid;
CREATE UNIQUE INDEX mail_messages_remote ON mail_messages (remote_folder_id, remote_uid);
