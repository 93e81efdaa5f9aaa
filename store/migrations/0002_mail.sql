-- Schema version 2: the mail mirror.
--
-- A message row exists only with its body: the body is stored first (in
-- the same transaction) and never re-downloaded. Bodies are shared between
-- message rows with the same Message-ID and size (a move or a copy), and
-- stored as 256 KiB chunks so a 50 MB attachment never sits in memory.
-- A body no message references is removed at the end of an account sync
-- pass, not at once, so a message moved between two folders synced in
-- either order keeps its body.

CREATE TABLE mail_folders (
    id            INTEGER PRIMARY KEY,
    account       TEXT    NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    delimiter     TEXT    NOT NULL DEFAULT '',
    special_use   TEXT    NOT NULL DEFAULT '',
    uidvalidity   INTEGER NOT NULL DEFAULT 0,
    -- The server's UIDNEXT, HIGHESTMODSEQ and message count at the last
    -- complete sync: when STATUS says the same, nothing changed.
    uidnext       INTEGER NOT NULL DEFAULT 0,
    highestmodseq INTEGER NOT NULL DEFAULT 0,
    messages      INTEGER NOT NULL DEFAULT 0,
    -- Every server message with a UID up to synced_uid is stored: the
    -- resume point of an interrupted initial sync.
    synced_uid    INTEGER NOT NULL DEFAULT 0,
    synced_at     INTEGER,
    UNIQUE (account, name)
) STRICT;

CREATE TABLE mail_bodies (
    id         INTEGER PRIMARY KEY,
    account    TEXT    NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    message_id TEXT    NOT NULL DEFAULT '',
    size       INTEGER NOT NULL CHECK (size >= 0),
    sha256     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX mail_bodies_identity ON mail_bodies (account, message_id, size) WHERE message_id != '';

CREATE TABLE mail_body_chunks (
    body_id INTEGER NOT NULL REFERENCES mail_bodies(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (body_id, seq)
) STRICT;

CREATE TABLE mail_messages (
    id            INTEGER PRIMARY KEY,
    folder_id     INTEGER NOT NULL REFERENCES mail_folders(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    body_id       INTEGER NOT NULL REFERENCES mail_bodies(id),
    message_id    TEXT    NOT NULL DEFAULT '',
    size          INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    date          INTEGER,
    flags         TEXT    NOT NULL DEFAULT '',
    seen          INTEGER NOT NULL DEFAULT 0,
    modseq        INTEGER NOT NULL DEFAULT 0,
    subject       TEXT    NOT NULL DEFAULT '',
    from_addr     TEXT    NOT NULL DEFAULT '',
    to_addr       TEXT    NOT NULL DEFAULT '',
    cc_addr       TEXT    NOT NULL DEFAULT '',
    UNIQUE (folder_id, uid)
) STRICT;

CREATE INDEX mail_messages_date ON mail_messages (folder_id, internal_date DESC);
CREATE INDEX mail_messages_body ON mail_messages (body_id);
CREATE INDEX mail_messages_msgid ON mail_messages (message_id) WHERE message_id != '';
CREATE INDEX mail_messages_unseen ON mail_messages (folder_id) WHERE seen = 0;

-- Full-text index, one row per body (rowid = mail_bodies.id): a moved
-- message is not indexed again. Contentless: the text is not stored a
-- second time (the bodies are the content); rows can still be deleted.
CREATE VIRTUAL TABLE mail_fts USING fts5 (
    subject, from_addr, to_addr, body,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
