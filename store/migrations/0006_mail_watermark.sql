-- Schema version 6: synced_uid becomes the engine's own listing watermark
-- (every server UID up to it was listed by a sync pass and is stored, or
-- its removal recorded). Before, it was the highest stored UID, which a
-- replayed move (COPYUID) could push past UIDs other clients' messages
-- received meanwhile, so the mirror could miss them for good (issue 9).
-- Resetting it makes the next pass compare every folder's full UID list
-- once (no body is downloaded again: bodies are found by identity), which
-- also heals a mirror the old rule left diverged.
--
-- verified_at is when a full verification (UID set and flags) last found
-- the folder equal to the server, or repaired it.

UPDATE mail_folders SET synced_uid = 0;
ALTER TABLE mail_folders ADD COLUMN verified_at INTEGER;
