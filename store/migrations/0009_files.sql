-- Schema version 9: the files mirror.
--
-- file_entries: one row per file or folder of an account's synced folder
-- that either side has. It holds two versions of the path:
--   the local view (size, mtime, hash): what the local folder had when
--     holdover last looked;
--   the base (etag, remote_size, remote_mtime, synced_hash): the server
--     version that the local view was last in step with; etag '' when
--     the path is not on the server (yet).
-- local_state says which local change waits in the outbox ('' none,
-- 'created', 'modified', 'deleted'). A pass of the engine never
-- overwrites or removes a path with a queued change: the replay's
-- conditional request finds out whether the server changed it meanwhile,
-- and a both-sides change keeps both versions (package sync/filesync).
-- mtime is in nanoseconds (the local filesystem's precision), remote_mtime
-- in milliseconds (HTTP dates have seconds).

CREATE TABLE file_entries (
    id           INTEGER PRIMARY KEY,
    account      TEXT    NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    path         TEXT    NOT NULL CHECK (path != '' AND path NOT LIKE '/%'),
    is_dir       INTEGER NOT NULL DEFAULT 0,
    size         INTEGER NOT NULL DEFAULT 0,
    mtime        INTEGER NOT NULL DEFAULT 0,
    hash         TEXT    NOT NULL DEFAULT '',
    etag         TEXT    NOT NULL DEFAULT '',
    remote_size  INTEGER NOT NULL DEFAULT 0,
    remote_mtime INTEGER NOT NULL DEFAULT 0,
    synced_hash  TEXT    NOT NULL DEFAULT '',
    local_state  TEXT    NOT NULL DEFAULT '' CHECK (local_state IN ('', 'created', 'modified', 'deleted')),
    updated_at   INTEGER NOT NULL,
    UNIQUE (account, path)
) STRICT;

-- Per account: how its files sync stands, for `files status`.
-- guard is why the engine stopped ('' when it runs): a pass that would
-- delete too much waits for `holdover files sync --once --force`.
-- problems is a JSON list of per-path reports of the last pass (names the
-- local disk cannot hold, unreadable files, a full disk); pending_down
-- the server changes the last pass could not apply yet.
CREATE TABLE file_roots (
    account        TEXT    PRIMARY KEY NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    guard          TEXT    NOT NULL DEFAULT '',
    guard_since    INTEGER,
    last_sync_at   INTEGER,
    last_error     TEXT    NOT NULL DEFAULT '',
    problems       TEXT    NOT NULL DEFAULT '[]',
    pending_down   INTEGER NOT NULL DEFAULT 0,
    updated_at     INTEGER NOT NULL
) STRICT;

-- A file move touches two paths: its source is the action's second key.
-- An action waits for every earlier unfinished action on either key.
ALTER TABLE outbox ADD COLUMN target_key2 TEXT;
CREATE INDEX outbox_target2 ON outbox (account, target_key2, id) WHERE target_key2 IS NOT NULL;
