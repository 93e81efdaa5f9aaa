-- Schema version 15: a local change counter per folder, for the local
-- IMAP endpoint's live sessions. A selected session compares the folder's
-- counter with the one its view was built at: equal means nothing to
-- report (a NOOP costs one primary-key read, whatever the folder's size);
-- different means it reads only the rows whose own counter is newer, plus
-- the UID list when a message left the folder.
--
-- local_modseq grows at every change a client can see: a message shown in
-- the folder (insert, local move in, a hidden message shown again), its
-- flags, a message hidden by a queued delete, moved out or deleted. Each
-- message row carries the folder counter of its last such change, so
-- "what changed since N" is an index range. local_removed counts the
-- messages that left the folder's rows while shown (moved out, deleted):
-- those rows cannot be found by the folder's index any more, so a changed
-- local_removed is what asks for the UID list. The triggers count every
-- writer's changes, whatever code path or process made them; a change
-- that leaves flags, folder and deleted as they were counts nothing (a
-- sync pass re-storing the same flags wakes no client).
--
-- This is not a CONDSTORE MODSEQ (go-imap's server does not offer
-- CONDSTORE), but it is the counter one would be built on.

ALTER TABLE mail_folders ADD COLUMN local_modseq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mail_folders ADD COLUMN local_removed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mail_messages ADD COLUMN local_modseq INTEGER NOT NULL DEFAULT 0;

CREATE INDEX mail_messages_local_modseq ON mail_messages (folder_id, local_modseq);

-- An insert is the sync's hot path (BenchmarkMailCommit): 0012's trigger
-- is replaced by one that numbers the message and counts the change in
-- the same two statements.
DROP TRIGGER mail_messages_local_uid_insert;
CREATE TRIGGER mail_messages_local_uid_insert AFTER INSERT ON mail_messages
BEGIN
    UPDATE mail_folders SET local_uidnext = local_uidnext + 1, local_modseq = local_modseq + 1 WHERE id = NEW.folder_id;
    UPDATE mail_messages SET (local_uid, local_modseq) = (SELECT local_uidnext - 1, local_modseq FROM mail_folders WHERE id = NEW.folder_id)
    WHERE id = NEW.id;
END;

CREATE TRIGGER mail_messages_local_modseq_update AFTER UPDATE OF folder_id, flags, deleted ON mail_messages
WHEN NEW.folder_id IS NOT OLD.folder_id OR NEW.flags IS NOT OLD.flags OR NEW.deleted IS NOT OLD.deleted
BEGIN
    UPDATE mail_folders SET local_modseq = local_modseq + 1 WHERE id = NEW.folder_id;
    UPDATE mail_folders SET local_modseq = local_modseq + 1, local_removed = local_removed + (OLD.deleted = 0)
    WHERE id = OLD.folder_id AND OLD.folder_id IS NOT NEW.folder_id;
    UPDATE mail_messages SET local_modseq = (SELECT local_modseq FROM mail_folders WHERE id = NEW.folder_id)
    WHERE id = NEW.id;
END;

CREATE TRIGGER mail_messages_local_modseq_delete AFTER DELETE ON mail_messages
BEGIN
    UPDATE mail_folders SET local_modseq = local_modseq + 1, local_removed = local_removed + (OLD.deleted = 0)
    WHERE id = OLD.folder_id;
END;

-- A hidden message shown again in the same folder (a queued delete
-- undone by RevertMailLocal) is new to every client: it gets a new local
-- UID, as a message moved in does (0012), since a client that saw it
-- expunged must never see that UID again and new UIDs only grow.
CREATE TRIGGER mail_messages_local_uid_undelete AFTER UPDATE OF deleted ON mail_messages
WHEN OLD.deleted != 0 AND NEW.deleted = 0 AND NEW.folder_id = OLD.folder_id
BEGIN
    UPDATE mail_messages SET local_uid = (SELECT local_uidnext FROM mail_folders WHERE id = NEW.folder_id)
    WHERE id = NEW.id;
    UPDATE mail_folders SET local_uidnext = local_uidnext + 1 WHERE id = NEW.folder_id;
END;
