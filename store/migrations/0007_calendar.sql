-- Schema version 7: the calendar mirror.
--
-- calendars: one row per CalDAV calendar collection of an account, with
-- what the server said the last time it was synced (ctag, sync-token).
--
-- cal_objects: one row per calendar object resource (one iCalendar file:
-- an event or task with its overrides). data is the local view: the
-- server's bytes exactly as received, or the user's edit while it waits in
-- the outbox. etag is the server version data is based on ('' for a
-- local create not yet on the server). local_state says which local change
-- is queued ('' none, 'created', 'modified', 'deleted'): a sync pass never
-- overwrites or removes an object with a queued change; the replay's
-- conditional request finds out whether the server changed it meanwhile.
--
-- kind to warnings are derived from data when it is stored (package
-- internal/ical), for listing and range queries: start_at/end_at are the
-- first occurrence, last_end the end of the last one (NULL: the series
-- never ends). bad is set when the data could not be parsed: the object
-- is kept and listed with its warning, never dropped.

CREATE TABLE calendars (
    id         INTEGER PRIMARY KEY,
    account    TEXT    NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    href       TEXT    NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    color      TEXT    NOT NULL DEFAULT '',
    components TEXT    NOT NULL DEFAULT '',
    ctag       TEXT    NOT NULL DEFAULT '',
    sync_token TEXT    NOT NULL DEFAULT '',
    synced_at  INTEGER,
    UNIQUE (account, href)
) STRICT;

CREATE TABLE cal_objects (
    id            INTEGER PRIMARY KEY,
    calendar_id   INTEGER NOT NULL REFERENCES calendars(id) ON DELETE CASCADE,
    href          TEXT    NOT NULL,
    uid           TEXT    NOT NULL DEFAULT '',
    etag          TEXT    NOT NULL DEFAULT '',
    kind          TEXT    NOT NULL DEFAULT 'VEVENT',
    summary       TEXT    NOT NULL DEFAULT '',
    start_at      INTEGER,
    end_at        INTEGER,
    last_end      INTEGER,
    all_day       INTEGER NOT NULL DEFAULT 0,
    recurring     INTEGER NOT NULL DEFAULT 0,
    bad           INTEGER NOT NULL DEFAULT 0,
    warnings      TEXT    NOT NULL DEFAULT '',
    local_state   TEXT    NOT NULL DEFAULT '' CHECK (local_state IN ('', 'created', 'modified', 'deleted')),
    updated_at    INTEGER NOT NULL,
    -- Last, so reads of the columns above never walk its overflow pages.
    data          BLOB    NOT NULL,
    UNIQUE (calendar_id, href)
) STRICT;

CREATE INDEX cal_objects_start ON cal_objects (calendar_id, start_at);
CREATE INDEX cal_objects_uid ON cal_objects (uid) WHERE uid != '';
