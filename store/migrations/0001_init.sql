-- Schema version 1: the foundation tables. Mail, calendar and files tables
-- arrive with their own migrations.
--
-- Timestamps are INTEGER Unix milliseconds (UTC). Accounts are referenced by
-- their configured name so the file stays readable with the sqlite3 shell;
-- renaming an account cascades, purging it deletes everything it owns.

CREATE TABLE accounts (
    name       TEXT    PRIMARY KEY NOT NULL CHECK (name GLOB '[a-z0-9-]*' AND length(name) > 0),
    created_at INTEGER NOT NULL
) STRICT;

-- Every outbound action. The local change and its row are written in one
-- transaction (see package sync/outbox for the state machine).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    account         TEXT    NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN (
                        'mail.send', 'mail.flags', 'mail.move', 'mail.delete', 'mail.append',
                        'cal.put', 'cal.delete',
                        'file.put', 'file.delete', 'file.move', 'file.mkdir')),
    target_key      TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    base_version    TEXT,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN (
                        'pending', 'inflight', 'done', 'failed', 'conflict', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- The worker's question: what is runnable for this account now?
CREATE INDEX outbox_runnable ON outbox (account, state, next_attempt_at);
-- Ordering per target: the oldest unfinished action on a key goes first.
CREATE INDEX outbox_target ON outbox (account, target_key, id);

CREATE TABLE provider_health (
    account              TEXT    NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    service              TEXT    NOT NULL CHECK (service IN ('imap', 'smtp', 'caldav', 'webdav')),
    state                TEXT    NOT NULL CHECK (state IN ('up', 'degraded', 'down', 'unknown')),
    since                INTEGER NOT NULL,
    last_error           TEXT,
    last_error_at        INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (account, service)
) STRICT;

CREATE TABLE outages (
    id         INTEGER PRIMARY KEY,
    account    TEXT    NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    service    TEXT    NOT NULL CHECK (service IN ('imap', 'smtp', 'caldav', 'webdav')),
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    cause      TEXT,
    queued     INTEGER NOT NULL DEFAULT 0,
    replayed   INTEGER NOT NULL DEFAULT 0,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
) STRICT;

-- At most one open outage per account and service.
CREATE UNIQUE INDEX outages_open ON outages (account, service) WHERE ended_at IS NULL;
CREATE INDEX outages_started ON outages (started_at);

-- Both versions of a conflicting change, kept until resolved.
CREATE TABLE conflicts (
    id             INTEGER PRIMARY KEY,
    account        TEXT    NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    kind           TEXT    NOT NULL CHECK (kind IN ('mail', 'calendar', 'file')),
    target_key     TEXT    NOT NULL,
    outbox_id      INTEGER REFERENCES outbox(id) ON DELETE SET NULL,
    local_version  BLOB,
    remote_version BLOB,
    local_meta     TEXT,
    remote_meta    TEXT,
    policy         TEXT    NOT NULL CHECK (policy IN ('ask', 'server-wins', 'local-wins', 'newest', 'keep-both')),
    resolution     TEXT    CHECK (resolution IS NULL OR resolution IN ('local', 'remote', 'both', 'dismissed')),
    created_at     INTEGER NOT NULL,
    resolved_at    INTEGER
) STRICT;

CREATE INDEX conflicts_open ON conflicts (account, resolved_at);
