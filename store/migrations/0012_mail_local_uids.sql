-- Schema version 12: the local IMAP endpoint's own UID space. Each folder
-- has a local UIDVALIDITY and UIDNEXT, each message a local UID in its
-- folder, all owned by holdover and never taken from the server: a
-- remote UIDVALIDITY reset or a re-identification (which rewrites uid and
-- remote_uid) leaves them alone, so a client's cache stays valid.
--
-- The triggers assign them in the statement that creates the row (or
-- shows it in another folder), whatever code path did it, so no insert
-- can forget: a new folder gets a UIDVALIDITY above every one used
-- before (and at least the current time, so a recreated database does
-- not reuse old values); a message gets its folder's UIDNEXT, which then
-- grows. A message moved locally to another folder is a new message
-- there (IMAP semantics: a new UID in the destination). Local UIDs only
-- grow and are never reused within a UIDVALIDITY.

ALTER TABLE mail_folders ADD COLUMN local_uidvalidity INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mail_folders ADD COLUMN local_uidnext INTEGER NOT NULL DEFAULT 1;
ALTER TABLE mail_messages ADD COLUMN local_uid INTEGER NOT NULL DEFAULT 0;

-- Backfill: folders numbered from the current time up, messages in order
-- of arrival (internal date, then row id).
UPDATE mail_folders SET local_uidvalidity = (unixepoch() % 4000000000) + id;

UPDATE mail_messages SET local_uid = numbered.n
FROM (
    SELECT id AS mid, row_number() OVER (PARTITION BY folder_id ORDER BY internal_date, id) AS n
    FROM mail_messages
) AS numbered
WHERE numbered.mid = mail_messages.id;

UPDATE mail_folders SET local_uidnext = 1 + coalesce((SELECT max(local_uid) FROM mail_messages WHERE folder_id = mail_folders.id), 0);

-- Not UNIQUE: a statement that moves a row to another folder carries its
-- old local UID there for a moment, until the trigger below renumbers it
-- in the same statement.
CREATE INDEX mail_messages_local_uid ON mail_messages (folder_id, local_uid);

CREATE TRIGGER mail_folders_local_uidvalidity AFTER INSERT ON mail_folders
BEGIN
    UPDATE mail_folders SET local_uidvalidity = max(
        unixepoch() % 4000000000,
        (SELECT coalesce(max(local_uidvalidity), 0) FROM mail_folders) + 1
    ), local_uidnext = 1
    WHERE id = NEW.id;
END;

CREATE TRIGGER mail_messages_local_uid_insert AFTER INSERT ON mail_messages
BEGIN
    UPDATE mail_messages SET local_uid = (SELECT local_uidnext FROM mail_folders WHERE id = NEW.folder_id)
    WHERE id = NEW.id;
    UPDATE mail_folders SET local_uidnext = local_uidnext + 1 WHERE id = NEW.folder_id;
END;

CREATE TRIGGER mail_messages_local_uid_move AFTER UPDATE OF folder_id ON mail_messages
WHEN NEW.folder_id != OLD.folder_id
BEGIN
    UPDATE mail_messages SET local_uid = (SELECT local_uidnext FROM mail_folders WHERE id = NEW.folder_id)
    WHERE id = NEW.id;
    UPDATE mail_folders SET local_uidnext = local_uidnext + 1 WHERE id = NEW.folder_id;
END;
